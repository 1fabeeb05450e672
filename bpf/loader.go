// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package bpf loads podflow's eBPF programs, attaches what the running kernel
// allows, and drains the per-CPU tables they fill. It knows nothing of
// Prometheus or Kubernetes: it hands out flow keys and counters.
package bpf

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Program names, as bpf2go found them in the object.
const (
	ProgFlowsIngress = podflowProgFlowsIngress
	ProgFlowsEgress  = podflowProgFlowsEgress
	ProgTCPState     = podflowProgTcpState
	ProgTCPRTT       = podflowProgTcpRtt
	ProgRetransmit   = podflowProgTcpRetransmit
	ProgResetSent    = podflowProgTcpResetSent
	ProgResetRecv    = podflowProgTcpResetReceived
	ProgICMPSent     = podflowProgIcmpSent
	ProgDrops        = podflowProgSkbDrop
	// ProgFoldSockets adds what established TCP sockets counted in
	// entries of their own to the tables, run at each drain (it is loaded,
	// not attached). Load adds it, unasked, when tcp_state and a program
	// that counts per socket are asked for.
	ProgFoldSockets = podflowProgFoldSockets
	// ProgExpireDNSQueries counts the DNS queries that waited past
	// --bpf.dns-timeout as timeouts, run at each drain (loaded, not
	// attached). Load adds it when DNS requests are tracked.
	ProgExpireDNSQueries = podflowProgExpireDnsQueries
)

// RunAtDrain says whether program name is run by the exporter at each
// drain (BPF_PROG_TEST_RUN) rather than attached to a hook:
// ProgFoldSockets, ProgExpireDNSQueries. Its status's Attached means "in use".
func RunAtDrain(name string) bool {
	return name == ProgFoldSockets || name == ProgExpireDNSQueries
}

// newConnectionsEntries bounds the table of new connections to translated
// services (DrainNewConnections): the connections one drain interval (a
// second) can start before the oldest are translated at the scrape instead.
const newConnectionsEntries = 8192

// socketTableShare is the flows table's size over the socket table's
// (sockcount.bpf.h).
const socketTableShare = 4

// Options say what to load and where to attach it.
type Options struct {
	// CgroupRoot is the cgroup v2 directory the cgroup_skb programs attach
	// to; at the root they see every socket of the host.
	CgroupRoot string
	// Programs to load and attach (Prog* names).
	Programs []string
	// CountTCPEvents enables the handshake outcome table. With it off,
	// tcp_state still records which side of a connection each socket is.
	CountTCPEvents bool
	// RecordConnectLatency enables tcp_state's connect-latency histogram.
	RecordConnectLatency bool
	// EphemeralPorts is the kernel's ip_local_port_range (see
	// ReadEphemeralPortRange), used to tell client from server ports.
	EphemeralPorts [2]uint16
	// TranslateServices keeps each client connection to a frontend of
	// the translated-services table (SetServices) in a flow of its own,
	// with its client port, so that user space can translate it.
	TranslateServices bool
	// ScopeCgroupID is the cgroup id of CgroupRoot when it is below the
	// hierarchy's root (cgroups.ID), else 0. The tracing programs see
	// every socket of the host; with it they count only the sockets of
	// that subtree, as the cgroup_skb programs attached there do.
	ScopeCgroupID uint64
	// TrackDNS and TrackHTTP enable counting DNS and HTTP/1.x requests
	// in the requests table (dns.bpf.h, http.bpf.h). DNS also needs
	// expire_dns_queries, which Load adds, unasked, to count timeouts.
	TrackDNS, TrackHTTP bool
	// DNSPorts and DNSTimeout: Config's, resolved by Load.
}

// ProgramStatus says whether a program is attached and, if not, why.
type ProgramStatus struct {
	Name     string
	Attached bool
	// Variant is the program attached: Name, or a fallback for kernels
	// that refused it (see fallbacks).
	Variant string
	Err     error
}

