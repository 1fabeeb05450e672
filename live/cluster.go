// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Cluster builds the cluster-wide map from the recording rules shipped in
// deploy/rules (edge:*:rate5m), which sum every node's exporter by
// workload: a node's exporter cannot see the cluster, Prometheus can.
type Cluster struct {
	api     v1.API
	url     string
	timeout time.Duration
}

// NewCluster returns the map of the Prometheus at url.
func NewCluster(url string) (*Cluster, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("--web.live-view.prometheus-url: %w", err)
	}
	return &Cluster{api: v1.NewAPI(c), url: url, timeout: 10 * time.Second}, nil
}

// clusterLabels are the labels of the edge:* recording rules' series.
var clusterLabels = []string{"local_namespace", "local_workload", "local_kind",
	"remote_namespace", "remote_workload", "remote_kind", "remote_service", "role"}

// The recording rules the map is made of; a contract with
// deploy/rules/podflow_exporter.rules.yml.
const (
	ruleTransmit = "edge:podflow_flow_transmit_bytes:rate5m"
	ruleReceive  = "edge:podflow_flow_receive_bytes:rate5m"
	ruleAttempts = "edge:podflow_tcp_connect_attempts:rate5m"
	ruleFailures = "edge:podflow_tcp_connect_failures:rate5m"
)

// Snapshot returns the cluster's edges by rate (Total is zero: Prometheus
// has rates over 5m), the top n by bytes/s and an __other__ edge.
func (c *Cluster) Snapshot(ctx context.Context, n int) (Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	now := time.Now()
	edges := map[string]*Edge{}
	get := func(m model.Metric) *Edge {
		values := make([]string, len(clusterLabels))
		for i, l := range clusterLabels {
			values[i] = string(m[model.LabelName(l)])
		}
		if values[7] == "" { // connect rules have no role: connects are clients'
			values[7] = "client"
		}
		id := "c:" + strings.Join(values, "|")
		if e, ok := edges[id]; ok {
			return e
		}
		labels := make(map[string]string, len(values))
		for i, l := range clusterLabels {
			labels[l] = values[i]
		}
		e := &Edge{ID: id, Labels: labels, Rate: &Rates{},
			Local:  clusterNode(values[2], values[0], values[1]),
			Remote: clusterNode(values[5], values[3], values[4]),
		}
		edges[id] = e
		return e
	}
	for _, q := range []struct {
		rule string
		add  func(e *Edge, m model.Metric, v float64)
	}{
		{ruleTransmit, func(e *Edge, _ model.Metric, v float64) { e.Rate.TransmitBytes += v }},
		{ruleReceive, func(e *Edge, _ model.Metric, v float64) { e.Rate.ReceiveBytes += v }},
		{ruleAttempts, func(e *Edge, _ model.Metric, v float64) { e.Rate.ConnectAttempts += v }},
		{ruleFailures, func(e *Edge, m model.Metric, v float64) {
			if e.Rate.ConnectFailures == nil {
				e.Rate.ConnectFailures = map[string]float64{}
			}
			e.Rate.ConnectFailures[string(m["reason"])] += v
		}},
	} {
		res, _, _, err := c.api.Query(ctx, q.rule, now)
		if err != nil {
			return Snapshot{}, fmt.Errorf("query %s at %s: %w", q.rule, c.url, err)
		}
		vec, ok := res.(model.Vector)
		if !ok {
			return Snapshot{}, fmt.Errorf("query %s at %s: got a %s, want a vector", q.rule, c.url, res.Type())
		}
		for _, s := range vec {
			q.add(get(s.Metric), s.Metric, float64(s.Value))
		}
	}
	all := make([]*Edge, 0, len(edges))
	for _, e := range edges {
		all = append(all, e)
	}
	rate := func(e *Edge) float64 { return e.Rate.TransmitBytes + e.Rate.ReceiveBytes }
	sort.Slice(all, func(i, j int) bool {
		if ri, rj := rate(all[i]), rate(all[j]); ri != rj {
			return ri > rj
		}
		return all[i].ID < all[j].ID
	})
	s := Snapshot{Scope: "cluster", Time: formatTime(now.UnixNano()), RateWindowSeconds: 300,
		TotalEdges: len(all), ClusterAvailable: true}
	var rest Rates
	for i, e := range all {
		if n > 0 && i >= n {
			rest.add(e.Rate)
			continue
		}
		s.Edges = append(s.Edges, *e)
	}
	if n > 0 && len(all) > n {
		other := Node{ID: OtherEdgeID, Name: OtherEdgeID, Kind: OtherEdgeID}
		labels := make(map[string]string, len(clusterLabels))
		for _, l := range clusterLabels {
			labels[l] = OtherEdgeID
		}
		s.Edges = append(s.Edges, Edge{ID: OtherEdgeID, Local: other, Remote: other, Labels: labels, Rate: &rest})
	}
	return s, nil
}

// clusterNode is a workload as the node scope names it at
// --kube.aggregation=workload, so both maps key it alike.
func clusterNode(kind, namespace, workload string) Node {
	return Node{ID: nodeID(kind, namespace, workload, ""), Name: nodeName(kind, namespace, workload), Kind: kind, Namespace: namespace}
}
