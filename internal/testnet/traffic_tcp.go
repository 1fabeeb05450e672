// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tcpServe ADDR CONNS: accept CONNS connections, read each to EOF, close it;
// result: bytes read.
func tcpServe(args []string) (string, error) {
	return acceptEach("tcp-serve", args, func(c net.Conn) (int64, error) { return io.Copy(io.Discard, c) })
}

// acceptEach listens on args[0] and hands each of args[1] connections, one
// after another, to handle, then closes it; result: the bytes handle counted.
func acceptEach(name string, args []string, handle func(net.Conn) (int64, error)) (string, error) {
	if len(args) != 2 {
		return "", fmt.Errorf("usage: %s ADDR CONNS", name)
	}
	conns, _ := strconv.Atoi(args[1])
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return "", err
	}
	defer l.Close()
	ready()
	var total int64
	for range conns {
		c, err := l.Accept()
		if err != nil {
			return "", err
		}
		n, err := handle(c)
		c.Close()
		if err != nil {
			return "", err
		}
		total += n
	}
	return strconv.FormatInt(total, 10), nil
}

// tcpSend ADDR BYTES: connect, send BYTES, half-close, wait for the server
// to close: the whole FIN exchange is over when it returns.
func tcpSend(args []string) (string, error) {
	return sendAll("tcp-send", args, func(_ *net.TCPConn, n int64) (string, error) {
		return strconv.FormatInt(n, 10), nil
	})
}

// sendAll connects to args[0], sends args[1] bytes, half-closes and waits
// for the server to close; result hands the connection, still open, and
// the bytes sent to the caller's report.
func sendAll(name string, args []string, result func(c *net.TCPConn, n int64) (string, error)) (string, error) {
	if len(args) != 2 {
		return "", fmt.Errorf("usage: %s ADDR BYTES", name)
	}
	n, _ := strconv.ParseInt(args[1], 10, 64)
	ready()
	c, err := sendAndDrain(args[0], n)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return result(c, n)
}

// sendAndDrain connects to addr, sends n bytes, half-closes and reads until
// the server closes: the FIN exchange is over when it returns. The caller
// closes the connection.
func sendAndDrain(addr string, n int64) (*net.TCPConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	if _, err := io.CopyN(tc, zeros{}, n); err == nil {
		err = tc.CloseWrite()
	}
	if err == nil {
		_, err = io.Copy(io.Discard, tc)
	}
	if err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// tcpConnect ADDR COUNT: COUNT blocking connects, left to the kernel's own
// timeouts; result: JSON outcome counts (ok, refused, timeout, unreachable, other).
func tcpConnect(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: tcp-connect ADDR COUNT")
	}
	count, _ := strconv.Atoi(args[1])
	ready()
	outcomes := map[string]int{}
	for range count {
		start := time.Now()
		c, err := net.Dial("tcp", args[0])
		switch {
		case err == nil:
			outcomes["ok"]++
			// The longest successful connect bounds the handshake times the kernel saw.
			outcomes["max_connect_us"] = max(outcomes["max_connect_us"], int(time.Since(start).Microseconds()))
			c.Close()
		case errors.Is(err, syscall.ECONNREFUSED):
			outcomes["refused"]++
		case errors.Is(err, syscall.ETIMEDOUT):
			outcomes["timeout"]++
		case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
			outcomes["unreachable"]++
		default:
			outcomes["other"]++
		}
	}
	b, _ := json.Marshal(outcomes)
	return string(b), nil
}

