// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// releaseBuild is one `make release` into a temporary directory.
type releaseBuild struct {
	build, tarballs string
}

// releases are two `make release` runs of the same tree, made once per test
// binary: the second proves the build reproducible.
var releases struct {
	once sync.Once
	runs [2]releaseBuild
	err  error
}

// makeReleases runs `make release` twice, one after the other (promu
// tarball works in the repository's .release), each into its own
// directories.
func makeReleases(t *testing.T) [2]releaseBuild {
	t.Helper()
	releases.once.Do(func() {
		// In the directory of the test binary's exporter, which TestMain removes.
		dir, err := os.MkdirTemp(filepath.Dir(binary), "release-")
		if err != nil {
			releases.err = err
			return
		}
		for i := range releases.runs {
			r := releaseBuild{build: filepath.Join(dir, fmt.Sprint(i), "build"), tarballs: filepath.Join(dir, fmt.Sprint(i), "tarballs")}
			start := time.Now()
			cmd := exec.Command("make", "-C", "..", "release", "BUILD_DIR="+r.build, "TARBALL_DIR="+r.tarballs)
			// The Makefile's own SOURCE_DATE_EPOCH, the commit's time, is under test.
			cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") })
			if out, err := cmd.CombinedOutput(); err != nil {
				releases.err = fmt.Errorf("make release: %v\n%s", err, out)
				return
			}
			fmt.Fprintf(os.Stderr, "make release %d: %s\n", i+1, time.Since(start).Round(time.Second))
			releases.runs[i] = r
		}
	})
	if releases.err != nil {
		t.Fatal(releases.err)
	}
	return releases.runs
}

// releaseFacts are what every artifact must carry.
type releaseFacts struct {
	version, revision string
	created           time.Time
}

func facts(t *testing.T) releaseFacts {
	t.Helper()
	rev := strings.TrimSpace(mustRun(t, "git", "-C", "..", "rev-parse", "HEAD"))
	ct, err := strconv.ParseInt(strings.TrimSpace(mustRun(t, "git", "-C", "..", "log", "-1", "--format=%ct")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return releaseFacts{version: strings.TrimSpace(string(mustRead(t, "../VERSION"))), revision: rev, created: time.Unix(ct, 0).UTC()}
}

var releaseArches = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// checkELF: data is a static ELF executable for arch.
func checkELF(t *testing.T, what string, data []byte, arch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Errorf("%s: not ELF: %v", what, err)
		return
	}
	if f.Machine != releaseArches[arch] || f.Type != elf.ET_EXEC || f.Class != elf.ELFCLASS64 {
		t.Errorf("%s: ELF %v %v %v, want a 64-bit %v executable", what, f.Class, f.Type, f.Machine, releaseArches[arch])
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: dynamically linked (has an interpreter); the image has no libc", what)
		}
	}
}

// checkVersion runs an amd64 binary's --version: the release's version,
// revision and the commit's time as build date, no machine's user or host.
func checkVersion(t *testing.T, what string, bin []byte, f releaseFacts) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "podflow_exporter")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	for _, want := range []string{
		"podflow_exporter, version " + f.version + " (branch: ",
		"revision: " + f.revision + ")",
		"build user:       reproducible@reproducible",
		"build date:       " + f.created.Format("20060102-15:04:05"),
	} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("%s --version: %v, lacks %q:\n%s", what, err, want, out)
		}
	}
}

// readTar returns the contents and headers of a tar stream's entries by name.
func readTar(t *testing.T, r io.Reader) (map[string][]byte, map[string]*tar.Header) {
	t.Helper()
	files, hdrs := map[string][]byte{}, map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, hdrs
		} else if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], hdrs[h.Name] = b, h
	}
}

// wantNotices are the NOTICE texts, by module@version, of the modules the
// release binaries link (linux/amd64 and linux/arm64, as .promu.yml builds
// them), found apart from internal/cmd/notice: go list -deps, then a file
// named NOTICE, NOTICE.txt or NOTICE.md in any case at the module's root.
func wantNotices(t *testing.T) map[string]string {
	t.Helper()
	want := map[string]string{}
	for arch := range releaseArches {
		cmd := exec.Command("go", "list", "-deps", "-tags", "netgo", "-f",
			"{{if and .Module (not .Module.Main)}}{{.Module.Path}}@{{.Module.Version}} {{.Module.Dir}}{{end}}", ".")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps for %s: %v", arch, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			mod, dir, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var texts string
			for _, e := range entries {
				switch strings.ToUpper(e.Name()) {
				case "NOTICE", "NOTICE.TXT", "NOTICE.MD":
					texts += string(mustRead(t, filepath.Join(dir, e.Name())))
				}
			}
			if texts != "" {
				want[mod] = texts
			}
		}
	}
	return want
}

// checkNotice: a release's NOTICE names podflow_exporter and its copyright,
// then, each under "== <module>@<version> ==", the NOTICE of every linked
// module that has one, and no other module.
func checkNotice(t *testing.T, what string, notice []byte, want map[string]string) {
	t.Helper()
	text := string(notice)
	if !strings.HasPrefix(text, "podflow_exporter\nCopyright 2026 The podflow_exporter Authors\n") {
		t.Errorf("%s: NOTICE lacks the podflow_exporter header:\n%.200s", what, text)
	}
	var got []string
	for _, line := range strings.Split(text, "\n") {
		if m, ok := strings.CutPrefix(line, "== "); ok && strings.HasSuffix(m, " ==") {
			got = append(got, strings.TrimSuffix(m, " =="))
		}
	}
	if wantMods := slices.Sorted(maps.Keys(want)); !slices.Equal(got, wantMods) {
		t.Errorf("%s: NOTICE names modules %q, want %q (the linked ones with a NOTICE)", what, got, wantMods)
	}
	for mod, body := range want {
		if !strings.Contains(text, "== "+mod+" ==\n"+body) {
			t.Errorf("%s: NOTICE lacks %s's NOTICE text", what, mod)
		}
	}
}

