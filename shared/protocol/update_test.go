package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUpdateMessages(t *testing.T) {
	good := []Message{
		{Type: TypeUpdate, ID: "1", Update: &Update{Version: "1.1.0", HealthMillis: 120000, Reason: "rollout"}},
		{Type: TypeUpdateStatus, ID: "2", UpdateStatus: &UpdateStatus{Event: UpdateStarted, From: "1.0.0", To: "1.1.0"}},
		{Type: TypeUpdateStatus, ID: "3", UpdateStatus: &UpdateStatus{Event: UpdateFailed, From: "1.0.0", To: "1.1.0", Step: StepVerify, Reason: "tampered: sha-256 differs"}},
		{Type: TypeUpdateStatus, ID: "4", UpdateStatus: &UpdateStatus{Event: UpdateRolledBack, From: "dev", To: "2.0.0-rc.1", Step: StepHealth, Reason: "not connected within 2m0s"}},
		{Type: TypeHello, ID: "5", Hello: &Hello{Versions: []int{1}, Features: []string{FeatureUpdate}}},
	}
	for _, m := range good {
		raw, _ := json.Marshal(m)
		got, err := Decode(raw)
		if err != nil {
			t.Errorf("Decode(%s): %v", raw, err)
			continue
		}
		if back, _ := json.Marshal(got); string(back) != string(raw) {
			t.Errorf("round trip changed %s into %s", raw, back)
		}
	}
	bad := map[string]string{
		"update without payload": `{"type":"update","id":"1"}`,
		"not a version":          `{"type":"update","id":"1","update":{"version":"latest","healthMillis":60000}}`,
		"no health deadline":     `{"type":"update","id":"1","update":{"version":"1.1.0"}}`,
		"health too long":        `{"type":"update","id":"1","update":{"version":"1.1.0","healthMillis":3600001}}`,
		"reason too long":        `{"type":"update","id":"1","update":{"version":"1.1.0","healthMillis":60000,"reason":"` + strings.Repeat("x", 1025) + `"}}`,
		"status without payload": `{"type":"updateStatus","id":"1"}`,
		"unknown event":          `{"type":"updateStatus","id":"1","updateStatus":{"event":"UpdateMaybe","from":"1.0.0","to":"1.1.0"}}`,
		"unknown step":           `{"type":"updateStatus","id":"1","updateStatus":{"event":"UpdateFailed","from":"1.0.0","to":"1.1.0","step":"pray"}}`,
		"bad target":             `{"type":"updateStatus","id":"1","updateStatus":{"event":"UpdateStarted","from":"1.0.0","to":"../x"}}`,
		"control in from":        `{"type":"updateStatus","id":"1","updateStatus":{"event":"UpdateStarted","from":"1.0\n","to":"1.1.0"}}`,
		"two payloads":           `{"type":"update","id":"1","update":{"version":"1.1.0","healthMillis":60000},"updateStatus":{"event":"UpdateStarted","from":"1.0.0","to":"1.1.0"}}`,
	}
	for name, raw := range bad {
		if _, err := Decode([]byte(raw)); err == nil {
			t.Errorf("%s: Decode(%s) accepted it", name, raw)
		}
	}
	if got := ReleasePath("1.1.0", "release.json"); got != "/agent/v1/releases/1.1.0/release.json" {
		t.Errorf("ReleasePath = %q", got)
	}
}
