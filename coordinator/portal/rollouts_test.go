package portal

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// TestRolloutPage: a rollout's page shows its status, why it halted, the
// counts and each agent with its status, canaries marked, reasons
// escaped; an unknown version is 404, and a visitor not signed in is
// sent to sign in.
func TestRolloutPage(t *testing.T) {
	e := newEnv(t, "http://ferry.test")
	r := store.Rollout{Version: "1.1.0", Status: store.RolloutHalted, CanaryCount: 1, MaxInFlight: 2, HaltOnFailure: true,
		Created: time.Now(), HaltReason: "agent agent-c failed: " + evil,
		Members: []store.RolloutMember{
			{AgentID: "agent-c", Canary: true, Status: store.MemberFailed, Reason: "RolledBack at health: " + evil},
			{AgentID: "agent-2", Status: store.MemberPending},
			{AgentID: "agent-3", Status: store.MemberUpdated},
		}}
	if err := e.st.CreateRollout(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(supportKey)
	resp, body := b.get("/portal/rollouts/1.1.0")
	for _, w := range []string{
		`<dd id="rollout-status"><span class="status bad">Halted</span></dd>`,
		`<dd id="rollout-failed"><span class="status bad">1</span></dd>`,
		`<dd id="rollout-pending">1</dd>`, `<dd id="rollout-updated">1</dd>`,
		`<tr data-status="Failed"><td><a href="/portal/agents/agent-c"><code>agent-c</code></a></td>`,
		`<td>canary</td>`, `&lt;script&gt;`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("rollout page: want %q in it", w)
		}
	}
	if resp.StatusCode != 200 || strings.Contains(body, evil) {
		t.Errorf("rollout page: %d, escaped: %v", resp.StatusCode, !strings.Contains(body, evil))
	}
	if resp, _ := b.get("/portal/rollouts/9.9.9"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown rollout: %d, want 404", resp.StatusCode)
	}
	if resp, _ := e.browser().get("/portal/rollouts/1.1.0"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("not signed in: %d, want 303 to sign in", resp.StatusCode)
	}
}
