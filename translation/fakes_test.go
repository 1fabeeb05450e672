// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package translation

import (
	"fmt"
	"slices"
	"sync"

	"github.com/podflow/podflow_exporter/bpf"
	"github.com/podflow/podflow_exporter/kube"
)

// Fakes of the two small interfaces Run uses, and a logger that keeps what
// is logged: connection tracking itself is real in these tests.

// recorder is a go-kit logger that keeps what is logged.
type recorder struct {
	mu      sync.Mutex
	entries []map[string]string
}

func (r *recorder) Log(keyvals ...any) error {
	e := map[string]string{}
	for i := 0; i+1 < len(keyvals); i += 2 {
		e[fmt.Sprint(keyvals[i])] = fmt.Sprint(keyvals[i+1])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
	return nil
}

// at returns the entries logged at level lvl.
func (r *recorder) at(lvl string) []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, e := range r.entries {
		if e["level"] == lvl {
			out = append(out, e)
		}
	}
	return out
}

// fakeFrontends stands for the Kubernetes cache.
type fakeFrontends struct {
	mu      sync.Mutex
	list    []kube.Frontend
	changed chan struct{}
}

func newFakeFrontends() *fakeFrontends { return &fakeFrontends{changed: make(chan struct{}, 1)} }

// set changes the frontends and says so, as the cache does.
func (f *fakeFrontends) set(list []kube.Frontend) {
	f.mu.Lock()
	f.list = list
	f.mu.Unlock()
	f.changed <- struct{}{}
}

func (f *fakeFrontends) FrontendsChanged() <-chan struct{} { return f.changed }

func (f *fakeFrontends) Frontends() []kube.Frontend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list)
}

// drain is one answer of fakeKernel.DrainNewConnections.
type drain struct {
	keys []bpf.FlowKey
	err  error
}

// fakeKernel stands for the eBPF side: it hands over each SetServices
// call, answers with the scripted errors, and drains the scripted
// connections (then nothing, telling drained).
type fakeKernel struct {
	mu       sync.Mutex
	setErrs  []error
	services int
	calls    chan []bpf.ServiceFrontend
	drains   []drain
	drained  chan struct{}
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{calls: make(chan []bpf.ServiceFrontend, 16), drained: make(chan struct{})}
}

func (k *fakeKernel) SetServices(fs []bpf.ServiceFrontend) error {
	k.mu.Lock()
	var err error
	if len(k.setErrs) > 0 {
		err, k.setErrs = k.setErrs[0], k.setErrs[1:]
	}
	k.services = len(fs)
	k.mu.Unlock()
	k.calls <- fs
	return err
}

func (k *fakeKernel) Services() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.services
}

func (k *fakeKernel) DrainNewConnections(fn func(bpf.FlowKey)) error {
	k.mu.Lock()
	if len(k.drains) == 0 {
		k.mu.Unlock()
		select {
		case <-k.drained:
		default:
			close(k.drained)
		}
		return nil
	}
	d := k.drains[0]
	k.drains = k.drains[1:]
	k.mu.Unlock()
	for _, key := range d.keys {
		fn(key)
	}
	return d.err
}
