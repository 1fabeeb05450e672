// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	appsv1 "k8s.io/api/apps/v1"
)

// readImageArchive unpacks an oci-archive and opens its index.
func readImageArchive(t *testing.T, file string) (v1.ImageIndex, v1.Descriptor) {
	t.Helper()
	fh, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	files, hdrs := readTar(t, fh)
	dir := t.TempDir()
	for name, data := range files {
		if hdrs[name].Typeflag == tar.TypeDir {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outer, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	om, err := outer.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(om.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want the one image index", len(om.Manifests))
	}
	idx, err := outer.ImageIndex(om.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return idx, om.Manifests[0]
}

// daemonSet is the DaemonSet of the committed manifests (the chart with
// its defaults; TestManifestsUpToDate keeps them so).
func daemonSet(t *testing.T) appsv1.DaemonSet {
	t.Helper()
	var ds appsv1.DaemonSet
	if !object(t, decodeManifests(t, string(mustRead(t, manifests))), "DaemonSet", &ds) {
		t.Fatal("no DaemonSet in " + manifests)
	}
	return ds
}

// TestReleaseImage: the oci-archive of make release holds an image index of
// exactly linux/amd64 and linux/arm64, named as the chart runs it; each
// image is configured as the chart runs it (entrypoint, user, port) with
// the OCI labels of the release, and holds exactly the binary for its
// machine, /etc/passwd and /etc/group, the CA bundle, the licences and the
// binary's NOTICE —
// no shell, no package database; the amd64 binary, extracted, runs.
func TestReleaseImage(t *testing.T) {
	r := makeReleases(t)[0]
	f := facts(t)
	notices := wantNotices(t)
	idx, desc := readImageArchive(t, filepath.Join(r.tarballs, "podflow_exporter-"+f.version+".oci.tar"))

	ds := daemonSet(t)
	c := ds.Spec.Template.Spec.Containers[0]
	if got := desc.Annotations["io.containerd.image.name"]; got != c.Image {
		t.Errorf("archive names the image %q, the chart runs %q", got, c.Image)
	}
	if got := desc.Annotations["org.opencontainers.image.ref.name"]; got != "v"+f.version {
		t.Errorf("archive's ref.name %q, want v%s", got, f.version)
	}
	wantUser := fmt.Sprintf("%d:%d", *c.SecurityContext.RunAsUser, *c.SecurityContext.RunAsUser)
	wantPort := fmt.Sprintf("%d/tcp", c.Ports[0].ContainerPort)

	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range im.Manifests {
		platforms = append(platforms, m.Platform.String())
	}
	if want := []string{"linux/amd64", "linux/arm64/v8"}; !slices.Equal(platforms, want) {
		t.Fatalf("index platforms %q, want %q", platforms, want)
	}
	if im.Annotations["org.opencontainers.image.version"] != f.version || im.Annotations["org.opencontainers.image.revision"] != f.revision {
		t.Errorf("index annotations %v lack version %s and revision %s", im.Annotations, f.version, f.revision)
	}

	wantLabels := map[string]string{
		"org.opencontainers.image.title":       "podflow_exporter",
		"org.opencontainers.image.description": "Per-pod network flow metrics from eBPF for Prometheus",
		"org.opencontainers.image.source":      "https://github.com/podflow/podflow_exporter",
		"org.opencontainers.image.version":     f.version,
		"org.opencontainers.image.revision":    f.revision,
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     f.created.Format(time.RFC3339),
	}
	var baseLayers []v1.Hash
	for _, m := range im.Manifests {
		arch := m.Platform.Architecture
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != arch || cf.Variant != m.Platform.Variant {
			t.Errorf("%s: config says %s/%s/%s", arch, cf.OS, cf.Architecture, cf.Variant)
		}
		if !cf.Created.Time.Equal(f.created) {
			t.Errorf("%s: created %v, want the commit's time %v", arch, cf.Created.Time, f.created)
		}
		cfg := cf.Config
		if !slices.Equal(cfg.Entrypoint, []string{"/bin/podflow_exporter"}) || len(cfg.Cmd) != 0 {
			t.Errorf("%s: entrypoint %q cmd %q, want [/bin/podflow_exporter] and no cmd", arch, cfg.Entrypoint, cfg.Cmd)
		}
		if cfg.User != wantUser {
			t.Errorf("%s: user %q, the chart runs as %s", arch, cfg.User, wantUser)
		}
		if got := slices.Sorted(maps.Keys(cfg.ExposedPorts)); !slices.Equal(got, []string{wantPort}) {
			t.Errorf("%s: exposed ports %q, want [%s]", arch, got, wantPort)
		}
		if !maps.Equal(cfg.Labels, wantLabels) {
			t.Errorf("%s: labels %v, want %v", arch, cfg.Labels, wantLabels)
		}
		if len(cfg.Env) != 0 || len(cfg.Volumes) != 0 || cfg.Healthcheck != nil {
			t.Errorf("%s: env %q, volumes %v, healthcheck %v: want none", arch, cfg.Env, cfg.Volumes, cfg.Healthcheck)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		if len(layers) != 2 {
			t.Fatalf("%s: %d layers, want base and binary", arch, len(layers))
		}
		d, _ := layers[0].Digest()
		baseLayers = append(baseLayers, d)

		files, hdrs := readTar(t, mutate.Extract(img))
		// mutate.Extract flattens the layers, directory names without their /.
		want := []string{"bin", "bin/podflow_exporter", "etc", "etc/group", "etc/passwd", "etc/ssl", "etc/ssl/certs",
			"etc/ssl/certs/ca-certificates.crt", "usr", "usr/share", "usr/share/doc", "usr/share/doc/ca-certificates",
			"usr/share/doc/ca-certificates/copyright", "usr/share/doc/podflow_exporter", "usr/share/doc/podflow_exporter/LICENSE",
			"usr/share/doc/podflow_exporter/NOTICE"}
		if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
			t.Errorf("%s: image files %q, want exactly %q", arch, got, want)
		}
		for name, h := range hdrs {
			wantMode := int64(0o644)
			if h.Typeflag == tar.TypeDir || name == "bin/podflow_exporter" {
				wantMode = 0o755
			}
			if h.Uid != 0 || h.Gid != 0 || h.Mode != wantMode || !h.ModTime.Equal(f.created) {
				t.Errorf("%s: %s owned %d:%d mode %o mtime %v, want root, %o, the commit's time", arch, name, h.Uid, h.Gid, h.Mode, h.ModTime, wantMode)
			}
		}
		if !bytes.Equal(files["etc/ssl/certs/ca-certificates.crt"], mustRead(t, "/etc/ssl/certs/ca-certificates.crt")) ||
			!bytes.Equal(files["usr/share/doc/podflow_exporter/LICENSE"], mustRead(t, "../LICENSE")) {
			t.Errorf("%s: CA bundle or LICENSE differs from the build machine's", arch)
		}
		checkNotice(t, arch+" image", files["usr/share/doc/podflow_exporter/NOTICE"], notices)
		if !strings.Contains(string(files["etc/passwd"]), "\nnobody:x:65534:65534:") || !strings.HasPrefix(string(files["etc/passwd"]), "root:x:0:0:") ||
			!strings.Contains(string(files["etc/group"]), "\nnogroup:x:65534:\n") {
			t.Errorf("%s: passwd/group lack root or nobody (65534):\n%s%s", arch, files["etc/passwd"], files["etc/group"])
		}
		bin := files["bin/podflow_exporter"]
		if built, err := os.ReadFile(filepath.Join(r.build, "linux-"+arch, "podflow_exporter")); err != nil || !bytes.Equal(bin, built) {
			t.Errorf("%s: image's binary is not the crossbuild's (%v)", arch, err)
		}
		checkELF(t, arch+" image", bin, arch)
		if arch == "amd64" {
			checkVersion(t, "amd64 image", bin, f)
		}
	}
	if len(baseLayers) == 2 && baseLayers[0] != baseLayers[1] {
		t.Errorf("base layers differ between architectures: %v", baseLayers)
	}
}
