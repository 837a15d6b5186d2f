package main

import (
	"testing"
	"time"
)

// TestReconnectMax: FERRY_AGENT_RECONNECT_MAX sets the worker's cap on
// the reconnect backoff; unset leaves the worker's default, and a value
// the backoff cannot use (not a duration, under its first wait) is an
// error naming the variable.
func TestReconnectMax(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false},
		{"2s", 2 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"500ms", 0, true},
		{"soon", 0, true},
	} {
		t.Setenv(reconnectMaxEnv, tc.env)
		got, err := reconnectMax()
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s=%q: got %s, %v; want %s, error %t", reconnectMaxEnv, tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}
