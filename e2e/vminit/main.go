// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Command vminit is the init (PID 1) of the virtual machines in which the
// e2e test TestKernelVM runs the exporter on Debian 12's arm64 and amd64
// kernels (qemu-system-aarch64, qemu-system-x86_64): it mounts what the
// exporter reads, brings loopback up, starts /podflow_exporter, makes
// traffic of known size from a cgroup of its own, prints the scrape between
// markers on the console and powers the machine off. It is built for the
// machine's architecture and packed into the initramfs with the exporter;
// nothing else is in the machine.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Markers around what the test reads from the console (e2e/kernelvm_test.go
// has the same).
const (
	metricsBegin = "=== podflow metrics begin"
	metricsEnd   = "=== podflow metrics end"
	resultPrefix = "=== podflow "
)

// The traffic the test expects counted: UDP datagrams of a known size,
// TCP connections with a known payload, and connects to a closed port.
const (
	trafficCgroup = "/sys/fs/cgroup/vm-traffic"
	udpAddr       = "127.0.0.1:7000"
	udpCount      = 100
	udpSize       = 200
	tcpAddr       = "127.0.0.1:8080"
	tcpCount      = 5
	tcpSize       = 1000
	refusedAddr   = "127.0.0.1:9"
	refusedCount  = 4
	listenAddr    = "127.0.0.1:9810"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "traffic" {
		if err := traffic(); err != nil {
			fmt.Println("traffic:", err)
			os.Exit(1)
		}
		return
	}
	err := run()
	if err != nil {
		say("error %v", err)
	} else {
		say("done")
	}
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// say prints a result line with the time since boot, which the test reads
// for its timings.
func say(format string, args ...any) {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	fmt.Printf(resultPrefix+"t=%.1fs "+format+"\n", append([]any{float64(ts.Nano()) / 1e9}, args...)...)
}

func run() error {
	if err := mounts(); err != nil {
		return err
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	say("booted: mounts and loopback up")
	if err := os.Mkdir(trafficCgroup, 0o755); err != nil {
		return err
	}
	exporter := exec.Command("/podflow_exporter", "--web.listen-address="+listenAddr, "--collector.drain-interval=1s")
	exporter.Stdout, exporter.Stderr = os.Stdout, os.Stdout
	if err := exporter.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- exporter.Wait() }()
	if err := waitServing(exited); err != nil {
		return err
	}
	say("exporter serving")

	cg, err := os.Open(trafficCgroup)
	if err != nil {
		return err
	}
	gen := exec.Command("/init", "traffic")
	gen.Stdout, gen.Stderr = os.Stdout, os.Stdout
	gen.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	err = gen.Run()
	cg.Close()
	if err != nil {
		return fmt.Errorf("traffic: %w", err)
	}
	say("traffic sent")

	body, err := get("http://" + listenAddr + "/metrics")
	if err != nil {
		return err
	}
	fmt.Println(metricsBegin)
	for _, line := range strings.Split(body, "\n") {
		// The podflow families with their types, for the test to parse.
		if strings.HasPrefix(line, "podflow_") || strings.HasPrefix(line, "# TYPE podflow_") {
			fmt.Println(line)
		}
	}
	fmt.Println(metricsEnd)
	say("scraped")

	if err := exporter.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		return errors.New("exporter still running 60s after SIGTERM")
	}
	say("exporter exit code %d", exporter.ProcessState.ExitCode())
	return nil
}

// mounts mounts what the exporter reads: /proc, /sys with the kernel's BTF,
// cgroup v2, the BPF filesystem.
func mounts() error {
	for _, m := range []struct{ fstype, target string }{
		{"proc", "/proc"},
		{"sysfs", "/sys"},
		{"devtmpfs", "/dev"},
		{"cgroup2", "/sys/fs/cgroup"},
		{"bpf", "/sys/fs/bpf"},
		{"tmpfs", "/tmp"},
	} {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

// loopbackUp sets lo up, which nothing else in the machine does.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}

// waitServing waits until the exporter answers, or fails when it exits.
func waitServing(exited chan error) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exporter exited before serving: %v", err)
		default:
		}
		if _, err := get("http://" + listenAddr + "/"); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("exporter not serving after 5 minutes")
}

func get(url string) (string, error) {
	c := http.Client{Timeout: 60 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), nil
}

// traffic runs in the traffic cgroup: UDP datagrams, TCP connections
// carrying a payload both ways, and refused connects, each waited for.
func traffic() error {
	if err := udp(); err != nil {
		return err
	}
	if err := tcp(); err != nil {
		return err
	}
	for range refusedCount {
		c, err := net.Dial("tcp", refusedAddr)
		if err == nil {
			c.Close()
			return fmt.Errorf("connect to %s succeeded, want refused", refusedAddr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return err
		}
	}
	return nil
}

func udp() error {
	recv, err := net.ListenPacket("udp", udpAddr)
	if err != nil {
		return err
	}
	defer recv.Close()
	if err := recv.(*net.UDPConn).SetReadBuffer(4 << 20); err != nil {
		return err
	}
	send, err := net.Dial("udp", udpAddr)
	if err != nil {
		return err
	}
	defer send.Close()
	payload := make([]byte, udpSize)
	for range udpCount {
		if _, err := send.Write(payload); err != nil {
			return err
		}
	}
	_ = recv.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 65536)
	for i := range udpCount {
		if _, _, err := recv.ReadFrom(buf); err != nil {
			return fmt.Errorf("received %d of %d datagrams: %w", i, udpCount, err)
		}
	}
	return nil
}

// tcp makes tcpCount connections; each sends tcpSize bytes, which the
// server echoes back, then closes.
func tcp() error {
	l, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		return err
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.CopyN(c, c, tcpSize)
			}()
		}
	}()
	for range tcpCount {
		c, err := net.Dial("tcp", tcpAddr)
		if err != nil {
			return err
		}
		if _, err := c.Write(make([]byte, tcpSize)); err != nil {
			c.Close()
			return err
		}
		n, err := io.Copy(io.Discard, bufio.NewReader(c))
		c.Close()
		if err != nil || n != tcpSize {
			return fmt.Errorf("echo: %d bytes back, want %d: %v", n, tcpSize, err)
		}
	}
	return nil
}
