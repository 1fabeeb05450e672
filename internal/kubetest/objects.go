// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Objects creates API objects for one test, failing it on errors, and
// removes its pods, services, slices and nodes when it ends (there is no
// namespace controller to do it).
type Objects struct {
	t      testing.TB
	client kubernetes.Interface
}

// Objects returns an object maker for test t.
func (c *Cluster) Objects(t testing.TB) *Objects {
	return &Objects{t: t, client: c.Client}
}

func ctx() context.Context { return context.Background() }

// Namespace creates a namespace if it does not exist.
func (o *Objects) Namespace(name string) {
	o.t.Helper()
	_, err := o.client.CoreV1().Namespaces().Create(ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		o.t.Fatalf("create namespace %s: %v", name, err)
	}
}

// Node creates a node with an internal address.
func (o *Objects) Node(name string, ip netip.Addr) {
	o.t.Helper()
	n, err := o.client.CoreV1().Nodes().Create(ctx(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		o.t.Fatalf("create node %s: %v", name, err)
	}
	o.t.Cleanup(func() { _ = o.client.CoreV1().Nodes().Delete(ctx(), name, metav1.DeleteOptions{}) })
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}}
	if _, err := o.client.CoreV1().Nodes().UpdateStatus(ctx(), n, metav1.UpdateOptions{}); err != nil {
		o.t.Fatalf("set node %s address: %v", name, err)
	}
}

// PodSpec describes a pod to create; Phase and IPs become its status.
type PodSpec struct {
	Namespace, Name string
	// OwnerKind and OwnerName make a controller reference.
	OwnerKind, OwnerName string
	Labels               map[string]string
	Node                 string
	HostNetwork          bool
	Phase                corev1.PodPhase
	IPs                  []netip.Addr
}

// Pod creates a pod, bound to its node, and sets its status as a kubelet
// would. It is deleted when the test ends.
func (o *Objects) Pod(s PodSpec) *corev1.Pod {
	o.t.Helper()
	p, err := o.CreatePod(s)
	if err != nil {
		o.t.Fatal(err)
	}
	return p
}

// CreatePod is Pod returning its error, for use from several goroutines.
func (o *Objects) CreatePod(s PodSpec) (*corev1.Pod, error) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: s.Labels},
		Spec: corev1.PodSpec{
			NodeName:    s.Node,
			HostNetwork: s.HostNetwork,
			Containers:  []corev1.Container{{Name: "main", Image: "podflow.test/none"}},
		},
	}
	if s.OwnerKind != "" {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: ownerAPIVersion(s.OwnerKind), Kind: s.OwnerKind, Name: s.OwnerName,
			UID: "00000000-0000-0000-0000-000000000001", Controller: &yes,
		}}
	}
	p, err := o.client.CoreV1().Pods(s.Namespace).Create(ctx(), p, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod %s/%s: %w", s.Namespace, s.Name, err)
	}
	o.t.Cleanup(func() { o.deletePod(s.Namespace, s.Name) })
	p.Status.Phase = s.Phase
	for _, ip := range s.IPs {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip.String()})
	}
	if len(s.IPs) > 0 {
		p.Status.PodIP = s.IPs[0].String()
	}
	p, err = o.client.CoreV1().Pods(s.Namespace).UpdateStatus(ctx(), p, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("set pod %s/%s status: %w", s.Namespace, s.Name, err)
	}
	return p, nil
}

// CreatePods creates pods with up to 16 requests at a time and fails the
// test on the first error.
func (o *Objects) CreatePods(specs []PodSpec) {
	o.t.Helper()
	errs := make(chan error, len(specs))
	sem := make(chan struct{}, 16)
	for _, s := range specs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := o.CreatePod(s)
			errs <- err
		}()
	}
	for range specs {
		if err := <-errs; err != nil {
			o.t.Fatal(err)
		}
	}
}

// SetPodPhase changes a pod's phase, keeping its IPs.
func (o *Objects) SetPodPhase(ns, name string, phase corev1.PodPhase) {
	o.t.Helper()
	p, err := o.client.CoreV1().Pods(ns).Get(ctx(), name, metav1.GetOptions{})
	if err != nil {
		o.t.Fatal(err)
	}
	p.Status.Phase = phase
	if _, err := o.client.CoreV1().Pods(ns).UpdateStatus(ctx(), p, metav1.UpdateOptions{}); err != nil {
		o.t.Fatal(err)
	}
}

func ownerAPIVersion(kind string) string {
	switch kind {
	case "ReplicaSet", "StatefulSet", "DaemonSet", "Deployment":
		return "apps/v1"
	case "Job", "CronJob":
		return "batch/v1"
	default:
		return "v1"
	}
}

// DeletePod removes a pod at once (grace period 0: no kubelet would finish it).
func (o *Objects) DeletePod(ns, name string) {
	o.t.Helper()
	if err := o.deletePodErr(ns, name); err != nil {
		o.t.Fatalf("delete pod %s/%s: %v", ns, name, err)
	}
}

func (o *Objects) deletePod(ns, name string) { _ = o.deletePodErr(ns, name) }

func (o *Objects) deletePodErr(ns, name string) error {
	zero := int64(0)
	err := o.client.CoreV1().Pods(ns).Delete(ctx(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// Service creates a ClusterIP service with the given cluster IP (or a
// headless one with an invalid address) on the given TCP ports.
func (o *Objects) Service(ns, name string, clusterIP netip.Addr, ports ...int32) {
	o.t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if clusterIP.IsValid() {
		svc.Spec.ClusterIP = clusterIP.String()
	} else {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: fmt.Sprint("p", p), Port: p, Protocol: corev1.ProtocolTCP})
	}
	if _, err := o.client.CoreV1().Services(ns).Create(ctx(), svc, metav1.CreateOptions{}); err != nil {
		o.t.Fatalf("create service %s/%s: %v", ns, name, err)
	}
	o.t.Cleanup(func() { _ = o.client.CoreV1().Services(ns).Delete(ctx(), name, metav1.DeleteOptions{}) })
}

// EndpointSlice lists addresses as endpoints of service svc.
func (o *Objects) EndpointSlice(ns, svc string, addrs ...netip.Addr) {
	o.t.Helper()
	name := svc + "-" + randomSuffix()
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, a := range addrs {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{a.String()}})
	}
	if _, err := o.client.DiscoveryV1().EndpointSlices(ns).Create(ctx(), slice, metav1.CreateOptions{}); err != nil {
		o.t.Fatalf("create endpoint slice for %s/%s: %v", ns, svc, err)
	}
	o.t.Cleanup(func() { _ = o.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx(), name, metav1.DeleteOptions{}) })
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ContainerID is a random 64-hex container id.
func ContainerID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// SystemdCgroup is where kubelet with the systemd driver puts a container
// of a pod: kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope.
func SystemdCgroup(p *corev1.Pod, qos, container string) string {
	uid := strings.ReplaceAll(string(p.UID), "-", "_")
	return fmt.Sprintf("kubepods.slice/kubepods-%[1]s.slice/kubepods-%[1]s-pod%[2]s.slice/cri-containerd-%[3]s.scope", qos, uid, container)
}

// CgroupfsCgroup is the same with the cgroupfs driver: kubepods/<qos>/pod<uid>/<id>.
func CgroupfsCgroup(p *corev1.Pod, qos, container string) string {
	return fmt.Sprintf("kubepods/%s/pod%s/%s", qos, p.UID, container)
}
