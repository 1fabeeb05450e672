// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	helperEnv = "PODFLOW_TESTNET_HELPER"
	argsEnv   = "PODFLOW_TESTNET_ARGS"
)

// helpers are the traffic generators, run inside a namespace and cgroup.
// Each prints "ready" once its sockets are set up and "result <text>" last.
var helpers = map[string]func(args []string) (string, error){
	"udp-recv":     udpRecv,
	"udp-send":     udpSend,
	"tcp-serve":    tcpServe,
	"tcp-send":     tcpSend,
	"tcp-connect":  tcpConnect,
	"tcp-abort":    tcpAbort,
	"udp-spray":    udpSpray,
	"tcp-echo":     tcpEcho,
	"tcp-pingpong": tcpPingPong,
	"tcp-stream":   tcpStream,
}

// MaybeRunHelper runs the helper this process was started as, if any, and
// exits. Call it first thing in TestMain.
func MaybeRunHelper() {
	name := os.Getenv(helperEnv)
	if name == "" {
		return
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(argsEnv)), &args); err != nil {
		fmt.Fprintln(os.Stderr, "bad helper args:", err)
		os.Exit(2)
	}
	fn, ok := helpers[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown helper", name)
		os.Exit(2)
	}
	res, err := fn(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
	fmt.Println("result " + res)
	os.Exit(0)
}

func ready() { fmt.Println("ready") }

// Proc is a running helper.
type Proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	lines  chan string
	stderr *strings.Builder
}

// Start starts helper name in ns and cg and returns once it is ready.
func Start(t testing.TB, ns *Netns, cg *Cgroup, name string, args ...string) *Proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argJSON, _ := json.Marshal(args)
	dir, err := os.Open(cg.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	// ip netns exec enters the namespace and execs the test binary; the
	// process is born in the cgroup (clone3 CLONE_INTO_CGROUP), so every
	// socket it opens belongs to that cgroup.
	cmd := exec.Command("ip", "netns", "exec", ns.Name, exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+name, argsEnv+"="+string(argJSON))
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{t: t, name: name, cmd: cmd, lines: make(chan string, 16), stderr: &strings.Builder{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper %s: %v", name, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	select {
	case line, ok := <-p.lines:
		if !ok || line != "ready" {
			_ = cmd.Wait()
			t.Fatalf("helper %s did not get ready (%q): %s", name, line, p.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("helper %s not ready after 10s: %s", name, p.stderr)
	}
	return p
}

// WaitLine waits until the helper prints line (e.g. "paused").
func (p *Proc) WaitLine(line string) {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case got, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("helper %s ended before printing %q: %s", p.name, line, p.stderr)
			}
			if got == line {
				return
			}
		case <-timeout:
			p.t.Fatalf("helper %s did not print %q in 30s", p.name, line)
		}
	}
}

// Wait waits for the helper to finish and returns its result.
func (p *Proc) Wait() string {
	p.t.Helper()
	var result string
	for line := range p.lines {
		if r, ok := strings.CutPrefix(line, "result "); ok {
			result = r
		}
	}
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("helper %s: %v: %s", p.name, err, p.stderr)
	}
	return result
}

// RunHelper starts helper name and waits for its result.
func RunHelper(t testing.TB, ns *Netns, cg *Cgroup, name string, args ...string) string {
	t.Helper()
	return Start(t, ns, cg, name, args...).Wait()
}

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
