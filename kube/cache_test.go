// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/go-kit/log"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podflow/podflow_exporter/internal/kubetest"
)

var cluster *kubetest.Cluster

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

// TestSyncedMeansIndexed: the moment the cache says it is synced, its
// indexes hold every pod of the API server (not only the informers' stores,
// which fill first), so no flow is named "world" for a pod the cache has
// but has not indexed yet.
func TestSyncedMeansIndexed(t *testing.T) {
	const pods = 2000
	var err error
	if cluster, err = kubetest.Start(); err != nil {
		t.Fatal(err)
	}
	objs := cluster.Objects(t)
	objs.Namespace("sync")
	fillPods(t, objs, pods)
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.Kubeconfig(kubetest.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		c, err := NewCache(cfg, &Config{Aggregation: AggregateWorkload}, log.NewNopLogger())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		c.Run(ctx)
		deadline := time.Now().Add(60 * time.Second)
		for !c.Synced() {
			if time.Now().After(deadline) {
				t.Fatal("not synced after 60s")
			}
			time.Sleep(time.Millisecond)
		}
		if got := c.Stats().Objects[ResourcePods]; got != pods {
			t.Errorf("round %d: synced with %d pods indexed, want %d", round, got, pods)
		}
		last := netip.MustParseAddr("10.110.0.1")
		for range pods - 1 {
			last = last.Next()
		}
		if id, o := c.Remote(last); o != Resolved || id.Pod != fmt.Sprintf("p-%04d", pods-1) {
			t.Errorf("round %d: the last pod's address named %+v (%v)", round, id, o)
		}
		cancel()
		c.Stop()
	}
}

func fillPods(t *testing.T, objs *kubetest.Objects, n int) {
	t.Helper()
	specs := make([]kubetest.PodSpec, n)
	ip := netip.MustParseAddr("10.110.0.1")
	for i := range specs {
		specs[i] = kubetest.PodSpec{Namespace: "sync", Name: fmt.Sprintf("p-%04d", i), Node: "n", Phase: corev1.PodRunning, IPs: []netip.Addr{ip}}
		ip = ip.Next()
	}
	objs.CreatePods(specs)
}
