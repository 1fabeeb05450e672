// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Command notice writes the NOTICE file of the release binary: a header
// naming podflow_exporter, then the NOTICE file of every module linked into
// the main package for the release's platforms, as section 4(d) of the
// Apache License 2.0 asks of a redistributor. It reads the module cache
// (go list -deps), so the texts are never copied into the repository.
//
//	go run ./internal/cmd/notice --tags netgo --output .build/NOTICE
package main

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Header opens the NOTICE, before the linked modules' notices.
const Header = `podflow_exporter
Copyright 2026 The podflow_exporter Authors
Licensed under the Apache License, Version 2.0 (see LICENSE).

The podflow_exporter binary statically links the Go modules below, whose
NOTICE files follow, each under a "== <module>@<version> ==" line.
`

// noticeNames are the names, any case, of a module's NOTICE file at its root.
var noticeNames = []string{"notice", "notice.txt", "notice.md"}

func main() {
	var output, tags, platforms, pkg string
	flag.StringVar(&output, "output", "NOTICE", "the NOTICE file to write")
	flag.StringVar(&tags, "tags", "netgo", "build tags of the release build (.promu.yml build.flags)")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated GOOS/GOARCH the binary is built for; their modules are united")
	flag.StringVar(&pkg, "package", ".", "the main package")
	flag.Parse()
	if err := run(output, tags, strings.Split(platforms, ","), pkg); err != nil {
		fmt.Fprintln(os.Stderr, "notice:", err)
		os.Exit(1)
	}
}

// module is one linked module: path, version and its directory in the cache.
type module struct{ path, version, dir string }

func run(output, tags string, platforms []string, pkg string) error {
	mods := map[string]module{}
	for _, p := range platforms {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("--platforms: %q is not GOOS/GOARCH", p)
		}
		if err := linked(mods, goos, goarch, tags, pkg); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	buf.WriteString(Header)
	for _, k := range slices.Sorted(maps.Keys(mods)) {
		m := mods[k]
		texts, err := notices(m.dir)
		if err != nil {
			return err
		}
		for _, t := range texts {
			fmt.Fprintf(&buf, "\n== %s@%s ==\n%s", m.path, m.version, t)
			if !bytes.HasSuffix(t, []byte("\n")) {
				buf.WriteByte('\n')
			}
		}
	}
	if err := os.WriteFile(output, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", output, err)
	}
	return nil
}

// linked adds to mods the modules, other than the main module and the
// standard library, of pkg's dependencies built for goos/goarch.
func linked(mods map[string]module, goos, goarch, tags, pkg string) error {
	cmd := exec.Command("go", "list", "-deps", "-tags", tags,
		"-f", "{{with .Module}}{{if not .Main}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}{{end}}", pkg)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list -deps %s for %s/%s: %w", pkg, goos, goarch, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		if f[2] == "" {
			return fmt.Errorf("module %s@%s has no directory (go mod download)", f[0], f[1])
		}
		mods[f[0]+"@"+f[1]] = module{path: f[0], version: f[1], dir: f[2]}
	}
	return nil
}

// notices returns the NOTICE texts at the root of dir, in name order.
func notices(dir string) ([][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", dir, err)
	}
	var texts [][]byte
	for _, e := range entries {
		if e.IsDir() || !slices.Contains(noticeNames, strings.ToLower(e.Name())) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		texts = append(texts, b)
	}
	return texts, nil
}
