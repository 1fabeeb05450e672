// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package naming

import (
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/podflow/podflow_exporter/bpf"
)

// RemoteNaming says how host mode names remote peers.
type RemoteNaming string

// Host mode names a remote peer by its address (bounded by the series
// budget) or only by the class of its address.
const (
	RemoteByAddress RemoteNaming = "address"
	RemoteByClass   RemoteNaming = "class"
)

// HostResolver names flows on a host without Kubernetes: the local side by
// its cgroup (systemd unit or container), the remote side by address.
type HostResolver struct {
	cgroups CgroupPaths
	naming  RemoteNaming

	mu      sync.Mutex
	locals  map[uint64]Peer
	remotes map[netip.Addr]Peer
}

// NewHostResolver returns a resolver reading cgroup paths from cgroups.
func NewHostResolver(cgroups CgroupPaths, naming RemoteNaming) *HostResolver {
	return &HostResolver{
		cgroups: cgroups,
		naming:  naming,
		locals:  map[uint64]Peer{},
		remotes: map[netip.Addr]Peer{},
	}
}

// Schema implements Resolver: HostSchema.
func (h *HostResolver) Schema() Schema { return HostSchema }

// Generation implements Resolver: a cgroup's path and an address's name
// never change, so host answers stay valid (unknown ones are not reused).
func (h *HostResolver) Generation() uint64 { return 0 }

// Resolve implements Resolver. Host mode translates nothing: the port is
// the server's.
func (h *HostResolver) Resolve(k bpf.FlowKey, counted time.Time) (local, remote Peer, port uint16, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	local, ok = h.local(k.CgroupID, counted)
	return local, h.remote(k.Remote), k.ServerPort, ok
}

func (h *HostResolver) local(id uint64, counted time.Time) (Peer, bool) {
	if id == 0 {
		// No socket (a dropped packet, a RST to a closed port): the
		// kernel acted for the host, named like the root cgroup.
		workload, kind := CgroupName("/")
		return Peer{Workload: workload, Kind: kind}, true
	}
	if p, ok := h.locals[id]; ok {
		return p, true
	}
	cgPath, found, err := h.cgroups.Path(id, counted)
	switch {
	case err != nil:
		return UnknownPeer, false // the tree could not be read: ask again
	case !found:
		return UnknownPeer, true // removed before it was ever seen
	}
	workload, kind := CgroupName(cgPath)
	p := Peer{Workload: workload, Kind: kind}
	if len(h.locals) >= cacheLimit {
		clear(h.locals)
	}
	h.locals[id] = p
	return p, true
}

func (h *HostResolver) remote(a netip.Addr) Peer {
	if p, ok := h.remotes[a]; ok {
		return p
	}
	p := UnknownPeer
	if a.IsValid() {
		class := AddressClass(a)
		p = Peer{Workload: class, Kind: class}
		if h.naming == RemoteByAddress {
			p.Workload = a.String()
		}
	}
	if len(h.remotes) >= cacheLimit {
		clear(h.remotes)
	}
	h.remotes[a] = p
	return p
}

// AddressClass names the kind of network an address belongs to.
func AddressClass(a netip.Addr) string {
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLinkLocalUnicast():
		return "link_local"
	case a.IsMulticast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "multicast"
	case a.IsPrivate(), cgnat.Contains(a):
		return "private"
	default:
		return "public"
	}
}

// cgnat is RFC 6598 shared address space, private in practice.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// containerRuntimes are prefixes of container cgroup names, as the systemd
// cgroup driver writes them ("cri-containerd-<id>.scope").
var containerRuntimes = []string{"cri-containerd-", "docker-", "crio-", "libpod-", "containerd-"}

// CgroupName derives a workload name and kind from a cgroup v2 path:
// "/" is the host, systemd units keep their unit name, containers become
// "<runtime>-<first 12 hex digits of the id>", anything else is its last element.
func CgroupName(cgPath string) (workload, kind string) {
	if cgPath == "/" || cgPath == "" {
		return "host", "host"
	}
	base := path.Base(cgPath)
	if isContainerID(base) {
		// cgroupfs driver: /docker/<id>, /kubepods/burstable/pod<uid>/<id>.
		runtime := path.Base(path.Dir(cgPath))
		if runtime != "docker" && runtime != "libpod" {
			runtime = "container"
		}
		return runtime + "-" + base[:12], "container"
	}
	for _, rt := range containerRuntimes {
		if id, ok := strings.CutPrefix(strings.TrimSuffix(base, ".scope"), rt); ok && isContainerID(id) {
			return rt + id[:12], "container"
		}
	}
	for _, unit := range []string{".service", ".scope", ".socket", ".mount", ".slice", ".swap"} {
		if strings.HasSuffix(base, unit) {
			return base, "systemd"
		}
	}
	return base, "cgroup"
}

// isContainerID reports a 64-digit hex container id.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