// Features says what the running kernel allowed when the programs loaded.
type Features struct {
	// Programs are the requested programs: attached, or why not.
	Programs []ProgramStatus
	// DropReceivingSocket says skb_drop reads kfree_skb's receiving
	// socket (Linux 6.11): a dropped packet a socket received is named by
	// that socket's cgroup; without it, by the packet's local address.
	DropReceivingSocket bool
	// ICMPRefusals says icmp_sent is attached (tp_btf/icmp_send, Linux
	// 6.10): a connect this node refused by ICMP is "unreachable" even
	// when the application consumed the error first.
	ICMPRefusals bool
	// SocketEntries says established TCP sockets count in entries of
	// their own, folded into the tables at each drain (fold_sockets loaded
	// and tcp_state attached); otherwise every packet counts in the flows
	// table.
	SocketEntries bool
}

// Attached reports whether program name (a Prog* name) is attached.
func (f Features) Attached(name string) bool {
	for _, st := range f.Programs {
		if st.Name == name {
			return st.Attached
		}
	}
	return false
}

// Features reports what the running kernel allowed.
func (t *Tracer) Features() Features {
	f := Features{Programs: t.Status(), SocketEntries: t.fold != nil}
	for _, st := range f.Programs {
		switch {
		case st.Attached && st.Variant == ProgDrops:
			f.DropReceivingSocket = true
		case st.Attached && st.Name == ProgICMPSent:
			f.ICMPRefusals = true
		}
	}
	return f
}

// Tracer owns the loaded programs, their links and tables.
type Tracer struct {
	objs podflowMaps
	// replacements are objs by name, to load each program against them.
	replacements map[string]*ebpf.Map
	programs     []*ebpf.Program
	// named are the programs loaded, by name (the variant's).
	named    map[string]*ebpf.Program
	links    []link.Link
	status   []ProgramStatus
	tables   [NumTables]*rotatingTable
	services serviceTable
	// fold is fold_sockets when sockets count in entries of their own:
	// each rotation runs it first.
	fold *ebpf.Program
	// expire is expire_dns_queries when DNS requests are tracked: each
	// rotation runs it first.
	expire   *ebpf.Program
	rotation rotation
}

// Load creates the tables, then loads and attaches each program on its own,
// so that a program the kernel refuses leaves the others working. It fails
// only when the tables themselves cannot be created.
func Load(cfg *Config, opts Options) (*Tracer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_MEMLOCK for eBPF maps (needs CAP_SYS_RESOURCE on kernels before 5.11): %w", err)
	}
	spec, specs, err := loadSpec(opts)
	if err != nil {
		return nil, err
	}
	services := cfg.ServiceTableEntries
	if services == 0 {
		services = DefaultServiceTableEntries
	}
	specs.TranslatedServices.MaxEntries = services
	// One entry per established TCP socket, a quarter as many as the flows
	// table: each fold walks all of the table's buckets, 0.27 ms for
	// 16,384, 1.6 ms for 65,536 (docs/benchmarks.md#scrape-wall-time-with-no-flows);
	// sockets past it count in the flows table.
	specs.CountingSockets.MaxEntries = max(cfg.FlowTableEntries/socketTableShare, 1)
	specs.DnsQueries.MaxEntries = cfg.DNSTableEntries
	if cfg.DNSTableEntries == 0 {
		specs.DnsQueries.MaxEntries = DefaultDNSTableEntries
	}
	if err := setDNSConstants(&specs.podflowVariableSpecs, cfg, opts); err != nil {
		return nil, err
	}
	specs.NewConnections.MaxEntries = 1
	if opts.TranslateServices {
		specs.NewConnections.MaxEntries = newConnectionsEntries
	}

	t := &Tracer{}
	// Maps first, alone: each program is then loaded on its own against
	// them, so that one the kernel refuses leaves the others working.
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		return nil, fmt.Errorf("create eBPF maps: %w", err)
	}
	t.replacements = mapsByName(&t.objs)
	t.services = newServiceTable(t.objs.TranslatedServices, services)
	for _, l := range tableLayouts {
		m := l.maps(&t.objs, &specs.podflowMapSpecs)
		r, err := newRotatingTable(l.name, m.outer, m.inner, l.entries(cfg), m.overflow)
		if err != nil {
			t.Close()
			return nil, err
		}
		r.clientPort = l.clientPort
		t.tables[l.id] = r
	}

	if err := t.loadPrograms(spec, specs, opts); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// loadPrograms loads and attaches the requested programs, each on its own.
