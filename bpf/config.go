// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/cilium/ebpf"
)

// Config sizes the kernel tables.
type Config struct {
	FlowTableEntries    uint32
	TCPTableEntries     uint32
	LatencyTableEntries uint32
	DropTableEntries    uint32
	// ServiceTableEntries bounds the translated-services table; zero
	// means DefaultServiceTableEntries.
	ServiceTableEntries uint32
	// RequestTableEntries sizes the DNS and HTTP requests tables.
	RequestTableEntries uint32
	// DNSTableEntries bounds the DNS queries awaiting a response; zero
	// means DefaultDNSTableEntries.
	DNSTableEntries uint32
	// DNSPorts are the ports whose UDP datagrams and TCP connections are
	// parsed as DNS (at most MaxDNSPorts); nil means 53.
	DNSPorts []uint16
	// DNSTimeout is how long a query waits for its response before it
	// counts as a timeout; zero means DefaultDNSTimeout.
	DNSTimeout time.Duration
	// dnsTableSet and dnsTimeoutSet: the flags were given (a zero given
	// is an error; a zero Config field, as a library user leaves it, the
	// default).
	dnsTableSet, dnsTimeoutSet bool
}

// Defaults of the DNS flags.
const (
	DefaultDNSTableEntries = 4096
	DefaultDNSTimeout      = 5 * time.Second
	// MaxDNSPorts is how many --bpf.dns-ports the programs compare with
	// (DNS_PORTS in state.bpf.h).
	MaxDNSPorts = 4
)

// DefaultServiceTableEntries is the default of --bpf.service-table-entries.
const DefaultServiceTableEntries = 65536

// AddFlags registers the --bpf.* flags on app.
func AddFlags(app *kingpin.Application) *Config {
	c := &Config{}
	app.Flag("bpf.flow-table-entries",
		"Flows (local identity, peer, server port) each of the two rotating byte/packet tables holds: the distinct flows of one drain interval. Traffic of flows beyond it is counted in the __overflow__ series, never lost. A quarter of it sizes the table of established TCP sockets that count in entries of their own.").
		Default("65536").Uint32Var(&c.FlowTableEntries)
	app.Flag("bpf.tcp-table-entries",
		"Flows each of the two rotating TCP handshake tables holds. Handshakes of flows beyond it are counted in the __overflow__ series.").
		Default("16384").Uint32Var(&c.TCPTableEntries)
	app.Flag("bpf.latency-table-entries",
		"Histogram buckets (flow and log2 bucket; a flow uses a few) each of the two rotating RTT and connect-latency tables holds. Samples beyond it are counted in the __overflow__ histogram.").
		Default("32768").Uint32Var(&c.LatencyTableEntries)
	app.Flag("bpf.drop-table-entries",
		"Flows and drop reasons each of the two rotating drop tables holds. Drops beyond it are counted in the __overflow__ series.").
		Default("4096").Uint32Var(&c.DropTableEntries)
	app.Flag("bpf.service-table-entries",
		"Service frontends (cluster, external and load-balancer IPs, node ports; each address, port and protocol) whose connections are translated to their backend (--collector.translation). Connections to frontends beyond it are named by the service only (0: the default).").
		Default(strconv.Itoa(DefaultServiceTableEntries)).Uint32Var(&c.ServiceTableEntries)
	app.Flag("bpf.request-table-entries",
		"Flows and request kinds (DNS response code and question type; HTTP method and status class) each of the two rotating DNS and HTTP request tables holds. Requests beyond it are counted in the __overflow__ series.").
		Default("8192").Uint32Var(&c.RequestTableEntries)
	app.Flag("bpf.dns-table-entries",
		"DNS queries that can await their response at once (144 bytes each, preallocated). A query beyond it is not counted; podflow_bpf_payload_events_total{protocol=\"dns\",event=\"table_full\"} says how many.").
		Default(strconv.Itoa(DefaultDNSTableEntries)).IsSetByUser(&c.dnsTableSet).Uint32Var(&c.DNSTableEntries)
	app.Flag("bpf.dns-ports",
		"Port whose UDP datagrams and TCP connections are parsed as DNS, as client or server; repeat for more (at most 4).").
		Default("53").Uint16ListVar(&c.DNSPorts)
	app.Flag("bpf.dns-timeout",
		"How long a DNS query waits for its response; then it counts as rcode=\"timeout\" (at the first drain after). Resolvers retry after 5s (glibc's resolv.conf timeout).").
		Default(DefaultDNSTimeout.String()).IsSetByUser(&c.dnsTimeoutSet).DurationVar(&c.DNSTimeout)
	return c
}

// MaxTableEntries is the most entries the kernel gives a hash table: its
// buckets, a power of two of 16 bytes each, must be counted in 32 bits
// (kernel/bpf/hashtab.c, htab_map_alloc); beyond, map creation fails with
// E2BIG ("argument list too long").
const MaxTableEntries = 1 << 27

// tableSize is one --bpf.*-table-entries flag and the rotating table (the
// outer map of podflow.bpf.c) it sizes.
type tableSize struct {
	flag    string
	outer   string
	entries uint32
}

func (c *Config) tableSizes() []tableSize {
	return []tableSize{
		{"bpf.flow-table-entries", "flows", c.FlowTableEntries},
		{"bpf.tcp-table-entries", "tcp_events", c.TCPTableEntries},
		{"bpf.latency-table-entries", "latency", c.LatencyTableEntries},
		{"bpf.drop-table-entries", "drops", c.DropTableEntries},
		{"bpf.request-table-entries", "requests", c.RequestTableEntries},
	}
}

