package worker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestFitDiagnostics: a report of the most bindings, each with a long
// message, still fits in one control message and decodes.
func TestFitDiagnostics(t *testing.T) {
	d := &protocol.Diagnostics{AgentVersion: "1", Hostname: "pc", OS: "linux"}
	for i := range protocol.MaxBindings {
		d.Checks = append(d.Checks, protocol.Check{Name: protocol.CheckSource, Status: protocol.CheckFail,
			ConnectionID: fmt.Sprintf("%036d", i), Message: strings.Repeat("é", 500)})
	}
	fit(d)
	raw, err := json.Marshal(protocol.Message{Type: protocol.TypeDiagnostics, ID: "1", ReplyTo: "2", Diagnostics: d})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.Decode(raw); err != nil {
		t.Fatalf("fitted report (%d bytes) does not decode: %v", len(raw), err)
	}
}

// Each kind of ignored message is logged at most once a minute, counting
// the ones left out, whatever the other kinds do.
func TestRareLogOncePerKind(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	var r rareLog
	for range 40 {
		r.log(l, "ignored claimed")
		r.log(l, "ignored offers")
	}
	got := strings.Count(buf.String(), "\n")
	if got != 2 || !strings.Contains(buf.String(), "ignored claimed") || !strings.Contains(buf.String(), "ignored offers") {
		t.Errorf("logged %d lines, want one per kind:\n%s", got, buf.String())
	}
}