// tcpAbort ADDR COUNT: COUNT non-blocking connects, each closed 50ms later,
// before any answer can have come (the address is expected to be blackholed).
func tcpAbort(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: tcp-abort ADDR COUNT")
	}
	count, _ := strconv.Atoi(args[1])
	ap, err := net.ResolveTCPAddr("tcp", args[0])
	if err != nil {
		return "", err
	}
	ready()
	for range count {
		family := syscall.AF_INET
		var sa syscall.Sockaddr
		if ip4 := ap.IP.To4(); ip4 != nil {
			sa = &syscall.SockaddrInet4{Port: ap.Port, Addr: [4]byte(ip4)}
		} else {
			family = syscall.AF_INET6
			sa = &syscall.SockaddrInet6{Port: ap.Port, Addr: [16]byte(ap.IP.To16())}
		}
		fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
		if err != nil {
			return "", err
		}
		if err := syscall.Connect(fd, sa); err != syscall.EINPROGRESS {
			syscall.Close(fd)
			return "", fmt.Errorf("non-blocking connect: want EINPROGRESS, got %v", err)
		}
		time.Sleep(50 * time.Millisecond)
		syscall.Close(fd)
	}
	return strconv.Itoa(count), nil
}

// tcpEcho ADDR CONNS: accept CONNS connections one after another and send
// back what each sends, until it closes; result: bytes echoed.
func tcpEcho(args []string) (string, error) {
	return acceptEach("tcp-echo", args, func(c net.Conn) (int64, error) { return io.Copy(c, c) })
}

// TCPInfo is what the kernel reports for a socket (TCP_INFO) when a
// helper is done with it.
type TCPInfo struct {
	RTTMicros    uint32 `json:"rtt_us"`  // tcpi_rtt: the smoothed RTT
	TotalRetrans uint32 `json:"retrans"` // tcpi_total_retrans: segments retransmitted
	Bytes        int64  `json:"bytes"`
	// RTTReadings are tcpi_rtt after each round of tcp-pingpong.
	RTTReadings []uint32 `json:"rtt_readings_us,omitempty"`
}

func tcpInfo(c *net.TCPConn) (TCPInfo, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return TCPInfo{}, err
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return TCPInfo{}, err
	}
	if serr != nil {
		return TCPInfo{}, serr
	}
	return TCPInfo{RTTMicros: info.Rtt, TotalRetrans: info.Total_retrans}, nil
}

// tcpPingPong ADDR ROUNDS SIZE [PAUSE]: connect to an echo server and,
// ROUNDS times, send SIZE bytes and wait for them to come back, pausing
// PAUSE after the first round (printing "paused"); result: the socket's
// TCP_INFO as JSON, taken before closing.
func tcpPingPong(args []string) (string, error) {
	if len(args) != 3 && len(args) != 4 {
		return "", errors.New("usage: tcp-pingpong ADDR ROUNDS SIZE [PAUSE]")
	}
	rounds, _ := strconv.Atoi(args[1])
	size, _ := strconv.Atoi(args[2])
	var pause time.Duration
	if len(args) == 4 {
		var err error
		if pause, err = time.ParseDuration(args[3]); err != nil {
			return "", err
		}
	}
	ready()
	c, err := net.Dial("tcp", args[0])
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, size)
	var readings []uint32
	for range rounds {
		if _, err := c.Write(buf); err != nil {
			return "", err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return "", err
		}
		info, err := tcpInfo(c.(*net.TCPConn))
		if err != nil {
			return "", err
		}
		readings = append(readings, info.RTTMicros)
		if pause > 0 && len(readings) == 1 {
			fmt.Println("paused")
			time.Sleep(pause)
		}
	}
	info, err := tcpInfo(c.(*net.TCPConn))
	if err != nil {
		return "", err
	}
	info.Bytes = int64(rounds) * int64(size)
	info.RTTReadings = readings
	b, _ := json.Marshal(info)
	return string(b), nil
}

// tcpStream ADDR BYTES: tcp-send, with the socket's TCP_INFO as JSON for
// result, taken after the server closed.
func tcpStream(args []string) (string, error) {
	return sendAll("tcp-stream", args, func(c *net.TCPConn, n int64) (string, error) {
		info, err := tcpInfo(c)
		if err != nil {
			return "", err
		}
		info.Bytes = n
		b, _ := json.Marshal(info)
		return string(b), nil
	})
}
