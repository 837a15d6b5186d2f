package portal

import (
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
)

// TestSessions: a session lives in the store, is found by its cookie
// only, ends when idle for longer than idle or older than its lifetime
// (its use being stored at most once a minute), and is found by another
// replica's table on the same store, which a sign-out on the first ends.
func TestSessions(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ss, other := newSessions(st, nil, time.Hour, 3*time.Hour), newSessions(st, nil, time.Hour, 3*time.Hour)
	create := func(key string, at time.Time) string {
		t.Helper()
		id, err := ss.create(ctx, &session{keyID: key, keyHash: []byte("h-" + key), scope: store.ScopeClient}, at)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	get := func(ss *sessions, id string, at time.Time) *session {
		t.Helper()
		s, err := ss.get(ctx, id, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := create("a", now)
	second := create("b", now.Add(time.Minute))
	if s := get(other, first, now.Add(2*time.Minute)); s == nil || s.keyID != "a" || string(s.keyHash) != "h-a" || s.csrf == "" {
		t.Fatalf("first session on another replica: %+v", s)
	}
	if get(ss, first[:len(first)-1], now) != nil || get(ss, "", now) != nil {
		t.Error("a wrong id found a session")
	}
	// Notes left on one replica are shown once on the other.
	s := get(ss, second, now.Add(2*time.Minute))
	ss.setFlash(ctx, s, "queued", false)
	ss.setDiag(ctx, s, &diagView{AgentID: "ag-1", Error: "offline"})
	s = get(other, second, now.Add(2*time.Minute))
	if d := other.takeDiag(ctx, s, "ag-2"); d != nil {
		t.Errorf("another agent's page took the diagnostics of ag-1: %+v", d)
	}
	if d := other.takeDiag(ctx, s, "ag-1"); d == nil || d.Error != "offline" {
		t.Errorf("diagnostics on the other replica: %+v, want ag-1's", d)
	}
	if msg, bad := other.takeFlash(ctx, s); msg != "queued" || bad {
		t.Errorf("flash on the other replica: %q %v, want queued", msg, bad)
	}
	s = get(ss, second, now.Add(2*time.Minute))
	if msg, _ := ss.takeFlash(ctx, s); msg != "" || ss.takeDiag(ctx, s, "ag-1") != nil {
		t.Errorf("notes shown twice: flash %q", msg)
	}
	third := create("c", now.Add(3*time.Minute))
	// Idle for an hour ends a session; being used keeps it, up to its
	// lifetime of 3 hours from its creation at +3m.
	for i, m := range []time.Duration{53, 103, 153} {
		if get([]*sessions{ss, other}[i%2], third, now.Add(m*time.Minute)) == nil {
			t.Fatalf("a session in use ended at +%dm", m)
		}
	}
	if get(ss, second, now.Add(103*time.Minute)) != nil {
		t.Error("a session idle for more than an hour is still live")
	}
	if get(ss, third, now.Add(183*time.Minute+time.Second)) != nil {
		t.Error("a session outlived its lifetime")
	}
	fourth := create("d", now.Add(200*time.Minute))
	if err := ss.drop(ctx, fourth); err != nil {
		t.Fatal(err)
	}
	if get(other, fourth, now.Add(201*time.Minute)) != nil {
		t.Error("a session dropped on one replica is live on another")
	}
	if a, b := create("e", now), create("e", now); a == b || len(a) < 43 {
		t.Errorf("session ids %q %q: want distinct 256-bit ids", a, b)
	}
	// Pruning: the first (idle since +2m) goes; e's two (created at now,
	// seen at now) go too at +4h.
	if n, err := ss.prune(ctx, now.Add(4*time.Hour)); err != nil || n != 3 {
		t.Errorf("prune = %d, %v; want 3", n, err)
	}
}

func TestSigninToken(t *testing.T) {
	k1, k2 := []byte("key one"), []byte("key two")
	if signinToken(k1, "n") != signinToken(k1, "n") {
		t.Fatal("the token is not a function of key and nonce")
	}
	if signinToken(k1, "n") == signinToken(k2, "n") || signinToken(k1, "n") == signinToken(k1, "m") {
		t.Error("different keys or nonces give the same token")
	}
	if tokenEqual("", "") || tokenEqual("a", "") || !tokenEqual("abc", "abc") || tokenEqual("abc", "abd") {
		t.Error("tokenEqual")
	}
}
