// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
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
	return StartPinned(t, ns, cg, "", name, args...)
}

// StartPinned is Start with the helper pinned to cpus (taskset -c syntax;
// "": any). Go sizes GOMAXPROCS to the CPUs it may use.
func StartPinned(t testing.TB, ns *Netns, cg *Cgroup, cpus, name string, args ...string) *Proc {
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
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, pinned(cpus, exe)...)...)
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

// Stop sends the helper SIGTERM and returns its result.
func (p *Proc) Stop() string {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("stop helper %s: %v", p.name, err)
	}
	return p.Wait()
}

// Continue sends the helper SIGUSR1 (tcp-hold goes on).
func (p *Proc) Continue() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		p.t.Fatalf("continue helper %s: %v", p.name, err)
	}
}
