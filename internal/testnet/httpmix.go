// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HTTP helpers for request accounting: a server whose status and delay
// the path chooses, and a client sending an exact plan of requests on one
// keep-alive connection. The TLS and HTTP/2 variants are in apps.go.
func init() {
	helpers["http-mix-serve"] = httpMixServe
	helpers["http-mix-get"] = httpMixGet
}

// HTTPCounts are requests by method ("GET", "PROPFIND", …), then by status
// ("200", "404", …; "none": the connection closed before a response).
type HTTPCounts = Counts

// HTTPServeResult is the result of http-mix-serve, tls-serve and
// h2c-serve: the requests seen.
type HTTPServeResult struct {
	Requests int        `json:"requests"`
	Counts   HTTPCounts `json:"counts"`
}

// mixHandler answers from the path, counting into res:
//
//	/status/<code>[?delay=<Go duration>]  status <code> (200–599) after the
//	                                      delay, body "status <code>\n"
//	/hang                                 no answer until the client closes
//	anything else                         404
//
// Request bodies are read to the end first.
func mixHandler(mu *sync.Mutex, res *HTTPServeResult) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		status := http.StatusNotFound
		if r.URL.Path == "/hang" {
			<-r.Context().Done()
			status = 0
		} else if s, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			if code, err := strconv.Atoi(s); err == nil && code >= 200 && code <= 599 {
				status = code
			}
			if d, err := time.ParseDuration(r.URL.Query().Get("delay")); err == nil {
				time.Sleep(d)
			}
		}
		mu.Lock()
		res.Requests++
		if status == 0 {
			res.Counts.add(r.Method, "none")
		} else {
			res.Counts.add(r.Method, strconv.Itoa(status))
		}
		mu.Unlock()
		if status == 0 {
			// Returning would make net/http send "200 OK": close without a response.
			panic(http.ErrAbortHandler)
		}
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "status %d\n", status)
	})
}

// serveUntilTerm serves srv on l (over TLS when srv.TLSConfig is set) until
// SIGTERM, lets running requests finish (a /hang request finishes when its
// client closes), and returns res as JSON.
func serveUntilTerm(srv *http.Server, l net.Listener, mu *sync.Mutex, res *HTTPServeResult) (string, error) {
	go func() {
		if srv.TLSConfig != nil {
			_ = srv.ServeTLS(l, "", "")
		} else {
			_ = srv.Serve(l)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ready()
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	_ = srv.Close()
	mu.Lock()
	defer mu.Unlock()
	out, err := json.Marshal(res)
	return string(out), err
}

// httpMixServe ADDR: HTTP/1.1 (net/http) with mixHandler on ADDR until
// SIGTERM; result: an HTTPServeResult as JSON.
func httpMixServe(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("usage: http-mix-serve ADDR")
	}
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return "", err
	}
	var mu sync.Mutex
	res := &HTTPServeResult{Counts: HTTPCounts{}}
	return serveUntilTerm(&http.Server{Handler: mixHandler(&mu, res)}, l, &mu, res)
}

// HTTPPlan is http-mix-get's plan: requests sent in order, each after the
// response to the one before (no pipelining).
type HTTPPlan struct {
	// TimeoutMS bounds each response, in milliseconds (0: 5000).
	TimeoutMS int               `json:"timeout_ms,omitempty"`
	Requests  []HTTPPlanRequest `json:"requests"`
}

// HTTPPlanRequest is Count identical requests.
type HTTPPlanRequest struct {
	Method string `json:"method,omitempty"` // "": GET; any token, e.g. PROPFIND
	Path   string `json:"path"`             // with query, e.g. "/status/500?delay=50ms"
	// Body is the request body's size in bytes ("x"s), sent with
	// Content-Length (POST, PUT and PATCH always carry Content-Length).
	Body  int `json:"body,omitempty"`
	Count int `json:"count,omitempty"` // 0: 1
	// CloseAfterMS > 0: do not wait for the response; close the
	// connection this many milliseconds after sending (status "none").
	// The next request opens a new connection.
	CloseAfterMS int `json:"close_after_ms,omitempty"`
}