// Sockets count in their own storage (count_in_sockets) only when both
// programs that fold them attached: fold_sockets, at each drain, and
// tcp_state, when a socket closes; the programs loaded after them are told
// by the constant. Otherwise every packet counts in the flows table.
func (t *Tracer) loadPrograms(spec *ebpf.CollectionSpec, specs *podflowSpecs, opts Options) error {
	attach := func(name string) bool {
		st := ProgramStatus{Name: name}
		st.Variant, st.Err = t.loadAndAttach(spec, name, opts.CgroupRoot)
		st.Attached = st.Err == nil
		t.status = append(t.status, st)
		return st.Attached
	}
	asked := map[string]bool{}
	for _, name := range opts.Programs {
		asked[name] = true
	}
	packets := asked[ProgFlowsIngress] || asked[ProgFlowsEgress]
	if opts.TrackDNS && packets {
		// Before the packet programs: without it they must not track
		// queries, which nothing would expire.
		expire, err := t.loadProgram(spec, ProgExpireDNSQueries)
		if err == nil {
			t.expire = expire
			t.keep(ProgExpireDNSQueries, expire)
		} else if serr := specs.TrackDns.Set(uint8(0)); serr != nil {
			return fmt.Errorf("set %s: %w", specs.TrackDns.Name, serr)
		}
		t.status = append(t.status, ProgramStatus{Name: ProgExpireDNSQueries, Attached: err == nil, Variant: ProgExpireDNSQueries, Err: err})
	}
	folds := asked[ProgTCPState] && (packets || asked[ProgTCPRTT])
	if folds {
		fold, err := t.loadProgram(spec, ProgFoldSockets)
		if serr := specs.CountInSockets.Set(err == nil); serr != nil {
			return fmt.Errorf("set %s: %w", specs.CountInSockets.Name, serr)
		}
		if attach(ProgTCPState) && err == nil {
			t.fold = fold
			t.keep(ProgFoldSockets, fold)
		} else {
			if err == nil {
				// Loaded, but nothing would fold a socket that closes.
				fold.Close()
				err = fmt.Errorf("not used: %s is not attached, so no socket counts in an entry of its own", ProgTCPState)
			}
			if serr := specs.CountInSockets.Set(false); serr != nil {
				return fmt.Errorf("set %s: %w", specs.CountInSockets.Name, serr)
			}
		}
		// It is run at each drain, never attached: "attached" says it is in use.
		t.status = append(t.status, ProgramStatus{Name: ProgFoldSockets, Attached: err == nil, Variant: ProgFoldSockets, Err: err})
	}
	for _, name := range opts.Programs {
		if folds && name == ProgTCPState {
			continue
		}
		attach(name)
	}
	return nil
}

// mapsByName lists the typed maps of m by their names in the object, as
// loading a program against them wants.
func mapsByName(m *podflowMaps) map[string]*ebpf.Map {
	out := map[string]*ebpf.Map{}
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if name := v.Type().Field(i).Tag.Get("ebpf"); name != "" {
			out[name] = v.Field(i).Interface().(*ebpf.Map)
		}
	}
	return out
}

// fallbacks are variants of a program for kernels that refuse it, tried
// in order; the status keeps the program's name.
var fallbacks = map[string][]string{
	// The receiving-socket argument of kfree_skb came in Linux 6.11.
	ProgDrops: {podflowProgSkbDropWithoutRxSk},
}

