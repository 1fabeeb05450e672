// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package translation

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/sys/unix"
)

func TestAddFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--collector.translation.netns=/proc/self/ns/net"}, "/proc/self/ns/net"},
	} {
		app := kingpin.New("test", "")
		cfg := AddFlags(app)
		if _, err := app.Parse(c.args); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if cfg.Netns != c.want {
			t.Errorf("%v: Netns = %q, want %q", c.args, cfg.Netns, c.want)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%v: Validate() = %v", c.args, err)
		}
	}
}

func TestValidate(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "net")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		netns string
		err   string // "": valid
	}{
		{"", ""},
		{"/proc/self/ns/net", ""},
		{"/proc/self/ns/mnt", "--collector.translation.netns=/proc/self/ns/mnt: not a network namespace (such as /proc/1/ns/net or /run/netns/NAME)"},
		{regular, "--collector.translation.netns=" + regular + ": not a network namespace"},
		{"/nonexistent/netns", "--collector.translation.netns=/nonexistent/netns: open /nonexistent/netns: no such file or directory"},
	} {
		err := (&Config{Netns: c.netns}).Validate()
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: Validate() = %v, want nil", c.netns, err)
		case c.err != "" && (err == nil || !strings.HasPrefix(err.Error(), c.err)):
			t.Errorf("%q: Validate() = %v, want an error starting %q", c.netns, err, c.err)
		}
	}
}

// TestValidateNotPermitted: a namespace file this process may not open is
// accepted, for Open to say why translation is unavailable. The check runs
// on a thread whose file system user is nobody, which loses root's
// override of file permissions.
func TestValidateNotPermitted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (as make test runs it) to change the file system user")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "net")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	type result struct{ open, validate error }
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, whose file system user is changed,
		// ends with the goroutine.
		runtime.LockOSThread()
		unix.Setfsuid(65534)
		f, err := os.Open(path)
		if err == nil {
			f.Close()
		}
		done <- result{err, (&Config{Netns: path}).Validate()}
	}()
	r := <-done
	if r.open == nil {
		t.Fatal("opened a root-only file as nobody: the test proves nothing")
	}
	if r.validate != nil {
		t.Errorf("Validate() = %v, want nil for a file it may not open (%v)", r.validate, r.open)
	}
}
