// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !podflow_nographlib

package live

import "embed"

// assets is the page's files and, after `make assets`, the graph library
// in assets/vendor/ (all: takes it whatever its name).
//
//go:embed all:assets
var assets embed.FS
