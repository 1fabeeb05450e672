// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package conntrack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Netlink constants of ctnetlink (linux/netfilter/nfnetlink_conntrack.h)
// that x/sys/unix does not define.
const (
	ipctnlMsgCtGet      = 1 // IPCTNL_MSG_CT_GET
	ipctnlMsgCtGetStats = 5 // IPCTNL_MSG_CT_GET_STATS
	ctaTupleOrig        = 1 // CTA_TUPLE_ORIG
	ctaTupleReply       = 2 // CTA_TUPLE_REPLY
	ctaTupleIP          = 1 // CTA_TUPLE_IP
	ctaTupleProto       = 2 // CTA_TUPLE_PROTO
	ctaIPv4Src          = 1 // CTA_IP_V4_SRC
	ctaIPv6Src          = 3 // CTA_IP_V6_SRC
	ctaProtoNum         = 1 // CTA_PROTO_NUM
	ctaProtoSrcPort     = 2 // CTA_PROTO_SRC_PORT
	ctaProtoDstPort     = 3 // CTA_PROTO_DST_PORT
	nlaNested           = 0x8000
	nlaTypeMask         = 0x3fff
)

// socket is a netlink socket of the netfilter family, used one request at
// a time, with blocking system calls and buffers it keeps: a lookup is a
// sendto and a recvfrom, nothing else, 6.4 µs (BenchmarkTranslate). The
// same GET through ti-mo/conntrack and mdlayher/netlink took 47 µs here,
// most of it in the runtime poller and per-request allocations.
type socket struct {
	fd  int
	seq uint32
	req []byte
	buf []byte
}

// dialIn opens the socket in the network namespace at path ("" for the
// caller's): a socket stays in the namespace it was created in.
func dialIn(path string) (*socket, error) {
	if path == "" {
		return dialHere()
	}
	ns, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	defer ns.Close()
	type result struct {
		s   *socket
		err error
	}
	done := make(chan result, 1)
	// setns changes the calling thread only: a goroutine of its own,
	// locked to its thread, enters the namespace, creates the socket and
	// comes back. Should coming back fail, the goroutine ends still
	// locked, and the runtime ends the thread with it.
	go func() {
		runtime.LockOSThread()
		own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("open own network namespace: %w", err)}
			return
		}
		defer own.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("enter network namespace %s: %w (needs CAP_SYS_ADMIN)", path, err)}
			return
		}
		s, err := dialHere()
		if rerr := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); rerr != nil {
			done <- result{s, err}
			return
		}
		runtime.UnlockOSThread()
		done <- result{s, err}
	}()
	r := <-done
	return r.s, r.err
}

func dialHere() (*socket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("open netfilter netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netfilter netlink socket: %w", err)
	}
	// A reply that does not arrive must not hang a scrape.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &socket{fd: fd, req: make([]byte, 0, 128), buf: make([]byte, 8192)}, nil
}

func (s *socket) close() error { return unix.Close(s.fd) }

// header starts a ctnetlink request: nlmsghdr and nfgenmsg.
func (s *socket) header(msg uint16, flags uint16, family uint8) {
	s.seq++
	s.req = s.req[:0]
	s.req = binary.NativeEndian.AppendUint32(s.req, 0) // length, set by send
	s.req = binary.NativeEndian.AppendUint16(s.req, unix.NFNL_SUBSYS_CTNETLINK<<8|msg)
	s.req = binary.NativeEndian.AppendUint16(s.req, unix.NLM_F_REQUEST|flags)
	s.req = binary.NativeEndian.AppendUint32(s.req, s.seq)
	s.req = binary.NativeEndian.AppendUint32(s.req, 0) // port id: the kernel's
	s.req = append(s.req, family, unix.NFNETLINK_V0, 0, 0)
}

// attr appends an attribute; nested ones are closed by end.
func (s *socket) attr(typ uint16, data []byte) {
	s.req = binary.NativeEndian.AppendUint16(s.req, uint16(4+len(data)))
	s.req = binary.NativeEndian.AppendUint16(s.req, typ)
	s.req = append(s.req, data...)
	for len(s.req)%4 != 0 {
		s.req = append(s.req, 0)
	}
}

