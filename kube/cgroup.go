// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import (
	"regexp"
	"strings"
)

// podCgroup matches the pod element kubelet puts in cgroup paths, with the
// systemd driver ("kubepods-burstable-pod<uid with _>.slice") or the
// cgroupfs driver ("pod<uid>").
var podCgroup = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(\.slice)?$`)

// PodUIDFromCgroup returns the UID of the pod a cgroup v2 path belongs to,
// from the deepest path element kubelet named after a pod.
func PodUIDFromCgroup(path string) (string, bool) {
	elems := strings.Split(path, "/")
	for i := len(elems) - 1; i >= 0; i-- {
		if m := podCgroup.FindStringSubmatch(elems[i]); m != nil {
			return strings.ReplaceAll(m[1], "_", "-"), true
		}
	}
	return "", false
}
