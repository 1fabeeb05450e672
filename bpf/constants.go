// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// The object's settings (volatile const in state.bpf.h), written into the
// spec before any program is loaded.

// loadSpec returns the object's spec, with its constants set from opts,
// and its typed view.
func loadSpec(opts Options) (*ebpf.CollectionSpec, *podflowSpecs, error) {
	spec, err := loadPodflow()
	if err != nil {
		return nil, nil, err
	}
	var specs podflowSpecs
	if err := spec.Assign(&specs); err != nil {
		return nil, nil, fmt.Errorf("eBPF object: %w", err)
	}
	if err := setConstants(&specs.podflowVariableSpecs, opts); err != nil {
		return nil, nil, err
	}
	return spec, &specs, nil
}

func setConstants(vars *podflowVariableSpecs, opts Options) error {
	return setAll([]constant{
		{vars.EphemeralPortMin, opts.EphemeralPorts[0]},
		{vars.EphemeralPortMax, opts.EphemeralPorts[1]},
		{vars.CountTcpEvents, boolConst(opts.CountTCPEvents)},
		{vars.RecordConnectLatency, boolConst(opts.RecordConnectLatency)},
		{vars.TranslateServices, boolConst(opts.TranslateServices)},
		{vars.ScopeCgroupId, opts.ScopeCgroupID},
	})
}

// setDNSConstants writes the DNS ports, the DNS timeout and what payload
// the programs track.
func setDNSConstants(vars *podflowVariableSpecs, cfg *Config, opts Options) error {
	var ports [MaxDNSPorts]uint16
	copy(ports[:], cfg.DNSPorts)
	if cfg.DNSPorts == nil {
		ports[0] = 53
	}
	timeout := cfg.DNSTimeout
	if timeout == 0 {
		timeout = DefaultDNSTimeout
	}
	return setAll([]constant{
		{vars.DnsPorts, ports},
		{vars.DnsTimeoutNs, uint64(timeout.Nanoseconds())},
		{vars.TrackDns, boolConst(opts.TrackDNS)},
		{vars.TrackHttp, boolConst(opts.TrackHTTP)},
	})
}

// constant is a volatile const of the object and the value to give it.
type constant struct {
	v     *ebpf.VariableSpec
	value any
}

func setAll(cs []constant) error {
	for _, c := range cs {
		if err := c.v.Set(c.value); err != nil {
			return fmt.Errorf("set %s: %w", c.v.Name, err)
		}
	}
	return nil
}

// boolConst is a C flag's value.
func boolConst(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
