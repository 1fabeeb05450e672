// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Binary is where the exporter lives in the image; the chart and the docs
// (kubectl exec ... /bin/podflow_exporter check-system) name this path.
const Binary = "/bin/podflow_exporter"

// Port is the exporter's default --web.listen-address port.
const Port = "9810/tcp"

// User is the image's default user: root, as the chart runs it. Kubernetes
// gives added capabilities (BPF, PERFMON, NET_ADMIN) only to a uid 0
// process (no ambient capabilities), and the chart's
// allowPrivilegeEscalation: false rules out file capabilities on the binary;
// the chart drops every other capability, so root there owns files and
// nothing more. Commands that need nothing (top, --version) run as
// nobody with --user 65534.
const User = "0:0"

// passwd and group name root and nobody, so tools that map ids to names
// work and --user 65534 has a name; no login shell exists in the image.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
	group  = "root:x:0:\nnogroup:x:65534:\n"
)

// Platforms are the release's platforms, in index order; each has a
// binary at <binaries>/linux-<arch>/podflow_exporter (promu build --prefix).
var Platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64", Variant: "v8"},
}

// Spec is everything an image is made of: same Spec, same bytes.
type Spec struct {
	Binaries  string    // directory holding linux-<arch>/podflow_exporter
	Version   string    // VERSION, without the v
	Revision  string    // the git commit
	Source    string    // the repository URL
	Created   time.Time // the commit's time: created time and every file's mtime
	License   string    // the project's LICENSE file
	Notice    string    // the binary's NOTICE (internal/cmd/notice)
	CABundle  string    // PEM bundle, installed as /etc/ssl/certs/ca-certificates.crt
	CANotice  string    // the bundle's copyright file (Debian ca-certificates); optional
	Reference string    // the image name the archive's index entry carries, e.g. ghcr.io/podflow/podflow_exporter:v0.1.0
}

// file is one regular file or directory (name ending in /) of a layer.
type file struct {
	name string
	mode int64
	data []byte
}

// BaseFiles are the files every platform shares: what the build machine
// provides instead of a base image.
func BaseFiles(s Spec) ([]file, error) {
	license, err := os.ReadFile(s.License)
	if err != nil {
		return nil, fmt.Errorf("read licence: %w", err)
	}
	notice, err := os.ReadFile(s.Notice)
	if err != nil {
		return nil, fmt.Errorf("read NOTICE (make crossbuild): %w", err)
	}
	ca, err := os.ReadFile(s.CABundle)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle (Debian: apt-get install ca-certificates): %w", err)
	}
	files := []file{
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "usr/share/doc/podflow_exporter/LICENSE", mode: 0o644, data: license},
		{name: "usr/share/doc/podflow_exporter/NOTICE", mode: 0o644, data: notice},
	}
	if s.CANotice != "" {
		copyright, err := os.ReadFile(s.CANotice)
		if err != nil {
			return nil, fmt.Errorf("read CA bundle's copyright: %w", err)
		}
		files = append(files, file{name: "usr/share/doc/ca-certificates/copyright", mode: 0o644, data: copyright})
	}
	return files, nil
}

// layer is a gzipped tar of files, their parent directories added, in
// name order, owned by root, every mtime the same: a deterministic blob.
func layer(files []file, mtime time.Time) (v1.Layer, error) {
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.name); d != "."; d = path.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	all := append([]file(nil), files...)
	for d := range dirs {
		all = append(all, file{name: d, mode: 0o755})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range all {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)),
			ModTime: mtime, Uname: "root", Gname: "root", Format: tar.FormatPAX}
		if strings.HasSuffix(f.name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// Labels are the OCI annotations of the image config (and of the index).
func Labels(s Spec) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "podflow_exporter",
		"org.opencontainers.image.description": "Per-pod network flow metrics from eBPF for Prometheus",
		"org.opencontainers.image.source":      s.Source,
		"org.opencontainers.image.version":     s.Version,
		"org.opencontainers.image.revision":    s.Revision,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     s.Created.UTC().Format(time.RFC3339),
	}
}

// Image is one platform's image: the shared base layer and a layer with
// the binary, configured as the chart runs it.
func Image(s Spec, p v1.Platform, base v1.Layer) (v1.Image, error) {
	bin, err := os.ReadFile(filepath.Join(s.Binaries, p.OS+"-"+p.Architecture, path.Base(Binary)))
	if err != nil {
		return nil, fmt.Errorf("read %s binary (make crossbuild): %w", p.Architecture, err)
	}
	binLayer, err := layer([]file{{name: Binary[1:], mode: 0o755, data: bin}}, s.Created)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: s.Created}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "podflow_exporter image: /etc/passwd, /etc/group, CA certificates, licences, NOTICE"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: created, CreatedBy: "podflow_exporter image: " + Binary + " (promu build)"}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = created
	cf.Author = ""
	cf.Config = v1.Config{
		Entrypoint:   []string{Binary},
		User:         User,
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{Port: {}},
		Labels:       Labels(s),
	}
	return mutate.ConfigFile(img, cf)
}

// Index is the two-platform image index.
func Index(s Spec) (v1.ImageIndex, error) {
	files, err := BaseFiles(s)
	if err != nil {
		return nil, err
	}
	base, err := layer(files, s.Created)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range Platforms {
		img, err := Image(s, p, base)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.Annotations(idx, Labels(s)).(v1.ImageIndex), nil
}
