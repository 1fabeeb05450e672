// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

// Package kube will name flows by Kubernetes identity (namespace, workload,
// pod, service) from a client-go informer cache. Until it exists, the
// exporter runs in host mode (collector.HostResolver).
package kube
