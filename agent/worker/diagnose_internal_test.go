package worker

import (
	"encoding/json"
	"fmt"
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
