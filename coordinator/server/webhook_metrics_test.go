package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWebhookMetricsMove serves a coordinator with a real receiving server
// that refuses deliveries, then accepts them: /metrics shows the failed
// attempts and the backlog, then the delivery, an empty outbox and the
// delivery latency.
func TestWebhookMetricsMove(t *testing.T) {
	var accept atomic.Bool
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if !accept.Load() {
			w.WriteHeader(http.StatusBadRequest) // not retried at once: back to the outbox
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	cfg := testConfig(t)
	cfg.Events.WebhookAllowPrivate = true
	cfg.Events.WebhookMinBackoff, cfg.Events.WebhookMaxBackoff = 10*time.Millisecond, 20*time.Millisecond
	srv := serve(t, cfg)
	api := &apiClient{t: t, base: "http://" + srv.Addr(), key: cfg.AdminKey}

	m := api.metrics()
	for _, s := range []string{`ferry_webhook_deliveries_total{outcome="delivered"}`, `ferry_webhook_deliveries_total{outcome="failed"}`,
		`ferry_webhook_deliveries_total{outcome="disabled"}`, "ferry_webhook_outbox_pending", "ferry_webhook_delivery_latency_seconds_count"} {
		if v, ok := m[s]; !ok || v != 0 {
			t.Errorf("before any event: %s = %v (present %v), want 0", s, v, ok)
		}
	}
	api.post("/webhooks", map[string]any{"url": rcv.URL + "/hook", "eventTypes": []string{"connection.created"}})
	var co struct{ ID string }
	api.post("/companies", map[string]any{"name": "Acme"}, &co)
	api.post("/companies/"+co.ID+"/connections", map[string]any{"platformKey": "csv"})

	api.waitMetrics("a failed attempt, the event still pending", func(m map[string]float64) bool {
		return m[`ferry_webhook_deliveries_total{outcome="failed"}`] >= 1 && m["ferry_webhook_outbox_pending"] == 1 &&
			m[`ferry_webhook_deliveries_total{outcome="delivered"}`] == 0
	})
	accept.Store(true)
	m = api.waitMetrics("the delivery, the outbox empty", func(m map[string]float64) bool {
		return m[`ferry_webhook_deliveries_total{outcome="delivered"}`] == 1 && m["ferry_webhook_outbox_pending"] == 0
	})
	if m["ferry_webhook_delivery_latency_seconds_count"] != 1 || m["ferry_webhook_delivery_latency_seconds_sum"] <= 0 {
		t.Errorf("latency: count %v, sum %v; want one delivery, after some time",
			m["ferry_webhook_delivery_latency_seconds_count"], m["ferry_webhook_delivery_latency_seconds_sum"])
	}
}

// apiClient calls a served coordinator's API with a key.
type apiClient struct {
	t    *testing.T
	base string
	key  string
}

func (c *apiClient) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (c *apiClient) post(path string, body any, into ...any) {
	c.t.Helper()
	code, out := c.do("POST", path, body)
	if code/100 != 2 {
		c.t.Fatalf("POST %s: %d %s", path, code, out)
	}
	for _, v := range into {
		if err := json.Unmarshal(out, v); err != nil {
			c.t.Fatalf("POST %s: %v", path, err)
		}
	}
}

// metrics scrapes /metrics into series (name with labels) and values.
func (c *apiClient) metrics() map[string]float64 {
	c.t.Helper()
	code, out := c.do("GET", "/metrics", nil)
	if code != http.StatusOK {
		c.t.Fatalf("GET /metrics: %d %s", code, out)
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// waitMetrics scrapes until cond holds, up to 15 s.
func (c *apiClient) waitMetrics(what string, cond func(map[string]float64) bool) map[string]float64 {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := c.metrics()
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waiting for %s: webhook series %v", what, webhookSeries(m))
		}
		time.Sleep(20 * time.Millisecond) // polling /metrics, with a deadline
	}
}

func webhookSeries(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, "ferry_webhook") && !strings.Contains(k, "_bucket") {
			out[k] = v
		}
	}
	return out
}
