package main

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the bare server, as the tool
// does when started as `TOOL bare`.
func TestMain(m *testing.M) {
	serveBareProcess()
	os.Exit(m.Run())
}

// startRoundTrips times round trips to the bare server in its own
// process, and its stop ends the process.
func TestRoundTripsBetweenProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop, err := startRoundTrips(ctx, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	lat, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) == 0 {
		t.Fatal("no round trip timed")
	}
	for _, d := range lat {
		if d <= 0 {
			t.Fatalf("round trip of %s", d)
		}
	}
}
