// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"net/netip"
	"time"

	"github.com/go-kit/log"
	"k8s.io/apimachinery/pkg/types"
)

// NewTestCache returns a synced cache without informers, fed by Apply:
// for tests and benchmarks of this package and its external test package.
func NewTestCache(cfg *Config) *Cache {
	c := &Cache{
		cfg: cfg, logger: log.NewNopLogger(),
		pods: map[types.UID]*podInfo{}, podIPs: map[netip.Addr][]*podInfo{},
		services: map[string]*serviceInfo{}, clusterIP: map[netip.Addr]*serviceInfo{},
		nodes: map[string][]netip.Addr{}, nodeIPs: map[netip.Addr]string{},
		slices: map[string]*sliceInfo{}, endpoints: map[netip.Addr][]string{}, frontends: newFrontendIndex(),
		objects: map[string]int{}, watchErrs: map[string]uint64{}, lastRBAC: map[string]time.Time{},
	}
	c.synced.Store(true)
	return c
}

// Apply feeds an object to the cache as an informer would.
func (c *Cache) Apply(resource string, obj any) { c.update(resource, obj, false) }
