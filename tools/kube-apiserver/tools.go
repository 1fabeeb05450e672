//go:build tools

// Package tools pins the kube-apiserver the Kubernetes tests run against,
// and the kubectl of the same release the deploy tests apply manifests with.
// k8s.io/kubernetes cannot be installed directly (its go.mod points its
// staging modules at local directories), so this module replaces them with
// their published versions. Built by scripts/install-tools.sh.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
