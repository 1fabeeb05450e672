// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package cgroups

import (
	"fmt"
	"sync"
	"time"
)

// Index maps cgroup ids to paths relative to the hierarchy root ("/" for
// the root itself).
//
// It reads the tree (walks it) only when asked about an id it does not
// know, and then once for all ids counted before a moment the caller names.
// An id comes from a counter the kernel incremented while the cgroup
// existed, and ids are never reused, so a walk that began after the
// increment was counted either finds the cgroup or proves it removed: no
// answer is a guess, and no rate limit can leave a new cgroup unnamed. A
// caller that drains a kernel table passes, for every id of the drain, one
// moment taken after the kernel stopped writing to it; the drain then costs
// at most one walk, however many new cgroups it names.
//
// A walk of 10,000 cgroups (2,500 pods of 3 containers, 18 files in each
// cgroup) takes about 50 ms on a 2-vCPU VM, nearly all of it in system
// calls (a getdents64 per parent cgroup, a stat per cgroup); the obvious
// filepath.WalkDir with a stat per directory takes 230 ms. Measured with
// BenchmarkIndexWalk, as root:
// go test -run '^$' -bench IndexWalk -benchtime 20x ./internal/cgroups/.
// A node's few hundred cgroups take a few milliseconds.
//
// Cgroups that a walk no longer finds are remembered for keepRemoved after
// their last lookup: a container's last increments are drained after it
// is gone, and its sockets can outlive its cgroup.
type Index struct {
	root string
	now  func() time.Time

	mu      sync.Mutex
	paths   map[uint64]string // what the last walk found
	removed map[uint64]removedCgroup
	// gone holds ids proven absent: a complete walk that began after
	// they were counted did not find them (removed before they were
	// seen, or outside root).
	gone map[uint64]struct{}
	// lastWalk is when the last walk began (zero: none yet); walkErr
	// says why it was incomplete.
	lastWalk time.Time
	walkErr  error
	walks    int
}

type removedCgroup struct {
	path string
	used time.Time
}

const (
	// keepRemoved is how long a removed cgroup stays named after its
	// last lookup: longer than any scrape interval.
	keepRemoved = 10 * time.Minute
	// maxRemembered bounds the removed and gone sets (a few MB); past it
	// a set starts over, which costs at most a walk.
	maxRemembered = 1 << 16
)

// NewIndex returns an index of the hierarchy mounted at root. It reads
// nothing before the first lookup.
func NewIndex(root string) *Index {
	return &Index{
		root: root, now: time.Now,
		paths: map[uint64]string{}, removed: map[uint64]removedCgroup{}, gone: map[uint64]struct{}{},
	}
}

// Path returns the path of cgroup id, whose increments were all counted
// before counted. found is false when the cgroup is gone (or outside the
// root): a walk that began after counted did not find it. An error means the
// tree could not be read whole: the cgroup may exist, ask again later (with
// a later counted, which allows a new walk).
func (x *Index) Path(id uint64, counted time.Time) (path string, found bool, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if p, ok := x.lookup(id); ok {
		return p, true, nil
	}
	if _, ok := x.gone[id]; ok {
		return "", false, nil
	}
	if !x.lastWalk.After(counted) {
		x.walk()
		if p, ok := x.paths[id]; ok {
			return p, true, nil
		}
	}
	if x.walkErr != nil {
		return "", false, fmt.Errorf("cgroup %d not found, but the tree was not read whole: %w", id, x.walkErr)
	}
	if len(x.gone) >= maxRemembered {
		clear(x.gone)
	}
	x.gone[id] = struct{}{}
	return "", false, nil
}

func (x *Index) lookup(id uint64) (string, bool) {
	if p, ok := x.paths[id]; ok {
		return p, true
	}
	if r, ok := x.removed[id]; ok {
		r.used = x.now()
		x.removed[id] = r
		return r.path, true
	}
	return "", false
}

// walk reads the tree again. Cgroups of the previous walk it does not find
// move to the removed set, whose entries unused for keepRemoved go.
func (x *Index) walk() {
	start := x.now()
	paths := make(map[uint64]string, len(x.paths))
	err := walkTree(x.root, func(id uint64, p string) { paths[id] = p })
	for id, p := range x.paths {
		if _, ok := paths[id]; !ok {
			x.removed[id] = removedCgroup{path: p, used: start}
		}
	}
	for id, r := range x.removed {
		if _, ok := paths[id]; ok || start.Sub(r.used) > keepRemoved {
			delete(x.removed, id)
		}
	}
	if len(x.removed) > maxRemembered {
		clear(x.removed)
	}
	x.paths, x.lastWalk, x.walkErr = paths, start, err
	x.walks++
}