// loadAndAttach loads program name, or the first of its fallbacks the
// kernel takes, and attaches it; it returns the variant attached.
func (t *Tracer) loadAndAttach(spec *ebpf.CollectionSpec, name string, cgroupRoot string) (string, error) {
	variant := name
	prog, err := t.loadProgram(spec, name)
	for _, alt := range fallbacks[name] {
		if err == nil {
			break
		}
		if p, altErr := t.loadProgram(spec, alt); altErr == nil {
			prog, err, variant = p, nil, alt
		}
	}
	if err != nil {
		return "", err
	}
	var l link.Link
	switch prog.Type() {
	case ebpf.CGroupSKB:
		l, err = link.AttachCgroup(link.CgroupOptions{Path: cgroupRoot, Attach: spec.Programs[name].AttachType, Program: prog})
	case ebpf.Tracing:
		l, err = link.AttachTracing(link.TracingOptions{Program: prog})
	default:
		err = fmt.Errorf("program type %s has no attach method", prog.Type())
	}
	if err != nil {
		prog.Close()
		return "", fmt.Errorf("attach: %w%s", err, missingCapsHint(prog.Type(), err))
	}
	t.keep(variant, prog)
	t.links = append(t.links, l)
	return variant, nil
}

// keep owns prog, loaded as name, until Close.
func (t *Tracer) keep(name string, prog *ebpf.Program) {
	if t.named == nil {
		t.named = map[string]*ebpf.Program{}
	}
	t.named[name] = prog
	t.programs = append(t.programs, prog)
}

// loadProgram loads one program of spec against the tracer's maps.
func (t *Tracer) loadProgram(spec *ebpf.CollectionSpec, name string) (*ebpf.Program, error) {
	ps, ok := spec.Programs[name]
	if !ok {
		return nil, fmt.Errorf("no program %q in the object", name)
	}
	if err := checkProgramCaps(ps.Type); err != nil {
		return nil, err
	}
	one := spec.Copy()
	one.Programs = map[string]*ebpf.ProgramSpec{name: one.Programs[name]}
	// The loader sized these tables: the spec must say so to reuse them.
	one.Maps[podflowMapTranslatedServices].MaxEntries = t.objs.TranslatedServices.MaxEntries()
	one.Maps[podflowMapNewConnections].MaxEntries = t.objs.NewConnections.MaxEntries()
	one.Maps[podflowMapCountingSockets].MaxEntries = t.objs.CountingSockets.MaxEntries()
	one.Maps[podflowMapDnsQueries].MaxEntries = t.objs.DnsQueries.MaxEntries()
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: t.replacements})
	if err != nil {
		return nil, fmt.Errorf("load: %w%s", verifierSummary(err), missingCapsHint(ps.Type, err))
	}
	prog := coll.DetachProgram(name)
	coll.Close()
	return prog, nil
}

// verifierSummary keeps the verifier's last lines, which say why it refused;
// the full log is hundreds of lines.
func verifierSummary(err error) error {
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) || len(ve.Log) == 0 {
		return err
	}
	tail := ve.Log
	if len(tail) > 3 {
		tail = tail[len(tail)-3:]
	}
	return fmt.Errorf("%w: %s", ve.Cause, strings.Join(tail, " | "))
}

// Status reports each requested program: attached, or why not.
func (t *Tracer) Status() []ProgramStatus {
	return append([]ProgramStatus(nil), t.status...)
}

// Close detaches every program and releases every map. After it returns,
// nothing of the exporter is left in the kernel.
func (t *Tracer) Close() error {
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	for _, p := range t.programs {
		errs = append(errs, p.Close())
	}
	t.programs = nil
	for _, r := range t.tables {
		if r != nil {
			r.close()
		}
	}
	errs = append(errs, t.objs.Close())
	t.objs = podflowMaps{}
	return errors.Join(errs...)
}

// ReadEphemeralPortRange returns net.ipv4.ip_local_port_range of the
// exporter's network namespace, or Linux's default when it cannot be read.
func ReadEphemeralPortRange() [2]uint16 {
	def := [2]uint16{32768, 60999}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return def
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return def
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 16)
	hi, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil || lo > hi {
		return def
	}
	return [2]uint16{uint16(lo), uint16(hi)}
}
