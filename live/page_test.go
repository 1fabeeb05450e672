// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// pageMux mounts PageHandler as the exporter does.
func pageMux() *http.ServeMux {
	mux := http.NewServeMux()
	h := PageHandler()
	mux.Handle("/flows", h)
	mux.Handle("/flows/", h)
	return mux
}

func get(t *testing.T, mux http.Handler, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec.Result()
}

func TestPageRoutes(t *testing.T) {
	mux := pageMux()
	for _, c := range []struct {
		method, target string
		code           int
		contentType    string
		location       string
	}{
		{"GET", "/flows", 200, "text/html; charset=utf-8", ""},
		{"HEAD", "/flows", 200, "text/html; charset=utf-8", ""},
		{"GET", "/flows/assets/flows.js", 200, "text/javascript; charset=utf-8", ""},
		{"GET", "/flows/assets/flows.css", 200, "text/css; charset=utf-8", ""},
		{"GET", "/flows/assets/nope.js", 404, "", ""},
		{"GET", "/flows/assets/vendor", 404, "", ""},
		{"GET", "/flows/assets/index.html", 404, "", ""}, // only as /flows, with the placeholder filled
		// The page's URLs are relative to /flows: anything else under it
		// goes there, by a relative Location (right behind a prefixing proxy).
		{"GET", "/flows/", 302, "", "../flows"},
		{"GET", "/flows/?top=5", 302, "", "../flows?top=5"},
		{"GET", "/flows/a/b", 302, "", "../../flows"},
		{"GET", "/flows/assets/", 404, "", ""},
		{"POST", "/flows", 405, "", ""},
	} {
		resp := get(t, mux, c.method, c.target, nil)
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.target, resp.StatusCode, c.code)
			continue
		}
		if c.contentType != "" && resp.Header.Get("Content-Type") != c.contentType {
			t.Errorf("%s %s: Content-Type %q, want %q", c.method, c.target, resp.Header.Get("Content-Type"), c.contentType)
		}
		if resp.Header.Get("Location") != c.location {
			t.Errorf("%s %s: Location %q, want %q", c.method, c.target, resp.Header.Get("Location"), c.location)
		}
	}
}

// TestPageGraphLibrary: the library's script tag is in the page exactly
// when the binary embeds it (make assets); the notice is always in the
// page, for the script to show when the library did not load.
func TestPageGraphLibrary(t *testing.T) {
	resp := get(t, pageMux(), "GET", "/flows", nil)
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	tag := `<script src="flows/assets/` + GraphLibrary + `"></script>`
	if got := strings.Contains(page, tag); got != GraphLibraryBuiltIn() {
		t.Errorf("script tag in page: %v, library built in: %v", got, GraphLibraryBuiltIn())
	}
	if strings.Contains(page, graphPlaceholder) {
		t.Error("the placeholder is still in the page")
	}
	if !strings.Contains(page, "run <code>make assets</code>") {
		t.Error("the page lacks the notice for a build without the library")
	}
	lib := get(t, pageMux(), "GET", "/flows/assets/"+GraphLibrary, nil)
	if want := map[bool]int{true: 200, false: 404}[GraphLibraryBuiltIn()]; lib.StatusCode != want {
		t.Errorf("GET the library: %d, want %d", lib.StatusCode, want)
	}
}

// TestPageETag: a browser's revalidation gets 304.
func TestPageETag(t *testing.T) {
	mux := pageMux()
	for _, target := range []string{"/flows", "/flows/assets/state.js"} {
		resp := get(t, mux, "GET", target, nil)
		tag := resp.Header.Get("ETag")
		if tag == "" {
			t.Fatalf("%s: no ETag", target)
		}
		again := get(t, mux, "GET", target, http.Header{"If-None-Match": {tag}})
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d, want 304", target, again.StatusCode)
		}
	}
}

// TestPageModules: every module a script imports, and every file
// index.html names, is embedded.
func TestPageModules(t *testing.T) {
	imports := regexp.MustCompile(`(?:from|import\() *'\./([^']+)'`)
	refs := regexp.MustCompile(`(?:src|href)="flows/assets/([^"]+)"`)
	names, err := fs.Glob(assets, "assets/*.js")
	if err != nil || len(names) == 0 {
		t.Fatalf("no scripts embedded: %v", err)
	}
	need := map[string]string{}
	for _, n := range names {
		b, _ := fs.ReadFile(assets, n)
		for _, m := range imports.FindAllStringSubmatch(string(b), -1) {
			need[m[1]] = n
		}
	}
	index, _ := fs.ReadFile(assets, "assets/index.html")
	for _, m := range refs.FindAllStringSubmatch(string(index), -1) {
		need[m[1]] = "index.html"
	}
	if len(need) < 5 {
		t.Fatalf("found only %v: the patterns no longer match the sources", need)
	}
	for f, from := range need {
		if _, err := fs.Stat(assets, "assets/"+f); err != nil {
			t.Errorf("%s names %s, which is not embedded", from, f)
		}
	}
}
