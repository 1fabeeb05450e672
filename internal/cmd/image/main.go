// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Command image lays out the release's OCI image without a container
// daemon or a registry: an image index for linux/amd64 and linux/arm64,
// each image the promu-built binary at /bin/podflow_exporter on files the
// build machine provides instead of a pulled base (/etc/passwd, /etc/group,
// Debian's CA bundle, the licences and the binary's NOTICE). It writes an
// oci-archive tarball and, with --layout, the OCI layout directory too.
// Same inputs, same digest: every timestamp is --created (make release
// passes the commit's time).
//
//	go run ./internal/cmd/image --version 0.1.0 --revision $(git rev-parse HEAD) \
//	  --created $(git log -1 --format=%ct) --output .tarballs/podflow_exporter-0.1.0.oci.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	s := Spec{}
	var output, layoutDir, repository, created string
	flag.StringVar(&s.Binaries, "binaries", ".build", "directory of the promu builds: linux-<arch>/podflow_exporter")
	flag.StringVar(&s.Version, "version", "", "the release version, without v (the VERSION file)")
	flag.StringVar(&s.Revision, "revision", "", "the git commit the binaries were built from")
	flag.StringVar(&created, "created", os.Getenv("SOURCE_DATE_EPOCH"), "image creation time and every file's mtime, in Unix seconds (the commit's time); default $SOURCE_DATE_EPOCH")
	flag.StringVar(&s.Source, "source", "https://github.com/podflow/podflow_exporter", "org.opencontainers.image.source")
	flag.StringVar(&repository, "repository", "ghcr.io/podflow/podflow_exporter", "image name the archive's index entry carries, tagged v<version>")
	flag.StringVar(&s.License, "license", "LICENSE", "the project's licence, installed as /usr/share/doc/podflow_exporter/LICENSE")
	flag.StringVar(&s.Notice, "notice", ".build/NOTICE", "the binary's NOTICE (make crossbuild, internal/cmd/notice), installed as /usr/share/doc/podflow_exporter/NOTICE")
	flag.StringVar(&s.CABundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA certificates (PEM) for /etc/ssl/certs/ca-certificates.crt")
	flag.StringVar(&s.CANotice, "ca-copyright", "/usr/share/doc/ca-certificates/copyright", "the CA bundle's copyright notice, shipped with it; empty: none")
	flag.StringVar(&output, "output", "", "the oci-archive tarball to write")
	flag.StringVar(&layoutDir, "layout", "", "also write the OCI layout directory here (must not exist)")
	flag.Parse()
	if err := run(s, created, repository, output, layoutDir); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(s Spec, created, repository, output, layoutDir string) error {
	if s.Version == "" || s.Revision == "" || output == "" {
		return fmt.Errorf("--version, --revision and --output are required")
	}
	secs, err := strconv.ParseInt(created, 10, 64)
	if err != nil {
		return fmt.Errorf("--created %q: want Unix seconds (git log -1 --format=%%ct): %w", created, err)
	}
	s.Created = time.Unix(secs, 0).UTC()
	s.Reference = repository + ":v" + s.Version

	idx, err := Index(s)
	if err != nil {
		return err
	}
	dir := layoutDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "podflow-image-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("--layout %s exists: remove it first", dir)
	}
	if err := WriteLayout(dir, idx, s.Reference); err != nil {
		return err
	}
	if err := WriteArchive(output, dir, s.Created); err != nil {
		return err
	}

	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s index %s\n", output, s.Reference, digest)
	for _, d := range m.Manifests {
		fmt.Printf("  %s/%s %s\n", d.Platform.OS, d.Platform.Architecture, d.Digest)
	}
	return nil
}
