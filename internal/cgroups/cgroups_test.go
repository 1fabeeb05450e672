// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFindV2Mount(t *testing.T) {
	for _, tc := range []struct {
		name, mountinfo, want string
		err                   error
	}{
		{
			name: "unified",
			mountinfo: "22 1 0:21 / /sys rw - sysfs sysfs rw\n" +
				"30 22 0:26 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
			want: "/sys/fs/cgroup",
		},
		{
			name: "hybrid",
			mountinfo: "31 22 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
				"32 22 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
			want: "/sys/fs/cgroup/unified",
		},
		{
			name:      "escaped path, and a bind mount of a subtree skipped",
			mountinfo: "40 22 0:28 /kubepods /mnt/sub rw - cgroup2 cgroup2 rw\n41 22 0:28 / /mnt/cg\\040root rw - cgroup2 cgroup2 rw\n",
			want:      "/mnt/cg root",
		},
		{
			name:      "none",
			mountinfo: "31 22 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			err:       ErrNoV2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(f, []byte(tc.mountinfo), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := findV2Mount(f)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("findV2Mount = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestCheckV2(t *testing.T) {
	if err := CheckV2(t.TempDir()); err == nil {
		t.Error("CheckV2 accepted a directory that is not cgroup2")
	}
}
