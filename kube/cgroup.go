// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package kube

import "strings"

// PodUIDFromCgroup returns the UID of the pod a cgroup v2 path belongs to,
// from the deepest path element kubelet named after a pod: with the systemd
// driver "kubepods-<qos>-pod<uid with _>.slice", with the cgroupfs driver
// "pod<uid>".
func PodUIDFromCgroup(path string) (string, bool) {
	for path != "" {
		i := strings.LastIndexByte(path, '/')
		elem := path[i+1:]
		path = path[:max(i, 0)]
		if uid, ok := podElement(elem); ok {
			return uid, true
		}
	}
	return "", false
}

// podElement parses "...pod<uid>[.slice]", the UID's dashes possibly
// written as underscores.
func podElement(elem string) (string, bool) {
	elem = strings.TrimSuffix(elem, ".slice")
	const uidLen = 36
	if len(elem) < 3+uidLen || elem[len(elem)-uidLen-3:len(elem)-uidLen] != "pod" {
		return "", false
	}
	uid := []byte(elem[len(elem)-uidLen:])
	for i, ch := range uid {
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' && ch != '_' {
				return "", false
			}
			uid[i] = '-'
		default:
			if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f') {
				return "", false
			}
		}
	}
	return string(uid), true
}
