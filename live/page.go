// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// The page's own files are hand-written and committed; assets/vendor/ holds
// the graph library, copied from node_modules by `make assets` (npm ci) and
// never committed. A build without it serves the page as a table, with a
// notice that says how to get the graph. The embed directive is in
// page_embed.go; the build tag podflow_nographlib (page_embed_nograph.go)
// leaves the library out even when it is there, for the test of that case.

// GraphLibrary is the graph library's file under assets/: cytoscape.js,
// chosen for the first render with a layout of its own and in-place
// updates of 500 edges (docs/benchmarks.md, "Live view page").
const GraphLibrary = "vendor/cytoscape.min.js"

// graphPlaceholder in index.html is where the library's script tag goes.
const graphPlaceholder = "<!--graph-library-->"

// GraphLibraryBuiltIn says whether this binary embeds the graph library.
func GraphLibraryBuiltIn() bool {
	return hasGraphLibrary(embedded())
}

func hasGraphLibrary(files fs.FS) bool {
	_, err := fs.Stat(files, GraphLibrary)
	return err == nil
}

// embedded is the embedded assets/ directory.
func embedded() fs.FS {
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the directory is embedded
	}
	return files
}

// PageHandler serves the live view page at /flows and its files at
// /flows/assets/...; mount it on both: mux.Handle("/flows", h) and
// mux.Handle("/flows/", h). The page's URLs are relative to /flows, so
// /flows/ (and /flows/anything else) redirect to it.
func PageHandler() http.Handler {
	h, err := pageHandler(embedded())
	if err != nil {
		panic(err) // the files are embedded: the build is broken
	}
	return h
}

// pageHandler serves the page from files, which hold what assets/ holds:
// index.html, the page's modules and, when built in, the graph library.
func pageHandler(files fs.FS) (http.Handler, error) {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, fmt.Errorf("live view page: %w", err)
	}
	script := ""
	if hasGraphLibrary(files) {
		script = `<script src="flows/assets/` + GraphLibrary + `"></script>`
	}
	p := &page{files: map[string]file{}}
	p.index.body = bytes.Replace(index, []byte(graphPlaceholder), []byte(script), 1)
	p.index.etag = etag(p.index.body)
	err = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "index.html" {
			return err
		}
		b, err := fs.ReadFile(files, name)
		p.files[name] = file{body: b, etag: etag(b)}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("live view page: %w", err)
	}
	return p, nil
}

type page struct {
	index file
	files map[string]file // by path under assets/
}

type file struct {
	body []byte
	etag string
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// started is the Last-Modified of every file: the embedded files change
// only with the binary.
var started = time.Now()

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	// The page loads nothing but its own files and talks to nothing but
	// this exporter.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	name, isAsset := strings.CutPrefix(r.URL.Path, "/flows/assets/")
	switch {
	case r.URL.Path == "/flows":
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", p.index.etag)
		http.ServeContent(w, r, "index.html", started, bytes.NewReader(p.index.body))
	case isAsset:
		f, ok := p.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			h.Set("Content-Type", ct)
		}
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, name, started, bytes.NewReader(f.body))
	default:
		// A relative Location: right behind a proxy that adds a prefix too.
		target := strings.Repeat("../", strings.Count(strings.TrimPrefix(r.URL.Path, "/flows/"), "/")+1) + "flows"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		h.Set("Location", target)
		w.WriteHeader(http.StatusFound)
	}
}
