// Copyright 2026 The podflow_exporter Authors
// SPDX-License-Identifier: Apache-2.0

package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClusterSnapshot: the four recording rules' series become one edge
// per workload pair and role, the connects (which have no role) on the
// client edge; a service is a node of its own, named so.
func TestClusterSnapshot(t *testing.T) {
	web := `"local_namespace":"shop","local_workload":"web","local_kind":"Deployment"`
	db := `"remote_namespace":"shop","remote_workload":"db","remote_kind":"StatefulSet","remote_service":""`
	svc := `"remote_namespace":"shop","remote_workload":"db","remote_kind":"service","remote_service":"db"`
	series := map[string][]string{
		ruleTransmit: {`{` + web + `,` + db + `,"role":"client"}=100`, `{` + web + `,` + svc + `,"role":"client"}=7`},
		ruleReceive:  {`{` + web + `,` + db + `,"role":"client"}=20`},
		ruleAttempts: {`{` + web + `,` + db + `}=2`},
		ruleFailures: {`{` + web + `,` + db + `,"reason":"refused"}=1.5`, `{` + web + `,` + db + `,"reason":"timeout"}=0.5`},
	}
	var queries []string
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("query")
		queries = append(queries, q)
		var result []string
		for _, s := range series[q] {
			metric, value, _ := strings.Cut(s, "=")
			result = append(result, fmt.Sprintf(`{"metric":%s,"value":[1800000000,"%s"]}`, metric, value))
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[%s]}}`, strings.Join(result, ","))
	}))
	defer prom.Close()
	c, err := NewCluster(prom.URL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Snapshot(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) != 4 || s.Scope != "cluster" || s.TotalEdges != 2 {
		t.Fatalf("%d queries, scope %q, %d edges; want 4, cluster, 2", len(queries), s.Scope, s.TotalEdges)
	}
	e := s.Edges[0]
	got, _ := json.Marshal(e.Rate)
	if want := `{"transmit_bytes":100,"transmit_packets":0,"receive_bytes":20,"receive_packets":0,"connect_attempts":2,"connect_failures":{"refused":1.5,"timeout":0.5},"accepted_connections":0,"retransmitted_segments":0}`; string(got) != want {
		t.Errorf("web→db rates %s, want %s", got, want)
	}
	if e.Local.Name != "shop/web" || e.Remote.Name != "shop/db" || e.Labels["role"] != "client" {
		t.Errorf("first edge %s → %s (%s), want shop/web → shop/db (client)", e.Local.Name, e.Remote.Name, e.Labels["role"])
	}
	if r := s.Edges[1].Remote; r.Name != "service shop/db" || r.ID == e.Remote.ID {
		t.Errorf("the service is node %q (%s), want \"service shop/db\", apart from the workload (%s)", r.Name, r.ID, e.Remote.ID)
	}
	top, _ := c.Snapshot(context.Background(), 1)
	if len(top.Edges) != 2 || top.Edges[1].ID != OtherEdgeID || top.Edges[1].Rate.TransmitBytes != 7 {
		t.Errorf("top=1: %d edges, last %s with %v B/s; want the biggest and __other__ with 7", len(top.Edges), top.Edges[len(top.Edges)-1].ID, top.Edges[len(top.Edges)-1].Rate.TransmitBytes)
	}
	prom.Close()
	if _, err := c.Snapshot(context.Background(), 0); err == nil || !strings.Contains(err.Error(), prom.URL) {
		t.Errorf("Prometheus down: %v, want an error naming it", err)
	}
}
