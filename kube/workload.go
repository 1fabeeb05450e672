// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Workload kinds of pods; pods not owned by a known controller are their
// own workload ("Pod").
const (
	KindDeployment  = "Deployment"
	KindReplicaSet  = "ReplicaSet"
	KindStatefulSet = "StatefulSet"
	KindDaemonSet   = "DaemonSet"
	KindJob         = "Job"
	KindCronJob     = "CronJob"
	KindStaticPod   = "StaticPod"
	KindPod         = "Pod"
)

// workloadOf names the top owner of a pod from what the pod itself carries,
// without asking the API server about the owner:
//
//   - ReplicaSet "<d>-<hash>", where <hash> is the pod's pod-template-hash
//     label, is Deployment <d>; a ReplicaSet without that link is itself.
//   - Job "<c>-<digits>" (8 or more: the scheduled time in minutes, as the
//     CronJob controller names Jobs) is CronJob <c>; other Jobs are themselves.
//   - A mirror pod (owned by its Node) is StaticPod "<name>" (its name without
//     the "-<node>" suffix).
//   - StatefulSet, DaemonSet and other controllers are themselves.
//   - A pod without a controller is its own workload.
func workloadOf(pod *corev1.Pod) (name, kind string) {
	ref := controllerOf(pod.OwnerReferences)
	if ref == nil {
		return pod.Name, KindPod
	}
	switch ref.Kind {
	case KindReplicaSet:
		if hash := pod.Labels["pod-template-hash"]; hash != "" {
			if d, ok := strings.CutSuffix(ref.Name, "-"+hash); ok && d != "" {
				return d, KindDeployment
			}
		}
		return ref.Name, KindReplicaSet
	case KindJob:
		if c, ok := cronJobOf(ref.Name); ok {
			return c, KindCronJob
		}
		return ref.Name, KindJob
	case "Node":
		if s, ok := strings.CutSuffix(pod.Name, "-"+ref.Name); ok && s != "" {
			return s, KindStaticPod
		}
		return pod.Name, KindStaticPod
	default:
		return ref.Name, ref.Kind
	}
}

// controllerOf returns the managing owner, or the first owner if none is
// marked as controller.
func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	if len(refs) > 0 {
		return &refs[0]
	}
	return nil
}

// cronJobOf strips the "-<minutes>" suffix CronJob-made Jobs carry.
func cronJobOf(job string) (string, bool) {
	i := strings.LastIndexByte(job, '-')
	if i <= 0 || len(job)-i-1 < 8 {
		return "", false
	}
	for _, ch := range job[i+1:] {
		if ch < '0' || ch > '9' {
			return "", false
		}
	}
	return job[:i], true
}
