// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// udpRecv ADDR[,ADDR...] COUNT TIMEOUT: receive COUNT datagrams in total on
// the addresses; result: the number received.
func udpRecv(args []string) (string, error) {
	if len(args) != 3 {
		return "", errors.New("usage: udp-recv ADDRS COUNT TIMEOUT")
	}
	want, _ := strconv.Atoi(args[1])
	timeout, err := time.ParseDuration(args[2])
	if err != nil {
		return "", err
	}
	got := make(chan int, 1024)
	deadline := time.Now().Add(timeout)
	for _, a := range strings.Split(args[0], ",") {
		c, err := net.ListenPacket("udp", a)
		if err != nil {
			return "", err
		}
		defer c.Close()
		// A receive buffer no scheduling delay can fill: what the test
		// sent is what the receiver gets.
		if err := forceReceiveBuffer(c.(*net.UDPConn), 8<<20); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(deadline)
		go func() {
			buf := make([]byte, 65536)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
				got <- 1
			}
		}()
	}
	ready()
	n := 0
	for n < want {
		select {
		case <-got:
			n++
		case <-time.After(time.Until(deadline)):
			return strconv.Itoa(n), nil
		}
	}
	return strconv.Itoa(n), nil
}

// udpSend ADDR[,ADDR...] COUNT SIZE: from one connected socket per address,
// send COUNT datagrams of SIZE payload bytes to each.
func udpSend(args []string) (string, error) {
	if len(args) != 3 {
		return "", errors.New("usage: udp-send ADDRS COUNT SIZE")
	}
	count, _ := strconv.Atoi(args[1])
	size, _ := strconv.Atoi(args[2])
	ready()
	payload := make([]byte, size)
	sent := 0
	for _, a := range strings.Split(args[0], ",") {
		c, err := net.Dial("udp", a)
		if err != nil {
			return "", err
		}
		for i := range count {
			if _, err := c.Write(payload); err != nil {
				c.Close()
				return "", err
			}
			sent++
			// Pace bursts so the receiving backlog never overflows:
			// the test's truth is what the receiver got.
			if i%32 == 31 {
				time.Sleep(time.Millisecond)
			}
		}
		c.Close()
	}
	return strconv.Itoa(sent), nil
}

// udpSpray FIRST COUNT PORT: one empty datagram to each of COUNT addresses
// counting up from FIRST, from one unconnected socket: COUNT distinct flows.
func udpSpray(args []string) (string, error) {
	if len(args) != 3 {
		return "", errors.New("usage: udp-spray FIRST COUNT PORT")
	}
	first, err := netip.ParseAddr(args[0])
	if err != nil {
		return "", err
	}
	count, _ := strconv.Atoi(args[1])
	port, _ := strconv.Atoi(args[2])
	c, err := net.ListenUDP("udp", nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	ready()
	addr := first
	for range count {
		if _, err := c.WriteToUDPAddrPort(nil, netip.AddrPortFrom(addr, uint16(port))); err != nil {
			return "", fmt.Errorf("send to %s: %w", addr, err)
		}
		addr = addr.Next()
	}
	return strconv.Itoa(count), nil
}

// forceReceiveBuffer sets SO_RCVBUFFORCE (root may exceed net.core.rmem_max).
func forceReceiveBuffer(c *net.UDPConn, size int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size)
	}); err != nil {
		return err
	}
	return serr
}
