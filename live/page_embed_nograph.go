// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

//go:build podflow_nographlib

package live

import "embed"

// assets is the page's committed files only, never the graph library: a
// binary built with -tags podflow_nographlib serves the page as a plain
// `go build` without `make assets` does, for the browser test of that
// case (e2e/live_page_fallback_test.go).
//
//go:embed assets/*.html assets/*.js assets/*.css
var assets embed.FS
