// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package cgroups finds the cgroup v2 hierarchy and maps cgroup ids, as eBPF
// programs see them, to paths in it.
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNoV2 means no cgroup v2 hierarchy is mounted.
var ErrNoV2 = errors.New("no cgroup v2 filesystem is mounted (looked for type cgroup2 in /proc/self/mountinfo)")

// FindV2Mount returns where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup
// on unified hosts, /sys/fs/cgroup/unified on hybrid ones.
func FindV2Mount() (string, error) {
	return findV2Mount("/proc/self/mountinfo")
}

func findV2Mount(mountinfo string) (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// "36 35 0:30 / /sys/fs/cgroup rw,... shared:9 - cgroup2 cgroup2 rw"
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		if fields := strings.Fields(post); len(fields) == 0 || fields[0] != "cgroup2" {
			continue
		}
		if fields := strings.Fields(pre); len(fields) >= 5 && fields[3] == "/" {
			return unescapeMountPath(fields[4]), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("read mounts: %w", err)
	}
	return "", ErrNoV2
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			var c byte
			if _, err := fmt.Sscanf(p[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// CheckV2 returns an error unless dir is the top of a cgroup v2 filesystem.
func CheckV2(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("%s is not a cgroup v2 filesystem (filesystem magic %#x)", dir, st.Type)
	}
	return nil
}

// ID returns the cgroup id of the cgroup v2 directory dir: the id that
// bpf_skb_cgroup_id() reports, which on 64-bit kernels is the directory's inode number.
func ID(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// rootID is the id of a cgroup v2 hierarchy's root: kernfs numbers its
// root directory 1.
const rootID = 1

// ScopeID returns the cgroup id of dir when it is below the hierarchy's
// root, and 0 when it is the root: the id eBPF programs compare a
// socket's ancestors with to stay within dir's subtree (bpf.Options.ScopeCgroupID).
func ScopeID(dir string) (uint64, error) {
	id, err := ID(dir)
	if err != nil || id == rootID {
		return 0, err
	}
	return id, nil
}
