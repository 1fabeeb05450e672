// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package translation

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/sys/unix"
)

// Config holds the --collector.translation.* flags. Whether translation
// runs at all (--[no-]collector.translation) is the collector package's
// flag, as for every collector.
type Config struct {
	// Netns is the network namespace whose connection tracking holds the
	// node's NAT; empty for the exporter's own.
	Netns string
}

// AddFlags registers the --collector.translation.* flags.
func AddFlags(app *kingpin.Application) *Config {
	c := &Config{}
	app.Flag("collector.translation.netns",
		"Network namespace (a file such as /proc/1/ns/net or /run/netns/NAME) whose connection tracking holds the node's NAT. Default: the exporter's own, which is the node's with hostNetwork. Another one needs CAP_SYS_ADMIN to enter.").
		PlaceHolder("PATH").StringVar(&c.Netns)
	return c
}

// Validate reports flag values that cannot work. It should be called in
// host mode too, where translation is not used: a typo should not wait for
// the move to Kubernetes to show.
func (c *Config) Validate() error {
	if c.Netns == "" {
		return nil
	}
	if err := checkNetns(c.Netns); err != nil {
		return fmt.Errorf("--collector.translation.netns=%s: %w", c.Netns, err)
	}
	return nil
}

// checkNetns fails unless path is a network namespace file. One this
// process may not open is left to Open, which says why translation is
// unavailable and lets connections be named by the service, as for any
// namespace it cannot enter.
func checkNetns(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrPermission) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	kind, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil || kind != unix.CLONE_NEWNET {
		return errors.New("not a network namespace (such as /proc/1/ns/net or /run/netns/NAME)")
	}
	return nil
}
