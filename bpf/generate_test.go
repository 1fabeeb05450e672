// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package bpf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// clangMajor is the clang the committed objects were built with. Another
// major version emits different (valid) bytecode, so the comparison below
// would fail for the wrong reason.
const clangMajor = "14"

// TestGeneratedFilesUpToDate reruns every go:generate line of this package
// into a temporary directory and fails if any output differs from the
// committed file: the committed .o must be what the committed C compiles to.
func TestGeneratedFilesUpToDate(t *testing.T) {
	out, err := exec.Command("clang", "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("clang is needed to regenerate the eBPF objects (make test installs it): %v", err)
	}
	if m := regexp.MustCompile(`clang version (\d+)`).FindSubmatch(out); m == nil || string(m[1]) != clangMajor {
		t.Fatalf("the committed objects are built with clang %s; found: %s", clangMajor, firstLine(out))
	}

	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	generated := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(src), "\n") {
			cmdline, ok := strings.CutPrefix(line, "//go:generate ")
			if !ok {
				continue
			}
			generated += regenerate(t, f, cmdline)
		}
	}
	if generated == 0 {
		t.Fatal("no go:generate output compared")
	}
}

// regenerate runs one go:generate command into a temporary directory and
// compares what it writes with the committed files. It returns how many
// files it compared.
func regenerate(t *testing.T, goFile, cmdline string) int {
	t.Helper()
	args := splitQuoted(cmdline)
	if len(args) < 3 || args[0] != "go" || args[1] != "tool" || args[2] != "bpf2go" {
		t.Fatalf("%s: unexpected go:generate line %q", goFile, cmdline)
	}
	dir := t.TempDir()
	// Flags go before bpf2go's positional arguments.
	args = append([]string{"tool", "bpf2go", "-output-dir", dir}, args[3:]...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=bpf", "GOFILE="+goFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: go %s: %v\n%s", goFile, strings.Join(args, " "), err, out)
	}
	outputs, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outputs {
		fresh, err := os.ReadFile(filepath.Join(dir, o.Name()))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(o.Name())
		if err != nil {
			t.Errorf("%s is generated but not committed: run make generate", o.Name())
			continue
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("%s differs from what its sources generate: run make generate and commit it", o.Name())
		}
	}
	return len(outputs)
}

// splitQuoted splits a go:generate line into words, keeping "quoted strings" whole.
func splitQuoted(s string) []string {
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case r == ' ' && !inQuote:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}
