package api

import (
	"encoding/json"
	"net/url"
	"testing"
)

func urlq(s string) string { return url.QueryEscape(s) }

func mustID(t *testing.T, body []byte) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.ID == "" {
		t.Fatalf("no id in %s (%v)", body, err)
	}
	return v.ID
}
