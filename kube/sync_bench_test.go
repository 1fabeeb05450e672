// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podflow/podflow_exporter/internal/kubetest"
)

// BenchmarkCacheSync fills a real API server with pods of realistic size
// (labels, annotations, two containers with environment and resources,
// statuses) and services, then measures how long a new cache takes to sync
// and how much heap it holds afterwards (after a GC, over the heap before it
// was created).
//
//	go test -run '^$' -bench CacheSync -benchtime 3x -timeout 30m ./kube/
func BenchmarkCacheSync(b *testing.B) {
	for _, size := range []struct{ pods, services int }{{1000, 200}, {10000, 2000}} {
		b.Run(fmt.Sprintf("pods=%d,services=%d", size.pods, size.services), func(b *testing.B) {
			c, err := kubetest.Start()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Stop()
			cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig(kubetest.AdminUser))
			if err != nil {
				b.Fatal(err)
			}
			fill(b, c.Client, size.pods, size.services)

			var syncs, heaps []float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				ctx, cancel := context.WithCancel(context.Background())
				cache, err := NewCache(cfg, &Config{Aggregation: AggregateWorkload, PodLabels: []string{"app"}}, log.NewNopLogger())
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				cache.Run(ctx)
				for !cache.Synced() {
					time.Sleep(5 * time.Millisecond)
				}
				syncs = append(syncs, time.Since(start).Seconds())
				runtime.GC()
				runtime.ReadMemStats(&after)
				heaps = append(heaps, float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
				if got := cache.Stats().Objects[ResourcePods]; got != size.pods {
					b.Fatalf("cache holds %d pods, want %d", got, size.pods)
				}
				runtime.KeepAlive(cache)
				cancel()
				cache.Stop()
			}
			b.ReportMetric(median(syncs), "s/sync")
			b.ReportMetric(median(heaps), "MB-heap")
		})
	}
}

// fill creates pods and services with up to 32 requests at a time.
func fill(b *testing.B, client kubernetes.Interface, pods, services int) {
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	work := make(chan func() error)
	errs := make(chan error, 1)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				if err := f(); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	ip := netip.MustParseAddr("10.100.0.1")
	for i := range pods {
		addr := ip
		ip = ip.Next()
		work <- func() error { return createPod(ctx, client, i, addr) }
	}
	svcIP := netip.MustParseAddr("10.96.1.1")
	for i := range services {
		addr := svcIP
		svcIP = svcIP.Next()
		work <- func() error {
			s := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%05d", i), Namespace: "bench", Labels: map[string]string{"app": "bench"}},
				Spec: corev1.ServiceSpec{ClusterIP: addr.String(), Selector: map[string]string{"app": fmt.Sprint("app-", i)},
					Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "metrics", Port: 9090}}},
			}
			_, err := client.CoreV1().Services("bench").Create(ctx, s, metav1.CreateOptions{})
			return err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

func createPod(ctx context.Context, client kubernetes.Interface, i int, ip netip.Addr) error {
	yes := true
	env := make([]corev1.EnvVar, 10)
	for j := range env {
		env[j] = corev1.EnvVar{Name: fmt.Sprintf("SETTING_%d", j), Value: strings.Repeat("v", 20)}
	}
	container := func(name string, port int32) corev1.Container {
		return corev1.Container{
			Name: name, Image: "registry.example.com/team/service:1.2.3", Env: env,
			Ports: []corev1.ContainerPort{{ContainerPort: port, Name: name}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
		}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("app-%05d-7d9c5b6f4-x2x9k", i), Namespace: "bench",
			Labels:          map[string]string{"app": fmt.Sprint("app-", i%500), "team": "t", "pod-template-hash": "7d9c5b6f4", "version": "v1", "tier": "backend"},
			Annotations:     map[string]string{"checksum/config": strings.Repeat("a", 64), "prometheus.io/scrape": "true", "kubectl.kubernetes.io/restartedAt": "2026-11-01T00:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("app-%05d-7d9c5b6f4", i), UID: "00000000-0000-0000-0000-000000000001", Controller: &yes}},
		},
		Spec: corev1.PodSpec{NodeName: fmt.Sprint("node-", i%100), Containers: []corev1.Container{container("main", 8080), container("sidecar", 9090)}},
	}
	p, err := client.CoreV1().Pods("bench").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip.String(), PodIPs: []corev1.PodIP{{IP: ip.String()}}, HostIP: "10.0.0.1",
		Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.ContainersReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Ready: true, Image: "registry.example.com/team/service:1.2.3"}, {Name: "sidecar", Ready: true}},
	}
	_, err = client.CoreV1().Pods("bench").UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return err
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// BenchmarkRemote measures naming an address with 10,000 pods cached.
func BenchmarkRemote(b *testing.B) {
	c := benchCache(b, 10000)
	addrs := make([]netip.Addr, 1024)
	a := netip.MustParseAddr("10.100.0.1")
	for i := range addrs {
		addrs[i] = a
		for range 7 {
			a = a.Next()
		}
	}
	i := 0
	for b.Loop() {
		if _, o := c.Remote(addrs[i%len(addrs)]); o != Resolved {
			b.Fatal("not resolved")
		}
		i++
	}
}

// BenchmarkPodByUID measures naming a local socket's pod from its cgroup path.
func BenchmarkPodByUID(b *testing.B) {
	c := benchCache(b, 10000)
	path := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod00000000_0000_0000_0000_000000001234.slice/cri-containerd-0123456789abcdef.scope"
	for b.Loop() {
		uid, _ := PodUIDFromCgroup(path)
		if _, ok := c.PodByUID(uid); !ok {
			b.Fatal("not found")
		}
	}
}

// benchCache is a synced cache holding n pods with consecutive addresses
// from 10.100.0.1 and UIDs 00000000-0000-0000-0000-<index>.
func benchCache(tb testing.TB, n int) *Cache {
	c := NewTestCache(&Config{Aggregation: AggregateWorkload})
	ip := netip.MustParseAddr("10.100.0.1")
	for i := range n {
		c.Apply(ResourcePods, newPod("bench", fmt.Sprintf("app-%05d", i), fmt.Sprintf("00000000-0000-0000-0000-%012d", i), corev1.PodRunning, ip.String()))
		ip = ip.Next()
	}
	return c
}
