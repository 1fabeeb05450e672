// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	_ "embed"
	"strings"

	"github.com/prometheus/common/version"
)

// versionFile is the release this tree is. promu and make build put it in
// version.Version with -ldflags; embedding it gives plain `go build` and
// `go install` the same. The revision comes from the ldflags too, or else
// from the VCS stamp Go records (prometheus/common reads it) unless the
// build ran with -buildvcs=false.
//
//go:embed VERSION
var versionFile string

func init() {
	if version.Version == "" {
		version.Version = strings.TrimSpace(versionFile)
	}
}
