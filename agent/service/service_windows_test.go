//go:build windows

package service

import "testing"

func TestWindowsRunsAsItsVirtualAccount(t *testing.T) {
	s := Default(`C:\Program Files\Ferry\ferry-agent.exe`, `C:\ProgramData\Ferry\agent.json`)
	if c := s.Config(); c.UserName != `NT SERVICE\ferry-agent` {
		t.Errorf("account %q, want the virtual account NT SERVICE\\ferry-agent", c.UserName)
	}
}
