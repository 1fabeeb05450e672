// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package cgroups

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// walkTree calls visit with the id and path (relative to root, "/" for root
// itself) of every directory below root, root included.
//
// A cgroup's id is its directory's inode number, and kernfs writes it into
// the directory entry (d_ino) too: reading each directory once with
// getdents64 names its subdirectories and their ids, without a stat per
// cgroup nor a DirEntry per file (a cgroup directory holds tens of files,
// and there are many more files than cgroups). A directory whose link count
// says it has no subdirectory is not read at all.
//
// A directory removed while walking is skipped; other errors leave the walk
// incomplete and the first one is returned.
func walkTree(root string, visit func(id uint64, path string)) error {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", root, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fmt.Errorf("stat %s: %w", root, err)
	}
	visit(st.Ino, "/")
	w := walker{root: root, buf: make([]byte, 32<<10), visit: visit}
	w.dir(fd, "")
	return w.err
}

type walker struct {
	root  string
	buf   []byte
	visit func(uint64, string)
	err   error
}

type subdir struct {
	name string
	ino  uint64
}

// dir visits the subdirectories of the open directory fd, whose path is
// rel, and their subdirectories; it closes fd.
func (w *walker) dir(fd int, rel string) {
	defer unix.Close(fd)
	subdirs, err := w.subdirs(fd)
	if err != nil {
		w.fail(rel, err)
		return
	}
	for _, d := range subdirs {
		path := rel + "/" + d.name
		w.visit(d.ino, path)
		// Two links, its own "." and its entry in the parent: no
		// subdirectory (cgroupfs and local file systems keep the count).
		var st unix.Stat_t
		if err := unix.Fstatat(fd, d.name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			w.fail(path, err)
			continue
		}
		if st.Nlink == 2 {
			continue
		}
		child, err := unix.Openat(fd, d.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			w.fail(path, err)
			continue
		}
		w.dir(child, path)
	}
}

// subdirs reads the directory fd whole and returns its subdirectories.
func (w *walker) subdirs(fd int) ([]subdir, error) {
	var dirs []subdir
	for {
		n, err := unix.Getdents(fd, w.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return dirs, err
		}
		if n <= 0 {
			return dirs, nil
		}
		// struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
		for b := w.buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return dirs, fmt.Errorf("malformed directory entry (record length %d)", reclen)
			}
			if b[18] == unix.DT_DIR {
				name := b[19:reclen]
				for i, c := range name {
					if c == 0 {
						name = name[:i]
						break
					}
				}
				if s := string(name); s != "." && s != ".." {
					dirs = append(dirs, subdir{name: s, ino: binary.NativeEndian.Uint64(b[0:8])})
				}
			}
			b = b[reclen:]
		}
	}
}

// fail records err unless it says the directory is gone: a cgroup removed
// while walking is no loss.
func (w *walker) fail(rel string, err error) {
	if errors.Is(err, unix.ENOENT) || w.err != nil {
		return
	}
	w.err = fmt.Errorf("read %s%s: %w", w.root, rel, err)
}
