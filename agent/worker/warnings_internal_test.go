package worker

import (
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// TestSourceWarnings: what a source says is cut to the protocol's bounds
// before it is sent, so a source can never make its report refused.
func TestSourceWarnings(t *testing.T) {
	if got := sourceWarnings(nil); got != nil {
		t.Errorf("no warnings gave %v", got)
	}
	var many []source.Warning
	for range protocol.MaxWarnings + 3 {
		many = append(many, source.Warning{RuleID: "source.bookOpen", Message: "open"})
	}
	long := strings.Repeat("é", protocol.MaxWarningMessageBytes) // 2 bytes each: cut inside a rune
	got := sourceWarnings(append([]source.Warning{
		{RuleID: "source.bookOpen", Message: "line one\nline two\x07"},
		{RuleID: "bad rule id", Message: "dropped"},
		{RuleID: "source.long", Message: long},
		{RuleID: "source.empty", Message: ""},
	}, many...))
	if len(got) != protocol.MaxWarnings {
		t.Fatalf("%d warnings sent, want %d", len(got), protocol.MaxWarnings)
	}
	if err := protocol.CheckWarnings(got); err != nil {
		t.Errorf("the warnings sent break the protocol: %v", err)
	}
	if got[0].Message != "line one line two " {
		t.Errorf("control characters: %q", got[0].Message)
	}
	if got[1].RuleID != "source.long" || len(got[1].Message) > protocol.MaxWarningMessageBytes {
		t.Errorf("a long message: %s of %d bytes", got[1].RuleID, len(got[1].Message))
	}
}
