package portal

import (
	"testing"
	"time"
)

func TestSessionsTable(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	ss := newSessions(time.Hour, 3*time.Hour, 2)
	first := ss.create(&session{keyID: "a"}, now)
	second := ss.create(&session{keyID: "b"}, now.Add(time.Minute))
	if s := ss.get(first, now.Add(2*time.Minute)); s == nil || s.keyID != "a" || s.csrf == "" {
		t.Fatalf("first session: %+v", s)
	}
	if ss.get(first[:len(first)-1], now) != nil || ss.get("", now) != nil {
		t.Error("a wrong id found a session")
	}
	// A third session in a full table pushes out the oldest.
	third := ss.create(&session{keyID: "c"}, now.Add(3*time.Minute))
	if ss.get(first, now.Add(3*time.Minute)) != nil || ss.get(second, now.Add(3*time.Minute)) == nil || ss.get(third, now.Add(3*time.Minute)) == nil {
		t.Error("the oldest session was not the one dropped")
	}
	// Idle for an hour ends a session; being used keeps it, up to its
	// lifetime of 3 hours from its creation at +3m.
	for _, m := range []time.Duration{53, 103, 153} {
		if ss.get(third, now.Add(m*time.Minute)) == nil {
			t.Fatalf("a session in use ended at +%dm", m)
		}
	}
	if ss.get(second, now.Add(103*time.Minute)) != nil {
		t.Error("a session idle for more than an hour is still live")
	}
	if ss.get(third, now.Add(183*time.Minute+time.Second)) != nil {
		t.Error("a session outlived its lifetime")
	}
	if a, b := ss.create(&session{}, now), ss.create(&session{}, now); a == b || len(a) < 43 {
		t.Errorf("session ids %q %q: want distinct 256-bit ids", a, b)
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
