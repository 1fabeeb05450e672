// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ServiceFrontend is an address, port and protocol that the node's NAT
// (kube-proxy) sends to one of a service's backends.
type ServiceFrontend struct {
	Addr     netip.AddrPort
	Protocol uint8 // IANA number: 6 TCP, 17 UDP
}

// serviceTable mirrors the kernel's translated_services table, so that
// keeping it in step writes only the differences.
type serviceTable struct {
	mu       sync.Mutex
	m        *ebpf.Map
	capacity uint32
	keys     map[podflowServiceKey]struct{}
}

func newServiceTable(m *ebpf.Map, capacity uint32) serviceTable {
	return serviceTable{m: m, capacity: capacity, keys: map[podflowServiceKey]struct{}{}}
}

func serviceKey(f ServiceFrontend) podflowServiceKey {
	return podflowServiceKey{Addr: f.Addr.Addr().As16(), Port: f.Addr.Port(), Protocol: f.Protocol}
}

// SetServices makes the translated-services table hold exactly the given
// frontends: client connections to them are kept apart by client port
// when the programs were loaded with Options.TranslateServices. Frontends
// beyond the table's capacity are left out and reported in the error;
// their connections are counted like any other flow.
func (t *Tracer) SetServices(frontends []ServiceFrontend) error {
	s := &t.services
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make(map[podflowServiceKey]struct{}, len(frontends))
	for _, f := range frontends {
		want[serviceKey(f)] = struct{}{}
	}
	var errs []error
	for k := range s.keys {
		if _, ok := want[k]; ok {
			continue
		}
		if err := s.m.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("remove service frontend: %w", err))
			continue
		}
		delete(s.keys, k)
	}
	full := 0
	for k := range want {
		if _, ok := s.keys[k]; ok {
			continue
		}
		if err := s.m.Put(&k, uint8(1)); err != nil {
			if errors.Is(err, unix.E2BIG) || uint32(len(s.keys)) >= s.capacity {
				full++
			} else {
				errs = append(errs, fmt.Errorf("add service frontend: %w", err))
			}
			continue
		}
		s.keys[k] = struct{}{}
	}
	if full > 0 {
		errs = append(errs, fmt.Errorf("translated-services table full (--bpf.service-table-entries=%d): %d frontends left out", s.capacity, full))
	}
	return errors.Join(errs...)
}

// Services returns the number of frontends in the translated-services table.
func (t *Tracer) Services() int {
	t.services.mu.Lock()
	defer t.services.mu.Unlock()
	return len(t.services.keys)
}

// DrainNewConnections hands fn, and forgets, each connection to a
// translated service whose flow a program started since the previous call
// (its key, ClientPort set), so that user space can translate it while the
// node's connection tracking still has it. When more started than the
// table holds, the oldest are missing; they are translated at the scrape.
func (t *Tracer) DrainNewConnections(fn func(FlowKey)) error {
	m := t.objs.NewConnections
	count := func(k *podflowFlowKey, _ []uint8) {
		fk, _ := flowKeyFromKernel(k, true)
		fn(fk)
	}
	err := drainSingle(m, count)
	if errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.ENOSPC) {
		err = drainByIteration(m, 1, count)
	}
	if err != nil {
		return fmt.Errorf("drain new connections: %w", err)
	}
	return nil
}

// drainSingle is drainByBatch for a table that is not per CPU.
func drainSingle(m *ebpf.Map, fn func(*podflowFlowKey, []uint8)) error {
	keys := make([]podflowFlowKey, batchSize)
	vals := make([]uint8, batchSize)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookupAndDelete(&cursor, keys, vals, nil)
		for i := range n {
			fn(&keys[i], vals[i:i+1])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