func (s *socket) begin(typ uint16) int {
	at := len(s.req)
	s.attr(typ|nlaNested, nil)
	return at
}

func (s *socket) end(at int) {
	binary.NativeEndian.PutUint16(s.req[at:], uint16(len(s.req)-at))
}

// exchange sends the request and returns the payload (after nfgenmsg) of
// the reply to it, or the kernel's error.
func (s *socket) exchange() ([]byte, error) {
	binary.NativeEndian.PutUint32(s.req, uint32(len(s.req)))
	if err := unix.Sendto(s.fd, s.req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	for {
		n, _, err := unix.Recvfrom(s.fd, s.buf, 0)
		if err != nil {
			return nil, err
		}
		b := s.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b))
			typ := binary.NativeEndian.Uint16(b[4:])
			seq := binary.NativeEndian.Uint32(b[8:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return nil, errors.New("malformed netlink message")
			}
			msg := b[unix.NLMSG_HDRLEN:l]
			b = b[min(nlmsgAlign(l), len(b)):]
			if seq != s.seq {
				continue // a late answer to an earlier request
			}
			if typ == unix.NLMSG_ERROR {
				if len(msg) < 4 {
					return nil, errors.New("malformed netlink error")
				}
				if errno := -int32(binary.NativeEndian.Uint32(msg)); errno != 0 {
					return nil, unix.Errno(errno)
				}
				return nil, nil
			}
			if len(msg) < 4 {
				return nil, errors.New("malformed ctnetlink message")
			}
			return msg[4:], nil
		}
	}
}

func nlmsgAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// stats asks for the table's statistics: it proves the kernel answers
// and that the caller may ask (CAP_NET_ADMIN).
func (s *socket) stats() error {
	s.header(ipctnlMsgCtGetStats, 0, unix.AF_UNSPEC)
	_, err := s.exchange()
	return err
}

// get returns the reply direction's source of the entry whose original
// direction is k.
func (s *socket) get(k tuple) (netip.AddrPort, error) {
	family, srcType := addrTypes(k.client.Addr())
	s.header(ipctnlMsgCtGet, 0, family)
	s.tuple(ctaTupleOrig, k.protocol, k.client, k.service)
	payload, err := s.exchange()
	if err != nil {
		return netip.AddrPort{}, err
	}
	reply := attribute(payload, ctaTupleReply)
	addr, ok := netip.AddrFromSlice(attribute(attribute(reply, ctaTupleIP), srcType))
	port := attribute(attribute(reply, ctaTupleProto), ctaProtoSrcPort)
	if !ok || len(port) != 2 {
		return netip.AddrPort{}, errors.New("ctnetlink reply without a reply tuple")
	}
	return netip.AddrPortFrom(addr, binary.BigEndian.Uint16(port)), nil
}

// addrTypes returns the family of an address and the attribute type of a
// source address of that family (the destination's is one more).
func addrTypes(a netip.Addr) (uint8, uint16) {
	if a.Unmap().Is4() {
		return unix.AF_INET, ctaIPv4Src
	}
	return unix.AF_INET6, ctaIPv6Src
}

// tuple appends a tuple attribute (CTA_TUPLE_ORIG or CTA_TUPLE_REPLY).
func (s *socket) tuple(typ uint16, protocol uint8, src, dst netip.AddrPort) {
	_, srcType := addrTypes(src.Addr())
	t := s.begin(typ)
	ip := s.begin(ctaTupleIP)
	s.attr(srcType, src.Addr().Unmap().AsSlice())
	s.attr(srcType+1, dst.Addr().Unmap().AsSlice())
	s.end(ip)
	proto := s.begin(ctaTupleProto)
	s.attr(ctaProtoNum, []byte{protocol})
	s.attr(ctaProtoSrcPort, binary.BigEndian.AppendUint16(nil, src.Port()))
	s.attr(ctaProtoDstPort, binary.BigEndian.AppendUint16(nil, dst.Port()))
	s.end(proto)
	s.end(t)
}

// attribute returns the payload of the first attribute of type typ in b.
func attribute(b []byte, typ uint16) []byte {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		t := binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask
		if l < 4 || l > len(b) {
			return nil
		}
		if t == typ {
			return b[4:l]
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return nil
}
