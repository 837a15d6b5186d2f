package diagnose

import (
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/shared/protocol"
)

func TestPathAdvice(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		kind    driveKind
		service bool
		want    []string // "" alone: no advice
	}{
		{"local disk", `C:\Books\firm.gnucash`, driveLocal, true, nil},
		{"mapped drive", `Z:\Books\firm.gnucash`, driveRemote, false, []string{"Z:", "mapped network drive", `\\server\share`}},
		{"mapped drive, service", `z:\Books\firm.gnucash`, driveRemote, true, []string{"Z:", "does not see drives a user mapped"}},
		{"missing drive", `Y:\firm.gnucash`, driveMissing, true, []string{"drive Y: does not exist for the account the agent runs as"}},
		{"network path, service", `\\server\accounts\books.gnucash`, driveUNC, true, []string{"network share", "service account must be allowed"}},
		{"network path, in the foreground", `\\server\accounts\books.gnucash`, driveUNC, false, nil},
		{"Linux", "/srv/books/firm.gnucash", driveLocal, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pathAdvice(tt.path, tt.kind, tt.service)
			if len(tt.want) == 0 && got != "" {
				t.Errorf("advice %q, want none", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("advice %q does not say %q", got, w)
				}
			}
		})
	}
}

func TestWindowsPathParts(t *testing.T) {
	tests := []struct {
		path  string
		drive string
		unc   bool
	}{
		{`C:\Books\firm.gnucash`, "C:", false},
		{`z:\x.gnucash`, "Z:", false},
		{`\\?\D:\Books\x.gnucash`, "D:", false},
		{`\\server\share\books.gnucash`, "", true},
		{`//server/share/books.gnucash`, "", true},
		{`\\?\UNC\server\share\b.gnucash`, "", true},
		{`\\.\pipe\x`, "", false},
		{"/srv/books/x.gnucash", "", false},
		{"1:/x", "", false},
	}
	for _, tt := range tests {
		if got := driveOf(tt.path); got != tt.drive {
			t.Errorf("driveOf(%q) = %q, want %q", tt.path, got, tt.drive)
		}
		if got := isUNC(tt.path); got != tt.unc {
			t.Errorf("isUNC(%q) = %v, want %v", tt.path, got, tt.unc)
		}
	}
}

func TestWithAdvice(t *testing.T) {
	pass := protocol.Check{Name: protocol.CheckSource, Status: protocol.CheckPass, Message: "file readable"}
	if got := withAdvice(pass, ""); got != pass {
		t.Errorf("no advice changed the check: %+v", got)
	}
	got := withAdvice(pass, "Z: is a mapped network drive")
	if got.Status != protocol.CheckWarn || got.Message != "file readable; Z: is a mapped network drive" {
		t.Errorf("a passing check with advice = %+v, want a Warn with both messages", got)
	}
	fail := protocol.Check{Name: protocol.CheckSource, Status: protocol.CheckFail, Message: "no such file"}
	if got := withAdvice(fail, "drive Y: does not exist"); got.Status != protocol.CheckFail {
		t.Errorf("advice turned a failing check into %s", got.Status)
	}
}