// HTTPResult is the result of http-mix-get, tls-get and h2c-get.
type HTTPResult struct {
	Counts   HTTPCounts     `json:"counts"`
	Requests []HTTPExchange `json:"requests"`
	Conns    int            `json:"conns"`           // TCP connections made
	Proto    string         `json:"proto,omitempty"` // the last response's, e.g. "HTTP/2.0"
}

// HTTPExchange is one request's outcome.
type HTTPExchange struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Status string `json:"status"` // "200", …; "none": closed before the response
	// Micros is the time from writing the request to having read the
	// response's status line and headers, in microseconds (for "none": to
	// the close).
	Micros int64 `json:"us"`
	Conn   int   `json:"conn"` // which connection, from 0
}

// httpMixGet URL PLAN-JSON: send the HTTPPlan's requests to URL's host on
// one raw TCP connection, each request (line, headers and body) in a single
// write; result: an HTTPResult as JSON. The connection is replaced only
// after a close_after_ms request or a response with "Connection: close".
func httpMixGet(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: http-mix-get URL PLAN-JSON")
	}
	u, err := url.Parse(args[0])
	if err != nil {
		return "", err
	}
	var plan HTTPPlan
	if err := json.Unmarshal([]byte(args[1]), &plan); err != nil {
		return "", fmt.Errorf("plan: %w", err)
	}
	timeout := time.Duration(cmp.Or(plan.TimeoutMS, 5000)) * time.Millisecond
	res := HTTPResult{Counts: HTTPCounts{}, Proto: "HTTP/1.1"}
	var conn net.Conn
	var br *bufio.Reader
	ready()
	for _, pr := range plan.Requests {
		method := cmp.Or(pr.Method, http.MethodGet)
		var req strings.Builder
		fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: podflow-test\r\n", method, pr.Path, u.Host)
		if pr.Body > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
			fmt.Fprintf(&req, "Content-Length: %d\r\n", pr.Body)
		}
		req.WriteString("\r\n" + strings.Repeat("x", pr.Body))
		for range cmp.Or(pr.Count, 1) {
			if conn == nil {
				if conn, err = net.Dial("tcp", u.Host); err != nil {
					return "", err
				}
				br = bufio.NewReader(conn)
				res.Conns++
			}
			x := HTTPExchange{Method: method, Path: pr.Path, Status: "none", Conn: res.Conns - 1}
			start := time.Now()
			_ = conn.SetDeadline(start.Add(timeout))
			if _, err := io.WriteString(conn, req.String()); err != nil {
				return "", err
			}
			closeConn := pr.CloseAfterMS > 0
			if closeConn {
				time.Sleep(time.Duration(pr.CloseAfterMS) * time.Millisecond)
			} else {
				resp, err := http.ReadResponse(br, &http.Request{Method: method})
				if err != nil {
					return "", fmt.Errorf("%s %s: %w", method, pr.Path, err)
				}
				x.Status = strconv.Itoa(resp.StatusCode)
				x.Micros = time.Since(start).Microseconds()
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					return "", fmt.Errorf("%s %s: body: %w", method, pr.Path, err)
				}
				closeConn = resp.Close
			}
			if closeConn {
				conn.Close()
				conn = nil
				if x.Status == "none" {
					x.Micros = time.Since(start).Microseconds()
				}
			}
			res.Counts.add(method, x.Status)
			res.Requests = append(res.Requests, x)
		}
	}
	if conn != nil {
		conn.Close()
	}
	out, err := json.Marshal(res)
	return string(out), err
}

// HTTPMixGet runs http-mix-get in ns and cg against url (e.g.
// "http://10.0.0.2:8080") and returns its result.
func HTTPMixGet(t testing.TB, ns *Netns, cg *Cgroup, url string, plan HTTPPlan) HTTPResult {
	t.Helper()
	return decoded[HTTPResult](t, RunHelper(t, ns, cg, "http-mix-get", url, mustJSON(t, plan)))
}

// HTTPServeStop stops an http-mix-serve, tls-serve or h2c-serve helper and
// returns its result.
func HTTPServeStop(t testing.TB, p *Proc) HTTPServeResult {
	t.Helper()
	return decoded[HTTPServeResult](t, p.Stop())
}
