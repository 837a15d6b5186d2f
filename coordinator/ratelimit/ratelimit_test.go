package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestWindowCountsPerHost(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	w := New(time.Minute)
	for i := 1; i <= 3; i++ {
		if got := w.Add(fmt.Sprintf("10.0.0.1:%d", 4000+i), t0); got != i {
			t.Errorf("Add #%d = %d, want %d (ports of one host count together)", i, got, i)
		}
	}
	if got := w.Count("10.0.0.1:1", t0.Add(59*time.Second)); got != 3 {
		t.Errorf("Count within the window = %d, want 3", got)
	}
	if got := w.Count("10.0.0.2:1", t0); got != 0 {
		t.Errorf("Count of another host = %d, want 0", got)
	}
	if got := w.Count("10.0.0.1:1", t0.Add(time.Minute)); got != 0 {
		t.Errorf("Count after the window = %d, want 0", got)
	}
	if got := w.Add("10.0.0.1:1", t0.Add(time.Minute)); got != 1 {
		t.Errorf("Add in a new window = %d, want 1", got)
	}
	if got := w.Add("no-port", t0); got != 1 {
		t.Errorf("Add of an address without a port = %d, want 1", got)
	}
}

func TestWindowForgetsPassedHosts(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	w := New(time.Minute)
	for i := range maxKeys + 1 {
		w.Add(fmt.Sprintf("10.%d.%d.%d:1", i>>16, (i>>8)&255, i&255), t0)
	}
	w.Add("192.0.2.1:1", t0.Add(time.Minute))
	if got := len(w.counts); got != 1 {
		t.Errorf("after the window %d hosts are kept, want 1", got)
	}
}
