// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Helpers whose sockets test how the exporter tells client from server:
// ports the application binds, connected and unconnected UDP sockets, and
// connections made before the exporter starts.
func init() {
	helpers["udp-echo"] = udpEcho
	helpers["udp-ask"] = udpAsk
	helpers["tcp-hold"] = tcpHold
	helpers["udp-stall"] = udpStall
}

// udpEcho ADDR COUNT TIMEOUT: on one unconnected socket bound to ADDR, send
// each of COUNT datagrams back to its sender; result: the number echoed.
func udpEcho(args []string) (string, error) {
	if len(args) != 3 {
		return "", errors.New("usage: udp-echo ADDR COUNT TIMEOUT")
	}
	count, _ := strconv.Atoi(args[1])
	timeout, err := time.ParseDuration(args[2])
	if err != nil {
		return "", err
	}
	c, err := net.ListenPacket("udp", args[0])
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	ready()
	buf := make([]byte, 65536)
	n := 0
	for ; n < count; n++ {
		size, from, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		if _, err := c.WriteTo(buf[:size], from); err != nil {
			return "", err
		}
	}
	return strconv.Itoa(n), nil
}

// udpAsk DST LOCAL SOCKETS COUNT SIZE MODE: from SOCKETS sockets in turn,
// each bound to LOCAL ("-": the kernel chooses the port) and connected to
// DST (MODE "connected") or not ("unconnected", sendto), send COUNT
// datagrams of SIZE bytes, each after the echo of the one before; result:
// the echoes received.
func udpAsk(args []string) (string, error) {
	if len(args) != 6 {
		return "", errors.New("usage: udp-ask DST LOCAL SOCKETS COUNT SIZE MODE")
	}
	dst, err := net.ResolveUDPAddr("udp", args[0])
	if err != nil {
		return "", err
	}
	var local *net.UDPAddr
	if args[1] != "-" {
		if local, err = net.ResolveUDPAddr("udp", args[1]); err != nil {
			return "", err
		}
	}
	sockets, _ := strconv.Atoi(args[2])
	count, _ := strconv.Atoi(args[3])
	size, _ := strconv.Atoi(args[4])
	ready()
	payload := make([]byte, size)
	buf := make([]byte, 65536)
	echoes := 0
	for range sockets {
		var c *net.UDPConn
		switch args[5] {
		case "connected":
			c, err = net.DialUDP("udp", local, dst)
		case "unconnected":
			c, err = net.ListenUDP("udp", local)
		default:
			return "", fmt.Errorf("mode %q: want connected or unconnected", args[5])
		}
		if err != nil {
			return "", err
		}
		for range count {
			if args[5] == "connected" {
				_, err = c.Write(payload)
			} else {
				_, err = c.WriteTo(payload, dst)
			}
			if err == nil {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _, err = c.ReadFrom(buf)
			}
			if err != nil {
				c.Close()
				return "", err
			}
			echoes++
		}
		c.Close()
	}
	return strconv.Itoa(echoes), nil
}

// tcpHold DST LOCAL BYTES: connect to DST from LOCAL ("-": the kernel
// chooses the port), print "connected", and on SIGUSR1 (Proc.Continue)
// send BYTES, half-close and read until the server closes; result: BYTES.
// The connection exists before what the test starts in between.
func tcpHold(args []string) (string, error) {
	if len(args) != 3 {
		return "", errors.New("usage: tcp-hold DST LOCAL BYTES")
	}
	n, _ := strconv.ParseInt(args[2], 10, 64)
	d := net.Dialer{}
	if args[1] != "-" {
		local, err := net.ResolveTCPAddr("tcp", args[1])
		if err != nil {
			return "", err
		}
		d.LocalAddr = local
	}
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, syscall.SIGUSR1)
	ready()
	c, err := d.Dial("tcp", args[0])
	if err != nil {
		return "", err
	}
	defer c.Close()
	fmt.Println("connected")
	<-cont
	tc := c.(*net.TCPConn)
	if _, err := io.CopyN(tc, zeros{}, n); err != nil {
		return "", err
	}
	if err := tc.CloseWrite(); err != nil {
		return "", err
	}
	if _, err := io.Copy(io.Discard, tc); err != nil {
		return "", err
	}
	return strconv.FormatInt(n, 10), nil
}

// udpStall ADDR RCVBUF: bind ADDR with a receive buffer of RCVBUF bytes
// and read nothing until SIGUSR1 (Proc.Continue): what does not fit is
// dropped by the kernel. Then read what was queued; result: its count.
func udpStall(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: udp-stall ADDR RCVBUF")
	}
	size, _ := strconv.Atoi(args[1])
	cont := make(chan os.Signal, 1)
	signal.Notify(cont, syscall.SIGUSR1)
	c, err := net.ListenPacket("udp", args[0])
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.(*net.UDPConn).SetReadBuffer(size); err != nil {
		return "", err
	}
	ready()
	<-cont
	buf := make([]byte, 65536)
	n := 0
	for {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, _, err := c.ReadFrom(buf); err != nil {
			break
		}
		n++
	}
	return strconv.Itoa(n), nil
}