// Validate reports values the kernel would refuse, and table sizes whose
// preallocated memory the node does not have: both would otherwise fail
// only after other tables were created, without naming the flag.
func (c *Config) Validate() error {
	for _, t := range c.tableSizes() {
		if t.entries == 0 {
			return fmt.Errorf("--%s must be at least 1", t.flag)
		}
		if t.entries > MaxTableEntries {
			return fmt.Errorf("--%s=%d: more than the %d entries the kernel allows a hash table", t.flag, t.entries, MaxTableEntries)
		}
	}
	if c.ServiceTableEntries > MaxTableEntries {
		return fmt.Errorf("--bpf.service-table-entries=%d: more than the %d entries the kernel allows a hash table", c.ServiceTableEntries, MaxTableEntries)
	}
	if c.DNSTableEntries > MaxTableEntries {
		return fmt.Errorf("--bpf.dns-table-entries=%d: more than the %d entries the kernel allows a hash table", c.DNSTableEntries, MaxTableEntries)
	}
	if len(c.DNSPorts) > MaxDNSPorts {
		return fmt.Errorf("--bpf.dns-ports: %d ports given, at most %d", len(c.DNSPorts), MaxDNSPorts)
	}
	for _, p := range c.DNSPorts {
		if p == 0 {
			return errors.New("--bpf.dns-ports: port 0 is not a port")
		}
	}
	if c.DNSTimeout < 0 || c.dnsTimeoutSet && c.DNSTimeout == 0 {
		return fmt.Errorf("--bpf.dns-timeout=%s: must be positive", c.DNSTimeout)
	}
	if c.dnsTableSet && c.DNSTableEntries == 0 {
		return errors.New("--bpf.dns-table-entries must be at least 1")
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return err
	}
	need, err := c.tableMemory(cpus)
	if err != nil {
		return err
	}
	avail, err := memAvailable()
	if err != nil {
		// Without /proc/meminfo, creating the tables is the test.
		return nil
	}
	return checkMemory(c.tableSizes(), need, cpus, avail)
}

// TableMemory returns what the kernel charges, in bytes, for the rotating
// tables: each is two per-CPU hash tables whose entries are allocated when
// they are created, for every possible CPU.
func (c *Config) TableMemory() (uint64, error) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return 0, err
	}
	need, err := c.tableMemory(cpus)
	var total uint64
	for _, n := range need {
		total += n
	}
	return total, err
}

// tableMemory is TableMemory by table flag.
func (c *Config) tableMemory(cpus int) (map[string]uint64, error) {
	spec, err := loadPodflow()
	if err != nil {
		return nil, err
	}
	need := map[string]uint64{}
	for _, t := range c.tableSizes() {
		m, ok := spec.Maps[t.outer]
		if !ok || m.InnerMap == nil {
			return nil, fmt.Errorf("no rotating table %q in the eBPF object", t.outer)
		}
		need[t.flag] = 2 * percpuHashBytes(m.InnerMap.KeySize, m.InnerMap.ValueSize, t.entries, cpus)
	}
	return need, nil
}

// percpuHashBytes is the memory of a preallocated per-CPU hash table as the
// kernel accounts it (kernel/bpf/hashtab.c, htab_map_mem_usage; bpftool's
// "memlock"): the table header, a power of two of buckets, per-CPU lock
// counters, and per entry an element (list node, hash, key, a pointer to
// its values) plus one value per possible CPU.
func percpuHashBytes(keySize, valueSize, entries uint32, cpus int) uint64 {
	const (
		header     = 832 // struct bpf_htab
		bucket     = 16  // struct bucket
		lockCount  = 8   // HASHTAB_MAP_LOCK_COUNT ints per CPU
		elemHeader = 48  // struct htab_elem before the key
	)
	n := uint64(entries)
	buckets := uint64(1) << bits.Len64(n-1)
	elem := elemHeader + roundUp8(keySize) + 8
	return header + bucket*buckets + 4*lockCount*uint64(cpus) + elem*n + roundUp8(valueSize)*uint64(cpus)*n
}

func roundUp8(v uint32) uint64 { return (uint64(v) + 7) &^ 7 }

// checkMemory fails, naming the flag of the largest table, when the tables
// need more than avail bytes.
func checkMemory(tables []tableSize, need map[string]uint64, cpus int, avail uint64) error {
	var total uint64
	var largest tableSize
	var parts []string
	for _, t := range tables {
		total += need[t.flag]
		if need[t.flag] > need[largest.flag] {
			largest = t
		}
		parts = append(parts, fmt.Sprintf("%s %s", t.outer, formatBytes(need[t.flag])))
	}
	if total <= avail {
		return nil
	}
	return fmt.Errorf("--%s=%d: the eBPF tables would take %s of kernel memory (%s; %d possible CPUs), more than the node has available, %s (MemAvailable in /proc/meminfo)",
		largest.flag, largest.entries, formatBytes(total), strings.Join(parts, ", "), cpus, formatBytes(avail))
}

// memAvailable is the kernel's estimate of the memory available to start
// new work without swapping.
func memAvailable() (uint64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no MemAvailable in /proc/meminfo")
}

// formatBytes writes b in binary units, e.g. "12.3 MiB".
func formatBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTP"[exp])
}
