package main

import (
	"strings"
	"testing"
)

// A run with -datasets 0 and -big 0 says those phases were not measured,
// not NaN or 0 /s.
func TestReportSkippedPhases(t *testing.T) {
	var b strings.Builder
	(&report{Agents: 10, Connected: 10}).print(&b)
	out := b.String()
	for _, want := range []string{"| small datasets through the whole lifecycle | not measured (-datasets 0) |",
		"| durable transitions | not measured (-datasets 0) |", "| records into the cache | not measured (-big 0) |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NaN") {
		t.Errorf("report holds NaN:\n%s", out)
	}
}
