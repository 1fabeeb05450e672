// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"

	"golang.org/x/sys/unix"
)

// NoSyscallCause and NoSyscallFix say why and what to do when the bpf()
// system call itself is missing; ErrNoSyscall is both in one line.
const (
	NoSyscallCause = "the bpf() system call is not implemented here (ENOSYS): a kernel without CONFIG_BPF_SYSCALL, or an emulator such as qemu-user"
	NoSyscallFix   = "podflow_exporter needs a real Linux kernel with BPF and BTF (docs/development.md#kernels)"
)

// ErrNoSyscall is returned by CheckSyscall when the kernel interface itself
// is missing. Without this check the first bpf() call fails deep in
// cilium/ebpf, with a message such as "create token from /sys/fs/bpf:
// function not implemented".
var ErrNoSyscall = errors.New(NoSyscallCause + "; " + NoSyscallFix)

// probeCommand is no bpf() command: a kernel with bpf() answers EINVAL (or
// EPERM to an unprivileged caller when unprivileged BPF is disabled), and
// nothing is created.
const probeCommand = 0xffff

// CheckSyscall returns ErrNoSyscall when bpf() is not implemented: a kernel
// built without CONFIG_BPF_SYSCALL, or an emulator such as qemu-user, which
// answers ENOSYS. Any other answer means the system call exists.
func CheckSyscall() error {
	return checkSyscall(func() unix.Errno {
		_, _, errno := unix.Syscall(unix.SYS_BPF, probeCommand, 0, 0)
		return errno
	})
}

func checkSyscall(call func() unix.Errno) error {
	if call() == unix.ENOSYS {
		return ErrNoSyscall
	}
	return nil
}
