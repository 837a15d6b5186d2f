package portal

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/hub"
	"github.com/ferry-sync/ferry/coordinator/releases"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/release"
)

// fakeReleases is a catalog that lists what it holds.
type fakeReleases []releases.Release

func (f fakeReleases) List() ([]releases.Release, error) { return f, nil }

// TestReleasesAndAgentVersions: the releases page, in the menu, shows
// client and support keys the verified releases and the refused ones with
// their reason (escaped) and the minimum version; the agents page, an
// agent's page and the fleet page show each agent's version, its update
// policy and whether it is below the minimum. Without a key the page is
// not shown; without releases it says so. A release's rollout links to
// its page.
func TestReleasesAndAgentVersions(t *testing.T) {
	cat := fakeReleases{
		{Version: "1.1.0", Verified: true, Manifest: release.Manifest{Version: "1.1.0", Created: time.Now(),
			Platforms: map[string]release.Archive{"linux-amd64": {Name: "a.tar.gz"}, "windows-amd64": {Name: "a.zip"}}}},
		{Version: "0.8.0", Reason: "tampered", Err: errors.New("archive " + evil + " does not match")},
	}
	e := newEnvWith(t, "", func(hc *hub.Config, pc *Config) {
		hc.MinAgentVersion = "1.0.0"
		pc.Releases = cat
	})
	e.offlineAgent("agent-old")
	if err := e.st.CreateAgent(t.Context(), store.Agent{ID: "agent-pin", Version: "1.1.0", UpdatePolicy: store.UpdatePinned,
		CredentialHash: hub.HashCredential("fra_pin"), Created: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}

	if err := e.st.CreateRollout(t.Context(), store.Rollout{Version: "1.1.0", Status: store.RolloutRunning, CanaryCount: 1, MaxInFlight: 1,
		Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.browser().get("/portal/releases"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("releases page without a session: %d, want 303 to sign-in", resp.StatusCode)
	}
	for _, key := range []string{clientKey, supportKey} {
		resp, body := e.signedIn(key).get("/portal/releases")
		if resp.StatusCode != 200 {
			t.Fatalf("releases page with the %s: %d", key, resp.StatusCode)
		}
		for _, want := range []string{`href="/portal/releases"`, `id="release-1.1.0"`, `<span class="status ok">Verified</span>`,
			`<code>linux-amd64</code> <code>windows-amd64</code>`, `Refused: tampered`, `&lt;script&gt;`, `<strong id="minimum-version">1.0.0</strong>`,
			`<td class="rollout"><a href="/portal/rollouts/1.1.0">Running</a></td>`, `<td class="rollout">none</td>`} {
			if !strings.Contains(body, want) {
				t.Errorf("releases page with the %s lacks %q:\n%s", key, want, body)
			}
		}
		if strings.Contains(body, evil) {
			t.Errorf("releases page with the %s: a refusal's error is not escaped", key)
		}
	}

	b := e.signedIn(supportKey)
	_, body := b.get("/portal/agents")
	old, pin := row(t, body, "agent-old"), row(t, body, "agent-pin")
	if !strings.Contains(old, "0.9.0 <span class=\"status bad below-minimum\"") || !strings.Contains(old, "below the minimum 1.0.0") ||
		!strings.Contains(old, `<td class="update-policy">auto</td>`) {
		t.Errorf("the old agent's row: want 0.9.0 below the minimum 1.0.0, auto:\n%s", old)
	}
	if strings.Contains(pin, "below-minimum") || !strings.Contains(pin, `<td class="update-policy">pinned</td>`) {
		t.Errorf("the pinned agent's row: want pinned, not below the minimum:\n%s", pin)
	}
	_, body = b.get("/portal/agents/agent-old")
	if !strings.Contains(body, `<dd id="agent-version">0.9.0 <span class="status bad below-minimum"`) || !strings.Contains(body, `<dd id="update-policy">auto</dd>`) {
		t.Errorf("the old agent's page: want its version below the minimum and its policy:\n%s", body)
	}
	_, body = b.get("/portal/fleet")
	if !strings.Contains(body, `<td>0.9.0 <span class="status bad below-minimum">`) || strings.Contains(body, `<td>1.1.0 <span`) {
		t.Errorf("fleet page: want 0.9.0, and not 1.1.0, marked below the minimum:\n%s", body)
	}

	bare := newEnv(t, "")
	_, body = bare.signedIn(clientKey).get("/portal/releases")
	if !strings.Contains(body, `id="no-releases"`) || !strings.Contains(body, "--downloads") || strings.Contains(body, "minimum-version") {
		t.Errorf("releases page without releases or minimum:\n%s", body)
	}
}
