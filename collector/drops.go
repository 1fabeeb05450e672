// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package collector

import (
	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/flow"
	"github.com/podflow/podflow_exporter/naming"
)

func init() {
	registerDrained("drops", []bpf.Table{bpf.TableDrops}, []string{bpf.ProgDrops}, newDrops)
}

// unknownReason is the reason label of a drop reason the kernel's names
// (Sources.DropReasons) lack.
const unknownReason = "UNKNOWN"

// teardownReasons are the kernel drop reasons that free what a socket's
// queues still hold when it closes (a FIN or data the application never
// read): the normal end of a connection, one per short HTTP exchange, not
// loss on the network. They are exported apart, so that the drop families
// and their alert mean loss.
var teardownReasons = map[string]bool{"QUEUE_PURGE": true, "SOCKET_CLOSE": true}

// drops exports the packets the kernel dropped per flow and reason, and
// apart what it discarded from closing sockets. A packet dropped without a
// socket has no cgroup: its local side is named by address (a pod's) or as
// the host.
type drops struct {
	// teardown says which kernel reasons are teardownReasons.
	teardown map[uint32]bool
	drops    *store[uint64, counters] // packets, bytes
	discards *store[uint64, counters] // packets, bytes of teardown reasons
}

func newDrops(cfg *Config, schema naming.Schema, src Sources) (drainedFamily, error) {
	names := src.DropReasons
	reason := label{name: "reason", value: func(_ *naming.Edge, variant uint32) string {
		if name, ok := names[variant]; ok {
			return name
		}
		return unknownReason
	}}
	d := &drops{
		teardown: map[uint32]bool{},
		drops: newStore[uint64, counters](append(identityLabels(schema), reason), cfg.MaxSeries,
			familySpec{"podflow_drop_packets_total", "Packets the kernel dropped, by reason (its skb drop reason; UNKNOWN when the kernel does not name it), per flow. Packets freed from a closing socket's queues are podflow_socket_discard_packets_total."},
			familySpec{"podflow_drop_bytes_total", "Bytes (IP length) of the packets the kernel dropped, by reason, per flow."},
		),
		discards: newStore[uint64, counters](append(identityLabels(schema), reason), cfg.MaxSeries,
			familySpec{"podflow_socket_discard_packets_total", "Packets still queued in a socket when it closed, which the kernel freed (drop reason QUEUE_PURGE or SOCKET_CLOSE: a FIN or data the application never read), per flow: the normal end of a connection, not loss."},
			familySpec{"podflow_socket_discard_bytes_total", "Bytes (IP length) of the packets freed from a socket's queues when it closed, by reason, per flow."},
		),
	}
	for n, name := range names {
		if teardownReasons[name] {
			d.teardown[n] = true
		}
	}
	return d, nil
}

func (d *drops) stores() []familyStore { return []familyStore{d.drops, d.discards} }

func (d *drops) consume(b *flow.Batch) {
	p := flow.Drops.In(b)
	var v [2]uint64
	for i := range p.Increments {
		inc := &p.Increments[i]
		v = [2]uint64{inc.Value.Packets, inc.Value.Bytes}
		s := d.drops
		if d.teardown[inc.Value.Reason] {
			s = d.discards
		}
		s.add(&inc.Edge, inc.Value.Reason, v[:], b.Time)
	}
	d.drops.addOverflow(0, 0, &p.Overflow.Packets, b.Time)
	d.drops.addOverflow(1, 0, &p.Overflow.Bytes, b.Time)
}
