// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package translation translates each connection to a Kubernetes service
// frontend into the backend that served it (--collector.translation): the
// kernel keeps each connection to a frontend apart, the frontends come from
// the Kubernetes cache, and the node's connection tracking says which
// backend the NAT (kube-proxy) chose for each.
package translation

import (
	"net/netip"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/podflow/podflow_exporter/internal/conntrack"
)

// Options size what a Translator remembers; they come from other
// packages' flags.
type Options struct {
	// CacheEntries bounds the remembered translations; at least
	// minCacheEntries. One per connection the kernel keeps apart: the
	// size of its flow table.
	CacheEntries int
	// TTL is how long an unused translation is remembered. A translation
	// is needed at each scrape while the connection lasts: keep it as
	// long as a series would be (--collector.flows.idle-ttl).
	TTL time.Duration
}

const (
	// minCacheEntries keeps a small flow table from making translations
	// that are looked up again at every scrape.
	minCacheEntries = 1024
	// missTTL is how long a failed lookup is remembered: the collectors of
	// one scrape ask once, and the next scrape asks again.
	missTTL = 10 * time.Second
)

// Translator translates connections to services, and keeps the kernel's
// table of frontends and its own cache in step once Run. It is safe for
// concurrent use.
type Translator struct {
	ct     *conntrack.Translator
	logger log.Logger
	// every is how often connections that just started are translated
	// (prefetchInterval; shorter in tests).
	every time.Duration
	// loops lets tests wait for Run's goroutines to end.
	loops sync.WaitGroup

	mu     sync.Mutex
	kernel Kernel // set by Run, for Stats
}

// Open opens the node's connection tracking in cfg.Netns, and logs once
// whether it is available and, if not, why. When it is not, the Translator
// translates nothing (connections to services are named by the service),
// Err says why, and Run does nothing. Never nil.
func Open(cfg *Config, opts Options, logger log.Logger) *Translator {
	t := &Translator{
		ct: conntrack.Open(conntrack.Config{
			Netns:      cfg.Netns,
			MaxEntries: max(opts.CacheEntries, minCacheEntries),
			TTL:        opts.TTL,
			MissTTL:    missTTL,
		}),
		logger: logger,
		every:  prefetchInterval,
	}
	netns := cfg.Netns
	if netns == "" {
		netns = "own"
	}
	if err := t.ct.Err(); err != nil {
		level.Warn(logger).Log("msg", "connection tracking unavailable: connections to services are named by the service, not by the backend that served them (see --collector.translation)", "netns", netns, "err", err)
	} else {
		level.Info(logger).Log("msg", "translating connections to services into their backends from connection tracking", "netns", netns)
	}
	return t
}

// Err says why connection tracking is unavailable; nil when it answers.
// The kernel need keep connections to services apart only when it does.
func (t *Translator) Err() error { return t.ct.Err() }

// Translate returns the backend address and port the node's NAT sent the
// connection from client to service (protocol: IANA number) to, when the
// connection tracking table has it or had it when the connection started.
func (t *Translator) Translate(protocol uint8, client, service netip.AddrPort) (netip.AddrPort, bool) {
	return t.ct.Translate(protocol, client, service)
}

// Stats describe translation for self-monitoring.
type Stats struct {
	// Available says the node's connection tracking answers.
	Available bool
	// Lookups counts lookups in the connection tracking table by outcome
	// (translated, not_found, error; each present), since Open.
	Lookups      map[string]uint64
	CacheEntries int
	// Frontends is the number of service frontends in the kernel's table;
	// 0 until Run.
	Frontends int
}

// Stats returns the lookups made so far, the cache's size and the
// kernel's number of frontends.
func (t *Translator) Stats() Stats {
	st := t.ct.Stats()
	out := Stats{Available: st.Available, CacheEntries: st.CacheEntries, Lookups: make(map[string]uint64, conntrack.NumOutcomes)}
	for o := range conntrack.NumOutcomes {
		out.Lookups[o.String()] = st.Lookups[o]
	}
	t.mu.Lock()
	k := t.kernel
	t.mu.Unlock()
	if st.Available && k != nil {
		out.Frontends = k.Services()
	}
	return out
}

// Close closes the connection to connection tracking; Translate then
// answers from its cache only. Run's loops end with their context, not
// here.
func (t *Translator) Close() error { return t.ct.Close() }
