package hub

import (
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/releases"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// fakeReleases is a catalog of releases by version, verified or not.
type fakeReleases map[string]bool

func (f fakeReleases) File(string, string) (string, bool) { return "", false }

func (f fakeReleases) List() ([]releases.Release, error) {
	var out []releases.Release
	for v, ok := range f {
		out = append(out, releases.Release{Version: v, Verified: ok})
	}
	return out, nil
}

// beatUpdates sends a heartbeat and returns the updates sent before its
// ack.
func (a *agent) beatUpdates(inHand []protocol.Progress) []protocol.Message {
	a.t.Helper()
	a.send(protocol.Message{Type: protocol.TypeHeartbeat, ID: "beat", Heartbeat: &protocol.Heartbeat{InHand: inHand}})
	var out []protocol.Message
	for {
		m := a.expectAny()
		if m.Type == protocol.TypeUpdate {
			out = append(out, m)
		}
		if m.Type == protocol.TypeAck && m.ReplyTo == "beat" {
			return out
		}
	}
}

func (a *agent) expectAny() protocol.Message {
	a.t.Helper()
	_ = a.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m protocol.Message
	if err := a.ws.ReadJSON(&m); err != nil {
		a.t.Fatal(err)
	}
	return m
}

// TestMinimumUpdateRepeated: an agent below the minimum is sent update to
// the newest verified release at once, and again at a heartbeat with
// nothing in hand 30 s after the last (after a busy answer too), never
// with a dataset in hand or sooner, and never after it refused the update
// for good.
func TestMinimumUpdateRepeated(t *testing.T) {
	e := newEnvWith(t, func(c *Config) {
		c.MinAgentVersion = "1.2.0"
		c.Releases = fakeReleases{"1.1.0": true, "1.2.0": true, "1.3.0": true, "2.0.0": false}
	})
	_, cred := e.linked()
	ws, _, err := e.dial(cred)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	a := &agent{t: t, ws: ws, cred: cred}
	a.send(protocol.Message{Type: protocol.TypeHello, ID: "hello", Hello: &protocol.Hello{
		Versions: []int{1}, Hostname: "pc-1", OS: "linux", AgentVersion: "1.0.0", Capacity: 2,
		Features: []string{protocol.FeatureUpdate}}})
	a.expect(protocol.TypeWelcome)
	first := a.expect(protocol.TypeUpdate)
	if first.Update.Version != "1.3.0" || first.Update.Reason != "minimumVersion" {
		t.Fatalf("first update %+v, want 1.3.0 for minimumVersion", first.Update)
	}
	busy := &protocol.Error{Code: protocol.CodeBusy, Message: "a dataset in hand"}
	a.send(protocol.Message{Type: protocol.TypeError, ID: "busy", ReplyTo: first.ID, Error: busy})

	steps := []struct {
		what    string
		advance time.Duration
		inHand  []protocol.Progress
		want    int
	}{
		{"sooner than 30 s", 29 * time.Second, nil, 0},
		{"with a dataset in hand", 2 * time.Second, []protocol.Progress{{DatasetID: "d", Progress: 5}}, 0},
		{"30 s on, nothing in hand", 0, nil, 1},
		{"right after", time.Second, nil, 0},
		{"30 s on again", 30 * time.Second, nil, 1},
	}
	var last protocol.Message
	for _, s := range steps {
		e.clock.Add(s.advance)
		got := a.beatUpdates(s.inHand)
		if len(got) != s.want {
			t.Fatalf("%s: %d updates %+v, want %d", s.what, len(got), got, s.want)
		}
		for _, m := range got {
			if last = m; m.Update.Version != "1.3.0" {
				t.Errorf("%s: update %+v, want 1.3.0", s.what, m.Update)
			}
		}
	}
	// Refused for good: never again.
	a.send(protocol.Message{Type: protocol.TypeError, ID: "no", ReplyTo: last.ID,
		Error: &protocol.Error{Code: protocol.CodeUpdateRefused, Message: "cannot verify"}})
	for range 2 {
		e.clock.Add(31 * time.Second)
		if got := a.beatUpdates(nil); len(got) != 0 {
			t.Fatalf("after the refusal: %+v, want no update", got)
		}
	}
}
