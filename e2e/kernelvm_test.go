// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The markers e2e/vminit prints around what the test reads.
const (
	vmMetricsBegin = "=== podflow metrics begin"
	vmMetricsEnd   = "=== podflow metrics end"
	vmResultPrefix = "=== podflow "
)

// vmTarget is a machine qemu-system emulates, with Debian 12's cloud
// kernel for it (scripts/install-kernels.sh, run by make deps).
type vmTarget struct {
	goarch string
	qemu   []string
	// console is the kernel's name of the machine's serial port.
	console string
}

var vmTargets = []vmTarget{
	{"arm64", []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57"}, "ttyAMA0"},
	{"amd64", []string{"qemu-system-x86_64", "-cpu", "max"}, "ttyS0"},
}

// programsOnLinux61 are the programs Debian 12's Linux 6.1 attaches, the
// same on arm64 and amd64: all but tcp_retransmit, because its
// tcp_retransmit_skb tracepoint has no third argument. (Compiled for BPF
// ISA v1, tcp_state and tcp_rtt were refused too, "R0 unbounded memory
// access" at an atomic add into a counter found by index; v3's 32-bit
// subregisters keep the index's bounds.)
var programsOnLinux61 = map[string]float64{
	"flows_ingress": 1, "flows_egress": 1, "skb_drop": 1, "icmp_sent": 1,
	"tcp_reset_sent": 1, "tcp_reset_received": 1,
	"tcp_state": 1, "tcp_rtt": 1, "fold_sockets": 1, "expire_dns_queries": 1, "tcp_retransmit": 0,
}

// TestKernelVM boots Debian 12's arm64 and amd64 kernels under
// qemu-system (software emulation) with an initramfs of e2e/vminit and the
// exporter built for the machine, as the release builds it: the CO-RE
// objects load and attach on that kernel and architecture and count a
// known round of loopback traffic exactly (UDP datagrams of known size,
// TCP connections, refused connects), and SIGTERM ends the exporter with
// code 0. About 13 seconds for arm64 and 6 for amd64 on 2 cores.
func TestKernelVM(t *testing.T) {
	for _, vm := range vmTargets {
		t.Run(vm.goarch, func(t *testing.T) {
			console := bootVM(t, vm)
			defer func() {
				if t.Failed() {
					t.Logf("console:\n%s", console)
				}
			}()
			metrics := vmMetrics(t, console)
			for prog, want := range programsOnLinux61 {
				if got := value(t, metrics, "podflow_bpf_program_attached", map[string]string{"program": prog}); got != want {
					t.Errorf("podflow_bpf_program_attached{program=%q} = %v, want %v on Linux 6.1", prog, got, want)
				}
			}
			local := map[string]string{"local_workload": "vm-traffic", "local_kind": "cgroup", "remote_workload": "127.0.0.1", "remote_kind": "loopback"}
			with := func(extra ...string) map[string]string {
				m := map[string]string{}
				for k, v := range local {
					m[k] = v
				}
				for i := 0; i < len(extra); i += 2 {
					m[extra[i]] = extra[i+1]
				}
				return m
			}
			udpClient := with("role", "client", "protocol", "udp", "port", "7000")
			udpServer := with("role", "server", "protocol", "udp", "port", "7000")
			refused := with("role", "client", "protocol", "tcp", "port", "9")
			for _, c := range []struct {
				family string
				labels map[string]string
				want   float64
			}{
				// 100 datagrams of 200 bytes, plus 28 bytes of IP and UDP headers.
				{"podflow_flow_transmit_packets_total", udpClient, 100},
				{"podflow_flow_transmit_bytes_total", udpClient, 100 * 228},
				{"podflow_flow_receive_packets_total", udpServer, 100},
				{"podflow_flow_receive_bytes_total", udpServer, 100 * 228},
				// 4 connects to a closed port: a SYN out, a RST back each.
				{"podflow_flow_transmit_packets_total", refused, 4},
				{"podflow_flow_receive_packets_total", refused, 4},
				{"podflow_tcp_resets_received_total", refused, 4},
				{"podflow_drop_packets_total", map[string]string{"reason": "NO_SOCKET", "port": "9"}, 4},
				{"podflow_tcp_connect_attempts_total", refused, 4},
				{"podflow_tcp_connect_failures_total", with("role", "client", "protocol", "tcp", "port", "9", "reason", "refused"), 4},
				// 5 echoed connections, each established and accepted once.
				{"podflow_tcp_connect_attempts_total", with("role", "client", "protocol", "tcp", "port", "8080"), 5},
				{"podflow_tcp_connect_established_total", with("role", "client", "protocol", "tcp", "port", "8080"), 5},
				{"podflow_tcp_accepted_connections_total", with("role", "server", "protocol", "tcp", "port", "8080"), 5},
			} {
				if got := value(t, metrics, c.family, c.labels); got != c.want {
					t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
				}
			}
			// 5 TCP connections echoing 1000 bytes: on loopback the client
			// sent what the server received and the other way round.
			client := with("role", "client", "protocol", "tcp", "port", "8080")
			server := with("role", "server", "protocol", "tcp", "port", "8080")
			for _, dir := range [][2]string{{"transmit", "receive"}, {"receive", "transmit"}} {
				for _, unit := range []string{"bytes", "packets"} {
					c := value(t, metrics, "podflow_flow_"+dir[0]+"_"+unit+"_total", client)
					s := value(t, metrics, "podflow_flow_"+dir[1]+"_"+unit+"_total", server)
					if c != s || (unit == "bytes" && c < 5*1000) {
						t.Errorf("TCP client %s %s %v, server %s %v: want equal, at least 5000 bytes", dir[0], unit, c, dir[1], s)
					}
				}
			}
		})
	}
}

// bootVM boots vm's kernel with the exporter and e2e/vminit in an
// initramfs and returns the console once the machine has powered off.
func bootVM(t *testing.T, vm vmTarget) string {
	t.Helper()
	kernel := filepath.Join("..", ".tools", "kernels", vm.goarch, "vmlinuz")
	release, err := os.ReadFile(filepath.Join(filepath.Dir(kernel), "release"))
	if err != nil {
		t.Fatalf("no %s kernel: make deps fetches it (scripts/install-kernels.sh): %v", vm.goarch, err)
	}
	if _, err := exec.LookPath(vm.qemu[0]); err != nil {
		t.Fatalf("%s: make deps installs it (qemu-system-arm, qemu-system-x86): %v", vm.qemu[0], err)
	}
	exporter := crossBuild(t, vm.goarch, "github.com/podflow/podflow_exporter")
	init := crossBuild(t, vm.goarch, "github.com/podflow/podflow_exporter/e2e/vminit")
	initrd := filepath.Join(t.TempDir(), "initrd.cpio")
	if err := writeInitramfs(initrd, map[string]string{"init": init, "podflow_exporter": exporter}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := append(vm.qemu[1:], "-smp", "2", "-m", "1024", "-nographic", "-no-reboot", "-nic", "none",
		"-kernel", kernel, "-initrd", initrd, "-append", "console="+vm.console+" panic=-1 rdinit=/init")
	cmd := exec.CommandContext(ctx, vm.qemu[0], args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	console := string(out)
	if err != nil {
		t.Fatalf("%s: %v after %s:\n%s", vm.qemu[0], err, time.Since(start).Round(time.Second), console)
	}
	var results []string
	for _, line := range strings.Split(console, "\n") {
		if strings.HasPrefix(line, vmResultPrefix+"t=") {
			results = append(results, strings.TrimPrefix(strings.TrimSpace(line), vmResultPrefix))
		}
	}
	t.Logf("Linux %s under %s: %s in all; %s", strings.TrimSpace(string(release)), vm.qemu[0],
		time.Since(start).Round(100*time.Millisecond), strings.Join(results, "; "))
	if len(results) < 2 || !strings.HasSuffix(results[len(results)-1], " done") ||
		!strings.HasSuffix(results[len(results)-2], " exporter exit code 0") {
		t.Fatalf("the machine did not finish its round (want the exporter's exit code 0, then done):\n%s", console)
	}
	return console
}

// vmMetrics parses the scrape the machine printed between the markers.
func vmMetrics(t *testing.T, console string) map[string]*dto.MetricFamily {
	t.Helper()
	// The serial console ends lines with CR LF.
	_, rest, ok := strings.Cut(strings.ReplaceAll(console, "\r\n", "\n"), vmMetricsBegin+"\n")
	body, _, ok2 := strings.Cut(rest, vmMetricsEnd)
	if !ok || !ok2 {
		t.Fatalf("no metrics on the console:\n%s", console)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse the machine's metrics: %v\n%s", err, body)
	}
	return families
}

// writeInitramfs writes an uncompressed initramfs (cpio, newc format) with
// /dev/console and the given files at the root, executable.
func writeInitramfs(path string, files map[string]string) error {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	ino := 0
	entry := func(name string, mode uint32, data []byte, rdev [2]int) {
		ino++
		fmt.Fprintf(w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\x00",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name)+1, 0, name)
		pad := func(n int) { w.Write(make([]byte, (4-n%4)%4)) }
		pad(110 + len(name) + 1)
		w.Write(data)
		pad(len(data))
	}
	entry("dev", 0o040755, nil, [2]int{})
	entry("dev/console", 0o020600, nil, [2]int{5, 1})
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		entry(name, 0o100755, data, [2]int{})
	}
	entry("TRAILER!!!", 0, nil, [2]int{})
	if err := w.Flush(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
