// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package translation

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/go-kit/log/level"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/kube"
)

// Frontends is what the Kubernetes cache offers: the service frontends,
// and word when they change. *kube.Cache satisfies it.
type Frontends interface {
	// FrontendsChanged receives a value after the frontends may have
	// changed.
	FrontendsChanged() <-chan struct{}
	Frontends() []kube.Frontend
}

// Kernel is what the eBPF side offers: the table of frontends whose
// connections it keeps apart, and the connections to them that started.
// *bpf.Tracer satisfies it.
type Kernel interface {
	SetServices([]bpf.ServiceFrontend) error
	Services() int
	DrainNewConnections(func(bpf.FlowKey)) error
}

var (
	_ Frontends = (*kube.Cache)(nil)
	_ Kernel    = (*bpf.Tracer)(nil)
)

// prefetchInterval is how often connections that just started are
// translated: well within the 30 s a UDP entry of the connection tracking
// lives after its last packet.
const prefetchInterval = time.Second

// Run keeps the kernel's table of frontends equal to fe's, and translates
// the connections the kernel saw start while connection tracking surely
// has them, in goroutines that end with ctx. Call it once. It does nothing
// when connection tracking is unavailable (Err): the kernel was then not
// told to keep connections to services apart.
func (t *Translator) Run(ctx context.Context, fe Frontends, k Kernel) {
	if t.Err() != nil {
		return
	}
	t.mu.Lock()
	t.kernel = k
	t.mu.Unlock()
	t.loops.Add(2)
	go func() {
		defer t.loops.Done()
		t.syncFrontends(ctx, fe, k)
	}()
	go func() {
		defer t.loops.Done()
		t.prefetch(ctx, k)
	}()
}

// syncFrontends keeps the kernel's table of service frontends equal to
// the Kubernetes cache's, each time the cache says they changed. An error
// is logged when it first occurs and when it changes, not at every change
// of a large cluster's services.
func (t *Translator) syncFrontends(ctx context.Context, fe Frontends, k Kernel) {
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-fe.FrontendsChanged():
		}
		fs := fe.Frontends()
		out := make([]bpf.ServiceFrontend, len(fs))
		for i, f := range fs {
			out[i] = bpf.ServiceFrontend{Addr: f.Addr, Protocol: f.Protocol}
		}
		err := k.SetServices(out)
		if msg := fmt.Sprint(err); err != nil && msg != lastErr {
			level.Warn(t.logger).Log("msg", "service frontends not all in the kernel's table: their connections are named by the service", "err", err)
			lastErr = msg
		} else if err == nil {
			lastErr = ""
		}
	}
}

// prefetch translates, every t.every, the connections to services the
// kernel saw start, so that their translation outlives their entry in the
// connection tracking table until the scrape. A failure to read them is
// logged once until reading works again.
func (t *Translator) prefetch(ctx context.Context, k Kernel) {
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := k.DrainNewConnections(func(f bpf.FlowKey) {
			t.ct.Prefetch(f.Protocol, netip.AddrPortFrom(f.Local, f.ClientPort), netip.AddrPortFrom(f.Remote, f.ServerPort))
		})
		if err != nil && !failing {
			level.Warn(t.logger).Log("msg", "reading new connections to services failed: they are translated at the scrape", "err", err)
		}
		failing = err != nil
	}
}
