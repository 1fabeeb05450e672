// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package cgroups

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func mkdir(t testing.TB, path string) uint64 {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	id, err := ID(path)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// The index maps inode numbers to paths in any directory tree; cgroupfs is
// one (a cgroup's id is its directory's inode number).
func TestIndex(t *testing.T) {
	root := t.TempDir()
	rootID := mkdir(t, root)
	sshID := mkdir(t, filepath.Join(root, "system.slice", "ssh.service"))
	x := NewIndex(root)
	path := func(id uint64, counted time.Time) (string, bool) {
		t.Helper()
		p, found, err := x.Path(id, counted)
		if err != nil {
			t.Fatal(err)
		}
		return p, found
	}
	lookups := []struct {
		name    string
		id      uint64
		want    string
		walks   int
		counted time.Time
	}{
		{"the root, first lookup: a walk", rootID, "/", 1, time.Now()},
		{"known", sshID, "/system.slice/ssh.service", 1, time.Now()},
	}
	for _, l := range lookups {
		if got, ok := path(l.id, l.counted); !ok || got != l.want || x.walks != l.walks {
			t.Errorf("%s: Path = %q, %v after %d walks; want %q after %d", l.name, got, ok, x.walks, l.want, l.walks)
		}
	}

	// Cgroups created after the walk, all counted before one moment (a
	// drain): found at once, with one walk for all of them.
	var late []uint64
	for i := range 5 {
		late = append(late, mkdir(t, filepath.Join(root, "kubepods.slice", fmt.Sprintf("pod-%d", i))))
	}
	drain := time.Now()
	for i, id := range late {
		if got, ok := path(id, drain); !ok || got != fmt.Sprintf("/kubepods.slice/pod-%d", i) {
			t.Errorf("new cgroup %d: Path = %q, %v", i, got, ok)
		}
	}
	if x.walks != 2 {
		t.Errorf("%d walks for 5 new cgroups of one drain, want 2 (one more)", x.walks)
	}

	// An id no cgroup has (removed before it was seen): proven gone by the
	// walk that began after the drain, with no further walk, now or later.
	const never = 1 << 62
	if _, ok := path(never, drain); ok {
		t.Error("found an id no directory has")
	}
	if _, ok := path(never, time.Now()); ok || x.walks != 2 {
		t.Errorf("gone id: found %v, %d walks; want not found, still 2 walks", ok, x.walks)
	}

	// A removed cgroup stays named: its last increments come after it.
	// (The new one first: unlike cgroupfs ids, ext4 reuses inode numbers.)
	newer := mkdir(t, filepath.Join(root, "newer"))
	if err := os.Remove(filepath.Join(root, "kubepods.slice", "pod-0")); err != nil {
		t.Fatal(err)
	}
	if got, ok := path(newer, time.Now()); !ok || got != "/newer" || x.walks != 3 {
		t.Errorf("newer: Path = %q, %v after %d walks; want /newer after 3", got, ok, x.walks)
	}
	if got, ok := path(late[0], time.Now()); !ok || got != "/kubepods.slice/pod-0" {
		t.Errorf("removed cgroup: Path = %q, %v; want its last path", got, ok)
	}
	if x.walks != 3 {
		t.Errorf("a removed cgroup's lookup walked again (%d walks)", x.walks)
	}
}

// A tree that cannot be read is no proof that a cgroup is gone.
func TestIndexUnreadable(t *testing.T) {
	x := NewIndex(filepath.Join(t.TempDir(), "missing"))
	if _, found, err := x.Path(7, time.Now()); found || err == nil {
		t.Errorf("Path in an unreadable tree = found %v, err %v; want an error", found, err)
	}
}

// BenchmarkIndexWalk walks 10,000 real cgroups shaped like a busy
// Kubernetes node's (2,500 pods of 3 containers each; the number of files
// in each cgroup depends on the controllers enabled), with the getdents64
// walk the index uses, and filepath.WalkDir with a stat per directory for
// comparison. It needs root and cgroup v2.
func BenchmarkIndexWalk(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("creating cgroups needs root")
	}
	mount, err := FindV2Mount()
	if err != nil {
		b.Skip(err)
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	root := filepath.Join(mount, "podflow-bench-"+hex.EncodeToString(suffix))
	var dirs []string
	for p := range 2500 {
		pod := filepath.Join(root, "kubepods.slice", "kubepods-burstable.slice", fmt.Sprintf("kubepods-burstable-pod%04d.slice", p))
		for c := range 3 {
			dir := filepath.Join(pod, fmt.Sprintf("cri-containerd-%04d%d.scope", p, c))
			mkdir(b, dir)
			dirs = append(dirs, dir)
		}
	}
	b.Cleanup(func() {
		// Deepest first: a cgroup with children cannot be removed.
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = syscall.Rmdir(dirs[i])
		}
	})
	files, _ := os.ReadDir(dirs[0])
	b.Logf("%d files in each container cgroup", len(files))

	b.Run("getdents", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := walkTree(root, func(uint64, string) { n++ }); err != nil || n < 10000 {
				b.Fatalf("walked %d cgroups: %v", n, err)
			}
		}
	})
	b.Run("walkdir", func(b *testing.B) {
		for b.Loop() {
			n := 0
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					if _, err := d.Info(); err == nil {
						n++
					}
				}
				return nil
			})
			if n < 10000 {
				b.Fatalf("walked %d cgroups", n)
			}
		}
	})
}
