// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// DropReasons names the running kernel's drop reasons (the values of enum
// skb_drop_reason, which differ between kernels) by their enumerator
// without the SKB_DROP_REASON_ prefix: 12 → "NETFILTER_DROP" on 6.18.
// The kfree_skb program counts under the raw value; this decodes it.
func DropReasons() (map[uint32]string, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("read the kernel's BTF for drop reason names: %w", err)
	}
	return dropReasonsFrom(spec)
}

func dropReasonsFrom(spec *btf.Spec) (map[uint32]string, error) {
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		return nil, fmt.Errorf("kernel BTF has no enum skb_drop_reason (kernels before 5.17 give no drop reasons): %w", err)
	}
	names := make(map[uint32]string, len(enum.Values))
	for _, v := range enum.Values {
		name := strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")
		if name == "MAX" || strings.HasPrefix(name, "SUBSYS_") {
			continue // bounds and masks, not reasons
		}
		names[uint32(v.Value)] = name
	}
	return names, nil
}
