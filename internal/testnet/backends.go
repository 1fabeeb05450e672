// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Helpers for service backends, which cannot know in advance how many
// connections the node's NAT will send them: they serve until stopped.
func init() {
	helpers["tcp-accept"] = tcpAccept
	helpers["tcp-sends"] = tcpSends
	helpers["udp-count"] = udpCount
}

// Served is what a tcp-accept or udp-count backend reports when stopped.
type Served struct {
	Conns     int   `json:"conns"`     // TCP connections accepted
	Bytes     int64 `json:"bytes"`     // payload bytes read
	Datagrams int   `json:"datagrams"` // UDP datagrams received
}

// StopServed stops a tcp-accept or udp-count helper and decodes its result.
func (p *Proc) StopServed() Served {
	p.t.Helper()
	res := p.Stop()
	var s Served
	if err := json.Unmarshal([]byte(res), &s); err != nil {
		p.t.Fatalf("helper %s result %q: %v", p.name, res, err)
	}
	return s
}

// stopped is closed on SIGTERM or SIGINT.
func stopped() <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() { <-sig; close(done) }()
	return done
}

// tcpAccept ADDR: accept connections until SIGTERM, reading each to EOF
// and closing it; result: Served (connections whose handling finished).
func tcpAccept(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("usage: tcp-accept ADDR")
	}
	stop := stopped()
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return "", err
	}
	ready()
	var (
		mu sync.Mutex
		s  Served
		wg sync.WaitGroup
	)
	go func() { <-stop; l.Close() }()
	for {
		c, err := l.Accept()
		if err != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			mu.Lock()
			s.Conns++
			s.Bytes += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(s)
	return string(b), nil
}

// tcpSends ADDR CONNS BYTES: CONNS connections one after another, each
// sending BYTES, half-closing and waiting for the server to close (the
// whole FIN exchange is over when the next one starts); result: CONNS.
func tcpSends(args []string) (string, error) {
	if len(args) != 3 {
		return "", errors.New("usage: tcp-sends ADDR CONNS BYTES")
	}
	conns, _ := strconv.Atoi(args[1])
	n, _ := strconv.ParseInt(args[2], 10, 64)
	ready()
	for i := range conns {
		if err := sendOne(args[0], n); err != nil {
			return "", fmt.Errorf("connection %d: %w", i, err)
		}
	}
	return strconv.Itoa(conns), nil
}

func sendOne(addr string, n int64) error {
	c, err := sendAndDrain(addr, n)
	if err != nil {
		return err
	}
	return c.Close()
}

// udpCount ADDR: count datagrams until SIGTERM, then those still queued;
// result: Served.
func udpCount(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("usage: udp-count ADDR")
	}
	stop := stopped()
	c, err := net.ListenPacket("udp", args[0])
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := forceReceiveBuffer(c.(*net.UDPConn), 8<<20); err != nil {
		return "", err
	}
	ready()
	var s Served
	buf := make([]byte, 65536)
	for {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := c.ReadFrom(buf)
		var ne net.Error
		switch {
		case err == nil:
			s.Datagrams++
			s.Bytes += int64(n)
		case errors.As(err, &ne) && ne.Timeout():
			// Nothing queued: done if the test asked us to stop.
			select {
			case <-stop:
				b, _ := json.Marshal(s)
				return string(b), nil
			default:
			}
		default:
			return "", err
		}
	}
}
