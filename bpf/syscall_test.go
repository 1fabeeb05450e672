// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// Only ENOSYS means the system call is missing: EPERM (unprivileged BPF
// disabled), EINVAL (the probe's unknown command) and success mean bpf()
// exists, and what it allows is for the capability and load checks to say.
func TestCheckSyscall(t *testing.T) {
	for _, errno := range []unix.Errno{0, unix.EINVAL, unix.EPERM, unix.EACCES} {
		if err := checkSyscall(func() unix.Errno { return errno }); err != nil {
			t.Errorf("bpf() answering %v: %v, want nil", errno, err)
		}
	}
	err := checkSyscall(func() unix.Errno { return unix.ENOSYS })
	if !errors.Is(err, ErrNoSyscall) {
		t.Fatalf("bpf() answering ENOSYS: %v, want ErrNoSyscall", err)
	}
	const want = "the bpf() system call is not implemented here (ENOSYS): a kernel without CONFIG_BPF_SYSCALL, or an emulator such as qemu-user; podflow_exporter needs a real Linux kernel with BPF and BTF (docs/development.md#kernels)"
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant\n%s", err, want)
	}
	// This kernel has bpf(), whoever asks.
	if err := CheckSyscall(); err != nil {
		t.Errorf("CheckSyscall on this kernel: %v", err)
	}
}
