//go:build tools

// Package tools pins promu, which builds the release binaries (.promu.yml).
// The checksum database has no record of this version; go.sum here holds
// the hash, so builds still verify what they download.
package tools

import _ "github.com/prometheus/promu"
