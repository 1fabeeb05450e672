// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package conntrack finds the backend that the node's NAT (kube-proxy's
// DNAT) sent a connection to a service to, by asking the kernel's
// connection tracking over netlink in the node's network namespace, and
// remembers the answers: each connection is looked up once, not once per
// scrape. It knows nothing of eBPF, Kubernetes or Prometheus.
package conntrack

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Config says where to look and how much to remember.
type Config struct {
	// Netns is the path of the network namespace whose connection
	// tracking holds the NAT (e.g. /run/netns/node or /proc/1/ns/net);
	// empty for the exporter's own. Entering another needs CAP_SYS_ADMIN.
	Netns string
	// MaxEntries bounds the remembered translations.
	MaxEntries int
	// TTL is how long an unused translation is remembered.
	TTL time.Duration
	// MissTTL is how long a failed lookup is remembered: long enough
	// that the collectors of one scrape ask once, short enough that a
	// lookup that failed for a passing reason is tried again.
	MissTTL time.Duration
}

// Outcome is the result of one lookup in the connection tracking table.
type Outcome int

// Outcomes of a lookup.
const (
	Translated Outcome = iota // the entry's reply comes from another address or port
	NotFound                  // no entry (expired, or the NAT is elsewhere), or no NAT on it
	Failed                    // the kernel answered with another error
	NumOutcomes
)

func (o Outcome) String() string {
	switch o {
	case Translated:
		return "translated"
	case NotFound:
		return "not_found"
	default:
		return "error"
	}
}

// Stats describe the translator for self-monitoring.
type Stats struct {
	Available bool
	// Lookups counts lookups in the kernel's table by Outcome, since start.
	Lookups      [NumOutcomes]uint64
	CacheEntries int
}

// tuple is a connection as its client sees it.
type tuple struct {
	protocol        uint8
	client, service netip.AddrPort
}

type entry struct {
	backend netip.AddrPort
	found   bool
	expires int64 // unix nanoseconds; a hit moves it on by TTL (misses: not)
}

// Translator answers which backend served a connection to a service
// frontend. It is safe for concurrent use; lookups are serialised, so the
// collectors of one scrape asking about the same connection cause one.
type Translator struct {
	cfg   Config
	now   func() time.Time
	err   error // why connection tracking is unavailable; nil when it is
	mu    sync.Mutex
	conn  *socket
	cache map[tuple]entry
	swept int64
	stats Stats
}

// Open connects to the connection tracking of cfg.Netns and checks that
// the kernel answers. When it cannot (no CAP_NET_ADMIN, no conntrack, a
// bad namespace path), the Translator still works, translates nothing,
// and Err says why.
func Open(cfg Config) *Translator {
	t := &Translator{cfg: cfg, now: time.Now, cache: map[tuple]entry{}}
	conn, err := dial(cfg.Netns)
	if err != nil {
		t.err = err
		return t
	}
	t.conn = conn
	t.stats.Available = true
	return t
}

func dial(netns string) (*socket, error) {
	s, err := dialIn(netns)
	if err != nil {
		return nil, err
	}
	// Creating the socket needs no privilege; asking does (CAP_NET_ADMIN).
	if err := s.stats(); err != nil {
		s.close()
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("query connection tracking: %w (needs CAP_NET_ADMIN)", err)
		}
		return nil, fmt.Errorf("query connection tracking: %w", err)
	}
	return s, nil
}

// Err says why connection tracking is unavailable, nil if it is available.
func (t *Translator) Err() error { return t.err }

// Close closes the netlink socket.
func (t *Translator) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		return nil
	}
	err := t.conn.close()
	t.conn = nil
	return err
}

// Translate returns the backend address and port the node's NAT sent the
// connection from client to service (protocol: IANA number) to, when the
// connection tracking table has it. Answers are remembered per connection.
func (t *Translator) Translate(protocol uint8, client, service netip.AddrPort) (netip.AddrPort, bool) {
	k := tuple{protocol, client, service}
	now := t.now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.cache[k]; ok && now < e.expires {
		if e.found {
			e.expires = now + int64(t.cfg.TTL)
			t.cache[k] = e
		}
		return e.backend, e.found
	}
	if t.conn == nil {
		return netip.AddrPort{}, false
	}
	backend, outcome := t.lookup(k)
	t.stats.Lookups[outcome]++
	e := entry{backend: backend, found: outcome == Translated, expires: now + int64(t.cfg.MissTTL)}
	if e.found {
		e.expires = now + int64(t.cfg.TTL)
	}
	t.remember(k, e, now)
	return e.backend, e.found
}

// Prefetch translates a connection that just started, while the node's
// connection tracking surely has it, so that Translate finds the answer at
// the scrape even when the entry has expired by then (UDP entries live
// 30 s after their last packet). A connection it cannot translate is not
// remembered, nor counted: the scrape asks again.
func (t *Translator) Prefetch(protocol uint8, client, service netip.AddrPort) {
	k := tuple{protocol, client, service}
	now := t.now().UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.cache[k]; (ok && now < e.expires) || t.conn == nil {
		return
	}
	backend, outcome := t.lookup(k)
	if outcome != Translated {
		return
	}
	t.stats.Lookups[Translated]++
	t.remember(k, entry{backend: backend, found: true, expires: now + int64(t.cfg.TTL)}, now)
}

// lookup asks the kernel for the entry whose original direction is k;
// the source of its reply direction is the backend.
func (t *Translator) lookup(k tuple) (netip.AddrPort, Outcome) {
	backend, err := t.conn.get(k)
	if errors.Is(err, unix.ENOENT) {
		return netip.AddrPort{}, NotFound
	}
	if err != nil {
		return netip.AddrPort{}, Failed
	}
	if backend.Addr().Unmap() == k.service.Addr().Unmap() && backend.Port() == k.service.Port() {
		return netip.AddrPort{}, NotFound // tracked, but not translated
	}
	return backend, Translated
}

// remember stores e, sweeping expired entries every MissTTL. When the
// cache is full even so, an eighth of it (whichever entries the map's
// random order yields) makes room: those connections, if still active,
// are looked up again.
func (t *Translator) remember(k tuple, e entry, now int64) {
	if now-t.swept > int64(t.cfg.MissTTL) {
		for k, e := range t.cache {
			if now >= e.expires {
				delete(t.cache, k)
			}
		}
		t.swept = now
	}
	if len(t.cache) >= t.cfg.MaxEntries {
		evict := max(t.cfg.MaxEntries/8, 1)
		for k := range t.cache {
			if evict == 0 {
				break
			}
			delete(t.cache, k)
			evict--
		}
	}
	t.cache[k] = e
}

// Stats returns the lookups made so far and the cache's size.
func (t *Translator) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.stats
	st.CacheEntries = len(t.cache)
	return st
}