// TestReleaseTarballs: make release gives one promu tarball per
// architecture (node_exporter's layout: a directory with the binary,
// LICENSE, the binary's NOTICE, README, CHANGELOG and the systemd unit),
// each binary an ELF of its machine stamped with VERSION and the commit,
// and a sha256sums.txt that covers every artifact and matches it.
func TestReleaseTarballs(t *testing.T) {
	r := makeReleases(t)[0]
	f := facts(t)
	notices := wantNotices(t)
	for arch := range releaseArches {
		name := fmt.Sprintf("podflow_exporter-%s.linux-%s", f.version, arch)
		fh, err := os.Open(filepath.Join(r.tarballs, name+".tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		files, hdrs := readTar(t, zr)
		fh.Close()
		want := []string{name + "/", name + "/CHANGELOG.md", name + "/LICENSE", name + "/NOTICE", name + "/README.md",
			name + "/podflow_exporter", name + "/podflow_exporter.service"}
		if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
			t.Errorf("%s.tar.gz holds %q, want %q", name, got, want)
		}
		for _, src := range []string{"CHANGELOG.md", "LICENSE", "README.md", "deploy/systemd/podflow_exporter.service"} {
			if !bytes.Equal(files[name+"/"+path.Base(src)], mustRead(t, "../"+src)) {
				t.Errorf("%s.tar.gz: %s differs from the repository's", name, src)
			}
		}
		checkNotice(t, name+".tar.gz", files[name+"/NOTICE"], notices)
		bin := files[name+"/podflow_exporter"]
		if h := hdrs[name+"/podflow_exporter"]; h == nil || h.Mode&0o111 == 0 {
			t.Errorf("%s.tar.gz: podflow_exporter missing or not executable", name)
		}
		built, err := os.ReadFile(filepath.Join(r.build, "linux-"+arch, "podflow_exporter"))
		if err != nil || !bytes.Equal(bin, built) {
			t.Errorf("%s.tar.gz: binary is not the crossbuild's (%v)", name, err)
		}
		checkELF(t, name, bin, arch)
		if arch == "amd64" {
			checkVersion(t, name, bin, f)
		}
	}

	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(mustRead(t, filepath.Join(r.tarballs, "sha256sums.txt"))))
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("sha256sums.txt: bad line %q", sc.Text())
		}
		sums[file] = sum
	}
	entries, err := os.ReadDir(r.tarballs)
	if err != nil {
		t.Fatal(err)
	}
	var artifacts []string
	for _, e := range entries {
		if e.Name() != "sha256sums.txt" {
			artifacts = append(artifacts, e.Name())
		}
	}
	wantArtifacts := []string{"podflow_exporter-" + f.version + ".linux-amd64.tar.gz", "podflow_exporter-" + f.version + ".linux-arm64.tar.gz",
		"podflow_exporter-" + f.version + ".oci.tar"}
	if !slices.Equal(artifacts, wantArtifacts) {
		t.Errorf("release artifacts %q, want %q", artifacts, wantArtifacts)
	}
	if got := slices.Sorted(maps.Keys(sums)); !slices.Equal(got, artifacts) {
		t.Errorf("sha256sums.txt lists %q, want %q", got, artifacts)
	}
	for _, a := range artifacts {
		sum := sha256.Sum256(mustRead(t, filepath.Join(r.tarballs, a)))
		if sums[a] != hex.EncodeToString(sum[:]) {
			t.Errorf("sha256sums.txt: %s is %s, the file's sha256 is %x", a, sums[a], sum)
		}
	}
}

// TestReleaseReproducible: a second make release of the same tree gives
// byte-identical binaries, the same image digest and the same archive.
func TestReleaseReproducible(t *testing.T) {
	runs := makeReleases(t)
	f := facts(t)
	for arch := range releaseArches {
		a := mustRead(t, filepath.Join(runs[0].build, "linux-"+arch, "podflow_exporter"))
		b := mustRead(t, filepath.Join(runs[1].build, "linux-"+arch, "podflow_exporter"))
		if !bytes.Equal(a, b) {
			t.Errorf("%s binaries of two builds differ", arch)
		}
	}
	var digests []v1.Hash
	for _, r := range runs {
		idx, _ := readImageArchive(t, filepath.Join(r.tarballs, "podflow_exporter-"+f.version+".oci.tar"))
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
	}
	if digests[0] != digests[1] {
		t.Errorf("image index digests of two builds differ: %v", digests)
	}
	name := "podflow_exporter-" + f.version + ".oci.tar"
	if !bytes.Equal(mustRead(t, filepath.Join(runs[0].tarballs, name)), mustRead(t, filepath.Join(runs[1].tarballs, name))) {
		t.Errorf("%s of two builds differ", name)
	}
	t.Logf("image index %s", digests[0])
}
