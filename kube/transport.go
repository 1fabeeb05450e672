// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"net/http"
	"strings"
)

// countingTransport counts the cache's failed requests to the API server by
// resource. Unlike the informers' watch-error handler, it also sees the
// watch attempts a reflector retries on its own while the API server is
// unreachable.
type countingTransport struct {
	next  http.RoundTripper
	count func(resource string)
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode >= 400 {
		t.count(resourceOf(req.URL.Path))
	}
	return resp, err
}

// resourceOf names the resource of an API path: /api/v1/pods,
// /apis/discovery.k8s.io/v1/endpointslices, /api/v1/namespaces/x/pods.
func resourceOf(path string) string {
	elems := strings.Split(strings.Trim(path, "/"), "/")
	for i := len(elems) - 1; i >= 0; i-- {
		switch elems[i] {
		case ResourcePods, ResourceServices, ResourceEndpointSlices, ResourceNodes:
			return elems[i]
		}
	}
	return "other"
}
