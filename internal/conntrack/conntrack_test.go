// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package conntrack

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podflow/podflow_exporter/internal/testnet"
)

func TestMain(m *testing.M) {
	testnet.MaybeRunHelper()
	os.Exit(m.Run())
}

// table is a network namespace whose connection tracking table the test
// fills with entries shaped like those a DNAT makes.
type table struct {
	path string
	conn *socket
}

func newTable(t testing.TB) *table {
	t.Helper()
	ns := testnet.New(t).Netns("ct")
	path := "/run/netns/" + ns.Name
	conn, err := dialIn(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.close() })
	return &table{path: path, conn: conn}
}

const ctaTimeout = 7 // CTA_TIMEOUT

// add creates the entry of a connection from client to service that the
// NAT sent to backend (backend == service: not translated), as
// conntrack -I would (IPCTNL_MSG_CT_NEW).
func (tb *table) add(t testing.TB, proto uint8, client, service, backend netip.AddrPort) {
	t.Helper()
	s := tb.conn
	family, _ := addrTypes(client.Addr())
	s.header(0 /* IPCTNL_MSG_CT_NEW */, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL, family)
	s.tuple(ctaTupleOrig, proto, client, service)
	s.tuple(ctaTupleReply, proto, backend, client)
	s.attr(ctaTimeout, []byte{0, 0, 0, 120}) // seconds, big endian
	if _, err := s.exchange(); err != nil {
		t.Fatalf("create conntrack entry %s -> %s: %v", client, service, err)
	}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

const tcp, udp = 6, 17

// TestTranslate asks a real connection tracking table: an entry whose
// reply comes from another address is translated; an entry without NAT
// and a missing one are not. Answers are cached: a hit for the TTL since
// its last use, a miss for the miss TTL; then the kernel is asked again.
func TestTranslate(t *testing.T) {
	tb := newTable(t)
	web, vip, backend := ap("10.40.0.2:40000"), ap("10.96.0.10:80"), ap("10.40.0.3:8080")
	tb.add(t, tcp, web, vip, backend)
	tb.add(t, tcp, ap("10.40.0.2:40001"), ap("10.40.0.9:443"), ap("10.40.0.9:443"))
	tb.add(t, udp, ap("[fd00::2]:40002"), ap("[fd00:96::a]:53"), ap("[fd00::4]:5353"))

	now := time.Unix(1_800_000_000, 0)
	tr := Open(Config{Netns: tb.path, MaxEntries: 100, TTL: time.Minute, MissTTL: 10 * time.Second})
	if err := tr.Err(); err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.now = func() time.Time { return now }

	for _, c := range []struct {
		name            string
		proto           uint8
		client, service netip.AddrPort
		want            netip.AddrPort
	}{
		{"DNAT", tcp, web, vip, backend},
		{"tracked without NAT", tcp, ap("10.40.0.2:40001"), ap("10.40.0.9:443"), netip.AddrPort{}},
		{"no entry", tcp, ap("10.40.0.2:40009"), vip, netip.AddrPort{}},
		{"no entry for UDP", udp, web, vip, netip.AddrPort{}},
		{"IPv6", udp, ap("[fd00::2]:40002"), ap("[fd00:96::a]:53"), ap("[fd00::4]:5353")},
		{"IPv4, v4-mapped", tcp, ap("[::ffff:10.40.0.2]:40000"), ap("[::ffff:10.96.0.10]:80"), backend},
	} {
		got, ok := tr.Translate(c.proto, c.client, c.service)
		if got != c.want || ok != c.want.IsValid() {
			t.Errorf("%s: Translate = %v, %v; want %v", c.name, got, ok, c.want)
		}
	}
	lookups := func() [NumOutcomes]uint64 { return tr.Stats().Lookups }
	if got := lookups(); got != [NumOutcomes]uint64{Translated: 3, NotFound: 3} {
		t.Fatalf("lookups %v", got)
	}

	// Within the TTLs, the cache answers.
	now = now.Add(9 * time.Second)
	tr.Translate(tcp, web, vip)
	tr.Translate(tcp, ap("10.40.0.2:40009"), vip)
	if got := lookups(); got != [NumOutcomes]uint64{Translated: 3, NotFound: 3} {
		t.Errorf("cached answers looked up again: %v", got)
	}
	// A miss is asked again after the miss TTL; a hit used within its
	// TTL stays.
	now = now.Add(50 * time.Second)
	tr.Translate(tcp, web, vip)
	tr.Translate(tcp, ap("10.40.0.2:40009"), vip)
	if got := lookups(); got != [NumOutcomes]uint64{Translated: 3, NotFound: 4} {
		t.Errorf("after the miss TTL: %v", got)
	}
	// A hit unused for its TTL is asked again.
	now = now.Add(61 * time.Second)
	if got, ok := tr.Translate(tcp, web, vip); !ok || got != backend {
		t.Errorf("after the TTL: %v, %v", got, ok)
	}
	if got := lookups(); got != [NumOutcomes]uint64{Translated: 4, NotFound: 4} {
		t.Errorf("after the TTL: %v", got)
	}
	if st := tr.Stats(); !st.Available || st.CacheEntries == 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestCacheBounded: the cache never holds more than MaxEntries answers.
func TestCacheBounded(t *testing.T) {
	tb := newTable(t)
	tr := Open(Config{Netns: tb.path, MaxEntries: 8, TTL: time.Hour, MissTTL: time.Hour})
	defer tr.Close()
	client := ap("10.40.0.2:40000")
	for i := range 50 {
		tr.Translate(tcp, netip.AddrPortFrom(client.Addr(), client.Port()+uint16(i)), ap("10.96.0.10:80"))
		if n := tr.Stats().CacheEntries; n > 8 {
			t.Fatalf("%d entries cached, at most 8 allowed", n)
		}
	}
	if st := tr.Stats(); st.Lookups[NotFound] != 50 {
		t.Errorf("lookups %v, want 50 not found", st.Lookups)
	}
}

// TestUnavailable: a namespace that cannot be entered makes a translator
// that says why and translates nothing.
func TestUnavailable(t *testing.T) {
	tr := Open(Config{Netns: "/nonexistent/netns", MaxEntries: 8, TTL: time.Minute, MissTTL: time.Second})
	if tr.Err() == nil {
		t.Fatal("no error for a namespace that does not exist")
	}
	if _, ok := tr.Translate(tcp, ap("10.40.0.2:40000"), ap("10.96.0.10:80")); ok {
		t.Error("translated without connection tracking")
	}
	if st := tr.Stats(); st.Available || st.Lookups != [NumOutcomes]uint64{} {
		t.Errorf("stats %+v", st)
	}
	if err := tr.Close(); err != nil {
		t.Error(err)
	}
}

// BenchmarkTranslate measures a lookup in the kernel's connection tracking
// (one netlink GET) against the cached path, in the same run, with 10,000
// connections in the table:
//
//	go test -run '^$' -bench Translate -benchtime 20000x ./internal/conntrack/
func BenchmarkTranslate(b *testing.B) {
	const entries = 10_000
	tb := newTable(b)
	base := ap("10.40.0.2:20000")
	vip, backend := ap("10.96.0.10:80"), ap("10.40.0.3:8080")
	for i := range entries {
		tb.add(b, tcp, netip.AddrPortFrom(base.Addr(), base.Port()+uint16(i)), vip, backend)
	}
	tr := Open(Config{Netns: tb.path, MaxEntries: entries, TTL: time.Hour, MissTTL: time.Hour})
	if err := tr.Err(); err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	var get, cached time.Duration
	n := 0
	for b.Loop() {
		client := netip.AddrPortFrom(base.Addr(), base.Port()+uint16(n%entries))
		k := tuple{tcp, client, vip}
		start := time.Now()
		if got, o := tr.lookup(k); o != Translated || got != backend {
			b.Fatalf("lookup %v: %v %v", client, got, o)
		}
		get += time.Since(start)
		tr.Translate(tcp, client, vip) // fills the cache (a second GET, not timed)
		start = time.Now()
		if got, ok := tr.Translate(tcp, client, vip); !ok || got != backend {
			b.Fatalf("cached %v: %v", client, got)
		}
		cached += time.Since(start)
		n++
	}
	b.ReportMetric(float64(get.Nanoseconds())/float64(n), "get-ns/op")
	b.ReportMetric(float64(cached.Nanoseconds())/float64(n), "cached-ns/op")
	b.ReportMetric(float64(get)/float64(cached), "x-cached")
}

// TestPrefetch: a connection translated early keeps its answer after its
// entry is gone from the table; one that could not be translated early is
// neither remembered nor counted, and the scrape asks again.
func TestPrefetch(t *testing.T) {
	tb := newTable(t)
	web, vip, backend := ap("10.40.0.2:40000"), ap("10.96.0.10:53"), ap("10.40.0.3:5353")
	tb.add(t, udp, web, vip, backend)
	tr := Open(Config{Netns: tb.path, MaxEntries: 100, TTL: time.Minute, MissTTL: 10 * time.Second})
	defer tr.Close()
	tr.Prefetch(udp, web, vip)
	tr.Prefetch(udp, ap("10.40.0.2:40001"), vip) // no entry
	if got := tr.Stats().Lookups; got != [NumOutcomes]uint64{Translated: 1} {
		t.Errorf("lookups after prefetching %v", got)
	}
	tb.remove(t, udp, web, vip)
	if got, ok := tr.Translate(udp, web, vip); !ok || got != backend {
		t.Errorf("after the entry expired: %v, %v; want %v", got, ok, backend)
	}
	if _, ok := tr.Translate(udp, ap("10.40.0.2:40001"), vip); ok {
		t.Error("translated without an entry")
	}
	if got := tr.Stats().Lookups; got != [NumOutcomes]uint64{Translated: 1, NotFound: 1} {
		t.Errorf("lookups at the scrape %v", got)
	}
}

// remove deletes the entry of a connection, as its expiry would
// (IPCTNL_MSG_CT_DELETE).
func (tb *table) remove(t testing.TB, proto uint8, client, service netip.AddrPort) {
	t.Helper()
	family, _ := addrTypes(client.Addr())
	tb.conn.header(2 /* IPCTNL_MSG_CT_DELETE */, unix.NLM_F_ACK, family)
	tb.conn.tuple(ctaTupleOrig, proto, client, service)
	if _, err := tb.conn.exchange(); err != nil {
		t.Fatalf("delete conntrack entry %s -> %s: %v", client, service, err)
	}
	if _, err := tb.conn.get(tuple{proto, client, service}); err != unix.ENOENT {
		t.Fatalf("entry %s -> %s still there: %v", client, service, err)
	}
}
