// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package top

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// The HTTP side of `podflow_exporter top`: the exporter's URL, its TLS and
// basic auth, and errors that say what to do.

// Paths of the live view, under the exporter's URL.
const (
	flowsPath  = "/api/v1/flows"
	streamPath = "/api/v1/flows/stream"
)

// client asks one exporter for its flows.
type client struct {
	// base is the exporter's URL without credentials, path trimmed of "/".
	base           *url.URL
	user, password string
	http           *http.Client
}

func newClient(cfg *Config) (*client, error) {
	raw := cfg.url
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", cfg.url, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %s: the scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %s: no host", u.Redacted())
	}
	c := &client{base: u}
	if u.User != nil {
		c.user = u.User.Username()
		c.password, _ = u.User.Password()
		u.User = nil
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	if cfg.user != "" {
		c.user = cfg.user
	}
	if cfg.passwordFile != "" {
		b, err := os.ReadFile(cfg.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("--basic-auth.password-file: %w", err)
		}
		c.password = strings.TrimRight(string(b), "\r\n")
		if c.user == "" {
			return nil, errors.New("--basic-auth.password-file needs a user: --basic-auth.username, or user@ in the URL")
		}
	}
	tlsConfig, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.ResponseHeaderTimeout = 15 * time.Second
	c.http = &http.Client{Transport: tr}
	return c, nil
}

// tlsConfig trusts the system's roots, plus --tls.ca-file, and presents
// --tls.cert-file when given.
func (cfg *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: cfg.insecure} // only when asked for by flag
	if cfg.caFile != "" {
		pem, err := os.ReadFile(cfg.caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls.ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls.ca-file %s: no PEM certificate in it", cfg.caFile)
		}
		tc.RootCAs = pool
	}
	if (cfg.certFile == "") != (cfg.keyFile == "") {
		return nil, errors.New("--tls.cert-file and --tls.key-file go together: give both or neither")
	}
	if cfg.certFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls.cert-file, --tls.key-file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// url returns the URL of path, with query, as shown to the user (never
// with the password).
func (c *client) url(path, query string) string {
	u := *c.base
	u.Path += path
	u.RawQuery = query
	return u.String()
}

// get asks for path and returns the response when it is 200 OK; an error
// names the URL and says what to do.
func (c *client) get(ctx context.Context, path, query string, header http.Header) (*http.Response, error) {
	target := c.url(path, query)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.user != "" || c.password != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(target, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return nil, c.statusError(target, resp.StatusCode, resp.Status, string(body))
}

// httpError is an answer other than 200 OK. fatal: asking again would
// not help (reconnecting stops).
type httpError struct {
	msg   string
	fatal bool
}

func (e *httpError) Error() string { return e.msg }

func (c *client) statusError(target string, code int, status, body string) error {
	first, _, _ := strings.Cut(strings.TrimSpace(body), "\n")
	e := &httpError{msg: fmt.Sprintf("%s: %s", target, status), fatal: true}
	switch {
	case code == http.StatusUnauthorized && c.user == "":
		e.msg += ": basic auth required: put user:password in the URL (http://user:password@host:9810), or use --basic-auth.username and --basic-auth.password-file"
	case code == http.StatusUnauthorized:
		e.msg += fmt.Sprintf(": the exporter did not accept user %q and its password", c.user)
	case code == http.StatusNotFound:
		e.msg += ": no live view there: the exporter is older than the live view, or runs with --no-web.live-view (or the URL is not the exporter's base URL)"
	case code == http.StatusServiceUnavailable:
		e.msg += ": the exporter serves too many live-view clients already (--web.live-view.max-clients); close one or raise the limit"
		e.fatal = false
	case code == http.StatusBadRequest && strings.Contains(body, "HTTPS"):
		e.msg += ": the exporter serves HTTPS: use an https:// URL"
	case code >= 500:
		e.fatal = false
		fallthrough
	default:
		if first != "" {
			e.msg += ": " + first
		}
	}
	return e
}

func (c *client) transportError(target string, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		dnsErr    *net.DNSError
		recordErr tls.RecordHeaderError
		urlErr    *url.Error
	)
	inner := err
	if errors.As(err, &urlErr) {
		inner = urlErr.Err // its message repeats the URL
	}
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: connection refused: is podflow_exporter running there (its --web.listen-address)?", target)
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		return fmt.Errorf("%s: %w: trust the CA that signed the exporter's certificate with --tls.ca-file, or skip the check with --tls.insecure-skip-verify", target, inner)
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%s: the exporter serves plain HTTP: use an http:// URL", target)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%s: %w", target, dnsErr)
	}
	return fmt.Errorf("%s: %w", target, inner)
}

// isFatal says whether asking again cannot help.
func isFatal(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.fatal
}

// stream opens the event stream, resuming after lastID when given.
func (c *client) stream(ctx context.Context, lastID string) (*http.Response, error) {
	h := http.Header{"Accept": {"text/event-stream"}}
	if lastID != "" {
		h.Set("Last-Event-ID", lastID)
	}
	resp, err := c.get(ctx, streamPath, "", h)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, &httpError{msg: fmt.Sprintf("%s: Content-Type %q, not text/event-stream: not podflow_exporter's live view", c.url(streamPath, ""), ct), fatal: true}
	}
	return resp, nil
}

// snapshot returns the body of GET /api/v1/flows with every edge.
func (c *client) snapshot(ctx context.Context) ([]byte, error) {
	resp, err := c.get(ctx, flowsPath, "top=0", http.Header{"Accept": {"application/json"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.url(flowsPath, "top=0"), err)
	}
	return body, nil
}
