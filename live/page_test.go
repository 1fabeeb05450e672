// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
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

// TestPageWithoutGraphLibrary: served from the committed files alone (a
// plain go build, without make assets), the page has no script tag for the
// library, the notice that says how to get it, and every module; with the
// library among the files it has the tag and serves the library.
func TestPageWithoutGraphLibrary(t *testing.T) {
	committed := fstest.MapFS{}
	err := fs.WalkDir(embedded(), ".", func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && name == "vendor": // installed by make assets, never committed
			return fs.SkipDir
		case d.IsDir():
			return nil
		}
		b, err := fs.ReadFile(embedded(), name)
		committed[name] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil || committed["index.html"] == nil || committed["flows.js"] == nil {
		t.Fatalf("the committed files: %v, %v", err, slices.Collect(maps.Keys(committed)))
	}
	tag := `<script src="flows/assets/` + GraphLibrary + `"></script>`
	serve := func(files fs.FS) (page string, lib int) {
		t.Helper()
		h, err := pageHandler(files)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/flows", h)
		mux.Handle("/flows/", h)
		resp := get(t, mux, "GET", "/flows", nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /flows: %d", resp.StatusCode)
		}
		if code := get(t, mux, "GET", "/flows/assets/flows.js", nil).StatusCode; code != http.StatusOK {
			t.Errorf("GET flows.js: %d", code)
		}
		return string(body), get(t, mux, "GET", "/flows/assets/"+GraphLibrary, nil).StatusCode
	}

	page, lib := serve(committed)
	if strings.Contains(page, tag) || strings.Contains(page, "vendor/") || lib != http.StatusNotFound {
		t.Errorf("without the library: script tag %v, GET the library %d; want no tag, 404", strings.Contains(page, tag), lib)
	}
	if !strings.Contains(page, `<p id="notice"`) || !strings.Contains(page, "run <code>make assets</code> (npm ci) and rebuild") {
		t.Error("without the library, the page lacks the notice that says to run make assets")
	}
	if strings.Contains(page, graphPlaceholder) {
		t.Error("the placeholder is still in the page")
	}

	committed[GraphLibrary] = &fstest.MapFile{Data: []byte("window.cytoscape = function () {};\n")}
	page, lib = serve(committed)
	if strings.Count(page, tag) != 1 || lib != http.StatusOK {
		t.Errorf("with the library: %d script tags, GET the library %d; want 1, 200", strings.Count(page, tag), lib)
	}
	if strings.Index(page, tag) > strings.Index(page, "flows/assets/flows.js") {
		t.Error("the library's script tag comes after the page's module, which needs it")
	}

	if _, err := pageHandler(fstest.MapFS{"flows.js": {}}); err == nil {
		t.Error("files without index.html: no error")
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
