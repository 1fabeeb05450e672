// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/collector"
	"github.com/podflow/podflow_exporter/internal/conntrack"
	"github.com/podflow/podflow_exporter/kube"
)

// Translation of connections to services (--collector.translation): the
// kernel keeps each connection to a service frontend apart, the frontends
// come from the Kubernetes cache, and the node's connection tracking says
// which backend served each.

// openTranslator opens the node's connection tracking for
// --collector.translation in Kubernetes mode; nil when translation is off.
// When it cannot be opened, the reason is logged once and connections to
// services are named by the service.
func openTranslator(f *flags, kubernetes bool, logger log.Logger) *conntrack.Translator {
	if !kubernetes || !f.collector.IsEnabled("translation") {
		return nil
	}
	t := conntrack.Open(conntrack.Config{
		Netns:      f.collector.TranslationNetns,
		MaxEntries: int(max(f.bpf.FlowTableEntries, 1024)),
		// A translation is needed at each scrape while the connection
		// lasts: keep it as long as a series would be.
		TTL:     f.collector.IdleTTL,
		MissTTL: 10 * time.Second,
	})
	netns := f.collector.TranslationNetns
	if netns == "" {
		netns = "own"
	}
	if err := t.Err(); err != nil {
		level.Warn(logger).Log("msg", "connection tracking unavailable: connections to services are named by the service, not by the backend that served them (see --collector.translation)", "netns", netns, "err", err)
	} else {
		level.Info(logger).Log("msg", "translating connections to services into their backends from connection tracking", "netns", netns)
	}
	return t
}

// syncFrontends keeps the kernel's table of service frontends equal to
// the Kubernetes cache's, each time the cache says they changed.
func syncFrontends(ctx context.Context, cache *kube.Cache, tracer *bpf.Tracer, logger log.Logger) {
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-cache.FrontendsChanged():
		}
		fs := cache.Frontends()
		out := make([]bpf.ServiceFrontend, len(fs))
		for i, f := range fs {
			out[i] = bpf.ServiceFrontend{Addr: f.Addr, Protocol: f.Protocol}
		}
		err := tracer.SetServices(out)
		if msg := fmt.Sprint(err); err != nil && msg != lastErr {
			level.Warn(logger).Log("msg", "service frontends not all in the kernel's table: their connections are named by the service", "err", err)
			lastErr = msg
		} else if err == nil {
			lastErr = ""
		}
	}
}

// prefetchInterval is how often connections that just started are
// translated: well within the 30 s a UDP entry of the connection tracking
// lives after its last packet.
const prefetchInterval = time.Second

// prefetch translates, every prefetchInterval, the connections to services
// the kernel saw start, so that their translation outlives their entry in
// the connection tracking table until the scrape.
func prefetch(ctx context.Context, tracer *bpf.Tracer, t *conntrack.Translator, logger log.Logger) {
	tick := time.NewTicker(prefetchInterval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := tracer.DrainNewConnections(func(k bpf.FlowKey) {
			t.Prefetch(k.Protocol, netip.AddrPortFrom(k.Local, k.ClientPort), netip.AddrPortFrom(k.Remote, k.ServerPort))
		})
		if err != nil && !failing {
			level.Warn(logger).Log("msg", "reading new connections to services failed: they are translated at the scrape", "err", err)
		}
		failing = err != nil
	}
}

// translationStatus reports on translation for its collector.
type translationStatus struct {
	t      *conntrack.Translator
	tracer *bpf.Tracer
}

func (s translationStatus) TranslationStats() collector.TranslationStats {
	st := s.t.Stats()
	out := collector.TranslationStats{Available: st.Available, CacheEntries: st.CacheEntries, Lookups: map[string]uint64{}}
	for o := range conntrack.NumOutcomes {
		out.Lookups[o.String()] = st.Lookups[o]
	}
	if st.Available {
		out.Frontends = s.tracer.Services()
	}
	return out
}
