// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package testnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
)

// HTTP helpers: short, ordinary HTTP/1.1 exchanges, one connection each.
func init() {
	helpers["http-serve"] = httpServe
	helpers["http-get"] = httpGet
}

// httpServe ADDR REQUESTS: answer REQUESTS requests with a small body,
// then stop (0: answer until stopped, for load); result: the requests
// answered.
func httpServe(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: http-serve ADDR REQUESTS")
	}
	want, _ := strconv.Atoi(args[1])
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return "", err
	}
	var served atomic.Int64
	done := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello from podflow's test server\n")
		if served.Add(1) == int64(want) {
			close(done)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	ready()
	<-done
	_ = srv.Close()
	return strconv.FormatInt(served.Load(), 10), nil
}

// httpGet URL REQUESTS: GET URL REQUESTS times, each on a new connection
// closed after the response; result: the responses read.
func httpGet(args []string) (string, error) {
	if len(args) != 2 {
		return "", errors.New("usage: http-get URL REQUESTS")
	}
	n, _ := strconv.Atoi(args[1])
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ready()
	for i := range n {
		resp, err := client.Get(args[0])
		if err != nil {
			return "", fmt.Errorf("request %d: %w", i, err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return "", err
		}
	}
	return strconv.Itoa(n), nil
}
