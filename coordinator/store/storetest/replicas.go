package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// replicaTests are the cases of what replicas share: channels, leases,
// sessions and failure counts.
var replicaTests = []struct {
	name string
	run  func(*fixture)
}{
	{"Channels", testChannels},
	{"ChannelsConcurrent", testChannelsConcurrent},
	{"Leases", testLeases},
	{"LeasesConcurrent", testLeasesConcurrent},
	{"Sessions", testSessions},
	{"Failures", testFailures},
	{"FailuresConcurrent", testFailuresConcurrent},
	{"SessionNotes", testSessionNotes},
	{"Diagnostics", testDiagnostics},
	{"DiagnosticsConcurrent", testDiagnosticsConcurrent},
}

// testSessionNotes checks that a session's notes are replaced, kept by a
// touch, bounded, and refused for a missing session.
func testSessionNotes(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	h := sha256.Sum256([]byte("n"))
	id := h[:]
	if err := s.CreateSession(ctx, store.Session{ID: id, KeyID: "k", Scope: store.ScopeSupport, CSRF: "c", Created: at(0), Seen: at(0)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Session(ctx, id); len(got.Notes) != 0 {
		t.Errorf("a new session's notes: %q, want none", got.Notes)
	}
	if err := s.SetSessionNotes(ctx, id, []byte(`{"flash":"one"}`)); err != nil {
		t.Fatalf("SetSessionNotes: %v", err)
	}
	if err := s.TouchSession(ctx, id, at(90)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Session(ctx, id); err != nil || string(got.Notes) != `{"flash":"one"}` || !got.Seen.Equal(at(90)) {
		t.Errorf("Session after notes and a touch = %q seen %v, %v; want the notes kept and seen at 90", got.Notes, got.Seen, err)
	}
	if err := s.SetSessionNotes(ctx, id, make([]byte, store.MaxSessionNotes+1)); err == nil {
		t.Error("SetSessionNotes over MaxSessionNotes: nil error")
	}
	if err := s.SetSessionNotes(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Session(ctx, id); len(got.Notes) != 0 {
		t.Errorf("notes after clearing: %q, want none", got.Notes)
	}
	other := sha256.Sum256([]byte("none"))
	if err := s.SetSessionNotes(ctx, other[:], []byte("x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetSessionNotes(missing): %v, want ErrNotFound", err)
	}
}

// testDiagnostics checks an agent's one diagnostics request: made,
// shared while it waits, answered (only under its id), replaced once
// answered or stale, listed while pending, pruned, and on the feed.
func testDiagnostics(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	feed := s.Feed()
	sub := feed.Subscribe(feed.Head())
	mustAgent(f, "ag-1")
	mustAgent(f, "ag-2")
	req := func(agent, id string, sec int) store.DiagnosticsRequest {
		return store.DiagnosticsRequest{AgentID: agent, ID: id, Replica: "r1", Asked: at(sec)}
	}
	ask := func(r store.DiagnosticsRequest, since int, wantID string) {
		t.Helper()
		got, err := s.RequestDiagnostics(ctx, r, at(since))
		if err != nil || got.ID != wantID || got.AgentID != r.AgentID || !got.Answered.IsZero() {
			t.Fatalf("RequestDiagnostics(%s, %s) = %+v, %v; want request %s waiting", r.AgentID, r.ID, got, err, wantID)
		}
	}
	if _, err := s.RequestDiagnostics(ctx, req("ag-none", "q0", 0), at(-10)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RequestDiagnostics(missing agent): %v, want ErrNotFound", err)
	}
	if _, err := s.Diagnostics(ctx, "ag-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Diagnostics(none asked): %v, want ErrNotFound", err)
	}
	ask(req("ag-1", "q1", 100), 90, "q1")
	ask(req("ag-1", "q2", 105), 95, "q1") // q1 waits: shared
	ask(req("ag-2", "q3", 106), 96, "q3")
	pending, err := s.PendingDiagnostics(ctx, at(99))
	if err != nil || len(pending) != 2 || pending[0].ID != "q1" || pending[1].ID != "q3" || pending[0].Replica != "r1" {
		t.Errorf("PendingDiagnostics(99) = %+v, %v; want q1, q3", pending, err)
	}
	if pending, _ := s.PendingDiagnostics(ctx, at(100)); len(pending) != 1 || pending[0].ID != "q3" {
		t.Errorf("PendingDiagnostics(100) = %+v; want q3 (q1 asked at 100, not after)", pending)
	}
	if err := s.AnswerDiagnostics(ctx, "ag-1", "q2", at(107), []byte("x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AnswerDiagnostics(not the agent's request): %v, want ErrNotFound", err)
	}
	if err := s.AnswerDiagnostics(ctx, "ag-none", "q1", at(107), []byte("x")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AnswerDiagnostics(missing agent): %v, want ErrNotFound", err)
	}
	if err := s.AnswerDiagnostics(ctx, "ag-1", "q1", at(107), make([]byte, store.MaxDiagnosticsAnswer+1)); err == nil {
		t.Error("AnswerDiagnostics over MaxDiagnosticsAnswer: nil error")
	}
	if err := s.AnswerDiagnostics(ctx, "ag-1", "q1", at(108), []byte(`{"report":1}`)); err != nil {
		t.Fatalf("AnswerDiagnostics(q1): %v", err)
	}
	got, err := s.Diagnostics(ctx, "ag-1")
	if err != nil || got.ID != "q1" || got.Replica != "r1" || !got.Asked.Equal(at(100)) || !got.Answered.Equal(at(108)) ||
		string(got.Answer) != `{"report":1}` {
		t.Errorf("Diagnostics(ag-1) = %+v, %v; want q1 asked at 100, answered at 108", got, err)
	}
	if pending, _ := s.PendingDiagnostics(ctx, at(0)); len(pending) != 1 || pending[0].ID != "q3" {
		t.Errorf("PendingDiagnostics after q1's answer = %+v; want q3", pending)
	}
	ask(req("ag-1", "q4", 110), 100, "q4") // q1 answered: replaced
	if got, _ := s.Diagnostics(ctx, "ag-1"); got.ID != "q4" || !got.Answered.IsZero() || len(got.Answer) != 0 {
		t.Errorf("Diagnostics after q4 = %+v; want q4 waiting, no answer", got)
	}
	ask(req("ag-2", "q5", 200), 190, "q5") // q3 asked at 106 is stale: replaced
	if n, err := s.PruneDiagnostics(ctx, at(150)); err != nil || n != 1 {
		t.Errorf("PruneDiagnostics(150) = %d, %v; want 1 (q4)", n, err)
	}
	if _, err := s.Diagnostics(ctx, "ag-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Diagnostics after prune: %v, want ErrNotFound", err)
	}
	if err := s.AnswerDiagnostics(ctx, "ag-1", "q4", at(160), nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AnswerDiagnostics(pruned): %v, want ErrNotFound", err)
	}
	var changes []store.DiagnosticsChange
	for len(changes) < 5 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cs, err := sub.Next(wctx)
		cancel()
		if err != nil {
			t.Fatalf("feed after %d diagnostics changes: %v", len(changes), err)
		}
		for _, c := range cs {
			changes = append(changes, c.Diagnostics...)
		}
	}
	want := []store.DiagnosticsChange{{AgentID: "ag-1", ID: "q1", Replica: "r1"}, {AgentID: "ag-2", ID: "q3", Replica: "r1"},
		{AgentID: "ag-1", ID: "q1", Replica: "r1", Answered: true}, {AgentID: "ag-1", ID: "q4", Replica: "r1"},
		{AgentID: "ag-2", ID: "q5", Replica: "r1"}}
	if !slices.Equal(changes, want) {
		t.Errorf("feed's diagnostics changes:\n got %+v\nwant %+v (shared and refused calls publish nothing)", changes, want)
	}
}

// testDiagnosticsConcurrent checks that of concurrent requests for one
// agent one is made and the others share it.
func testDiagnosticsConcurrent(f *fixture) {
	mustAgent(f, "ag")
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.s.RequestDiagnostics(f.ctx, store.DiagnosticsRequest{AgentID: "ag", ID: "q" + string(rune('a'+i)),
				Replica: "r1", Asked: at(100)}, at(90))
			if err != nil {
				f.Errorf("RequestDiagnostics %d: %v", i, err)
			}
			ids[i] = r.ID
		}()
	}
	wg.Wait()
	got, err := f.s.Diagnostics(f.ctx, "ag")
	if err != nil {
		f.Fatal(err)
	}
	for i, id := range ids {
		if id != got.ID {
			f.Errorf("request %d got %q, want the one stored, %q: %v", i, id, got.ID, ids)
		}
	}
}

// testChannels checks that claims number the channel's epochs, that a
// release is fenced by its epoch, and that both are on the feed.
func testChannels(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	feed := s.Feed()
	sub := feed.Subscribe(feed.Head())
	mustAgent(f, "ag-1")
	mustAgent(f, "ag-2")
	if _, err := s.ClaimChannel(ctx, "ag-none", "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ClaimChannel(missing agent): %v, want ErrNotFound", err)
	}
	if ch, err := s.Channel(ctx, "ag-1"); err != nil || ch != (store.Channel{AgentID: "ag-1"}) {
		t.Errorf("Channel(never claimed) = %+v, %v; want only the agent id", ch, err)
	}
	claim := func(agent, replica string, want uint64) {
		t.Helper()
		e, err := s.ClaimChannel(ctx, agent, replica)
		if err != nil || e != want {
			t.Fatalf("ClaimChannel(%s, %s) = %d, %v; want %d", agent, replica, e, err, want)
		}
	}
	claim("ag-1", "r1", 1)
	claim("ag-1", "r2", 2) // the agent reconnected elsewhere
	claim("ag-2", "r1", 1)
	if ok, err := s.ReleaseChannel(ctx, "ag-1", 1); err != nil || ok {
		t.Errorf("ReleaseChannel(stale epoch 1) = %v, %v; want false: epoch 2 holds it", ok, err)
	}
	if ch, err := s.Channel(ctx, "ag-1"); err != nil || ch != (store.Channel{AgentID: "ag-1", Replica: "r2", Epoch: 2}) {
		t.Errorf("Channel(ag-1) = %+v, %v; want r2 at epoch 2", ch, err)
	}
	got, err := s.Channels(ctx)
	want := []store.Channel{{AgentID: "ag-1", Replica: "r2", Epoch: 2}, {AgentID: "ag-2", Replica: "r1", Epoch: 1}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Channels = %+v, %v; want %+v", got, err, want)
	}
	count := func(want int) {
		t.Helper()
		if n, err := s.ChannelCount(ctx); err != nil || n != want {
			t.Errorf("ChannelCount = %d, %v; want %d", n, err, want)
		}
	}
	count(2) // ag-1 claimed twice counts once
	if ok, err := s.ReleaseChannel(ctx, "ag-2", 1); err != nil || !ok {
		t.Errorf("ReleaseChannel(ag-2, 1) = %v, %v; want true", ok, err)
	}
	count(1)
	if ok, err := s.ReleaseChannel(ctx, "ag-2", 1); err != nil || ok {
		t.Errorf("ReleaseChannel again = %v, %v; want false", ok, err)
	}
	if ok, err := s.ReleaseChannel(ctx, "ag-none", 1); err != nil || ok {
		t.Errorf("ReleaseChannel(missing agent) = %v, %v; want false, nil", ok, err)
	}
	if ch, _ := s.Channel(ctx, "ag-2"); ch != (store.Channel{AgentID: "ag-2", Epoch: 1}) {
		t.Errorf("Channel(released) = %+v; want no replica, epoch 1 kept", ch)
	}
	claim("ag-2", "r3", 2)
	count(2)
	var changes []store.ChannelChange
	for len(changes) < 5 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cs, err := sub.Next(wctx)
		cancel()
		if err != nil {
			t.Fatalf("feed after %d channel changes: %v", len(changes), err)
		}
		for _, c := range cs {
			changes = append(changes, c.Channels...)
		}
	}
	wantChanges := []store.ChannelChange{
		{AgentID: "ag-1", Replica: "r1", Epoch: 1}, {AgentID: "ag-1", Replica: "r2", Epoch: 2},
		{AgentID: "ag-2", Replica: "r1", Epoch: 1}, {AgentID: "ag-2", Epoch: 1}, {AgentID: "ag-2", Replica: "r3", Epoch: 2},
	}
	if !slices.Equal(changes, wantChanges) {
		t.Errorf("feed's channel changes:\n got %+v\nwant %+v (refused releases publish nothing)", changes, wantChanges)
	}
}

func mustAgent(f *fixture, id string) {
	f.Helper()
	if err := f.s.CreateAgent(f.ctx, store.Agent{ID: id, CredentialHash: []byte("cred-" + id), Created: at(0)}); err != nil {
		f.Fatalf("CreateAgent(%s): %v", id, err)
	}
}

// testChannelsConcurrent checks that concurrent claims get distinct
// epochs and the highest holds the channel.
func testChannelsConcurrent(f *fixture) {
	mustAgent(f, "ag")
	const n = 8
	epochs := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := f.s.ClaimChannel(f.ctx, "ag", "r"+string(rune('a'+i)))
			if err != nil {
				f.Errorf("ClaimChannel %d: %v", i, err)
			}
			epochs[i] = e
		}()
	}
	wg.Wait()
	slices.Sort(epochs)
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(epochs, want) {
		f.Fatalf("epochs of %d concurrent claims: %v, want %v", n, epochs, want)
	}
	ch, err := f.s.Channel(f.ctx, "ag")
	if err != nil || ch.Epoch != n || ch.Replica == "" {
		f.Errorf("Channel after the claims = %+v, %v; want epoch %d held", ch, err, n)
	}
}

// testLeases checks taking, renewing, refusing, expiring and releasing a
// named lease.
func testLeases(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	acquire := func(holder string, sec int, ttl time.Duration, wantHeld bool, wantUntil time.Time) {
		t.Helper()
		held, until, err := s.AcquireLease(ctx, "leader", holder, at(sec), ttl)
		if err != nil || held != wantHeld || !until.Equal(wantUntil) {
			t.Errorf("AcquireLease(%s at %d) = %v, %v, %v; want %v, %v", holder, sec, held, until, err, wantHeld, wantUntil)
		}
	}
	acquire("r1", 0, 10*time.Second, true, at(10))
	acquire("r2", 5, 10*time.Second, false, at(10))
	acquire("r1", 6, 10*time.Second, true, at(16)) // renewed
	acquire("r2", 15, 10*time.Second, false, at(16))
	acquire("r2", 16, 10*time.Second, true, at(26)) // expired at 16: taken over
	acquire("r1", 17, 10*time.Second, false, at(26))
	if held, _, err := s.AcquireLease(ctx, "other", "r1", at(17), time.Second); err != nil || !held {
		t.Errorf("AcquireLease(another name) = %v, %v; want held: names are independent", held, err)
	}
	if err := s.ReleaseLease(ctx, "leader", "r1"); err != nil {
		t.Errorf("ReleaseLease(not the holder): %v", err)
	}
	acquire("r1", 18, 10*time.Second, false, at(26))
	if err := s.ReleaseLease(ctx, "leader", "r2"); err != nil {
		t.Errorf("ReleaseLease: %v", err)
	}
	acquire("r1", 19, 10*time.Second, true, at(29))
	if err := s.ReleaseLease(ctx, "never", "r1"); err != nil {
		t.Errorf("ReleaseLease(never taken): %v", err)
	}
	lease := func(name, wantHolder string, wantUntil time.Time) {
		t.Helper()
		h, until, err := s.Lease(ctx, name)
		if err != nil || h != wantHolder || !until.Equal(wantUntil) {
			t.Errorf("Lease(%s) = %q, %v, %v; want %q, %v", name, h, until, err, wantHolder, wantUntil)
		}
	}
	lease("leader", "r1", at(29))
	lease("other", "r1", at(18)) // expired, still named
	lease("never", "", time.Time{})
	if err := s.ReleaseLease(ctx, "leader", "r1"); err != nil {
		t.Errorf("ReleaseLease: %v", err)
	}
	lease("leader", "", time.Time{})
}

// testLeasesConcurrent checks that one of concurrent acquisitions wins.
func testLeasesConcurrent(f *fixture) {
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held, _, err := f.s.AcquireLease(f.ctx, "leader", "r"+string(rune('a'+i)), at(0), time.Minute)
			if err != nil {
				f.Errorf("AcquireLease %d: %v", i, err)
			}
			if held {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		f.Errorf("%d of %d concurrent acquisitions won, want 1", won, n)
	}
}

// testSessions checks a session's life: created, read, touched (never
// back), deleted, pruned by idleness and by age.
func testSessions(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	id := func(n string) []byte { h := sha256.Sum256([]byte(n)); return h[:] }
	mk := func(n string, created, seen int) store.Session {
		return store.Session{ID: id(n), KeyID: "key-" + n, KeyHash: []byte("hash-" + n), KeyName: "Key " + n,
			Scope: store.ScopeClient, CSRF: "csrf-" + n, Created: at(created), Seen: at(seen)}
	}
	for _, ss := range []store.Session{mk("a", 0, 0), mk("b", 10, 100), mk("c", 50, 50)} {
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatalf("CreateSession(%s): %v", ss.KeyID, err)
		}
	}
	if err := s.CreateSession(ctx, mk("a", 1, 1)); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateSession(taken id): %v, want ErrExists", err)
	}
	got, err := s.Session(ctx, id("a"))
	if want := mk("a", 0, 0); err != nil || got.KeyID != want.KeyID || string(got.KeyHash) != string(want.KeyHash) ||
		got.KeyName != want.KeyName || got.Scope != want.Scope || got.CSRF != want.CSRF ||
		!got.Created.Equal(want.Created) || !got.Seen.Equal(want.Seen) || string(got.ID) != string(want.ID) {
		t.Errorf("Session(a) = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.Session(ctx, id("none")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session(missing): %v, want ErrNotFound", err)
	}
	if _, err := s.Session(ctx, []byte("short")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Session(malformed id): %v, want ErrNotFound", err)
	}
	if err := s.TouchSession(ctx, id("a"), at(30)); err != nil {
		t.Errorf("TouchSession: %v", err)
	}
	if err := s.TouchSession(ctx, id("a"), at(20)); err != nil {
		t.Errorf("TouchSession(earlier): %v", err)
	}
	if got, _ := s.Session(ctx, id("a")); !got.Seen.Equal(at(30)) {
		t.Errorf("Seen after touches at 30 then 20: %v, want %v (never back)", got.Seen, at(30))
	}
	if err := s.TouchSession(ctx, id("none"), at(30)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchSession(missing): %v, want ErrNotFound", err)
	}
	// Pruned: a (seen 30 < 40) by idleness, b (created 10 < 20) by age.
	if n, err := s.PruneSessions(ctx, at(40), at(20)); err != nil || n != 2 {
		t.Errorf("PruneSessions = %d, %v; want 2", n, err)
	}
	for n, want := range map[string]error{"a": store.ErrNotFound, "b": store.ErrNotFound, "c": nil} {
		if _, err := s.Session(ctx, id(n)); !errors.Is(err, want) && (want != nil || err != nil) {
			t.Errorf("after prune, Session(%s): %v, want %v", n, err, want)
		}
	}
	if err := s.DeleteSession(ctx, id("c")); err != nil {
		t.Errorf("DeleteSession: %v", err)
	}
	if _, err := s.Session(ctx, id("c")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete, Session: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, id("c")); err != nil {
		t.Errorf("DeleteSession again: %v, want nil", err)
	}
}

// testFailures checks fixed windows per key, and pruning of those that
// ended.
func testFailures(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	count := func(key string, sec, wantN int, wantUntil time.Time) {
		t.Helper()
		n, until, err := s.CountFailure(ctx, key, at(sec), time.Minute)
		if err != nil || n != wantN || !until.Equal(wantUntil) {
			t.Errorf("CountFailure(%s at %d) = %d, %v, %v; want %d, %v", key, sec, n, until, err, wantN, wantUntil)
		}
	}
	read := func(key string, sec, wantN int, wantUntil time.Time) {
		t.Helper()
		n, until, err := s.Failures(ctx, key, at(sec))
		if err != nil || n != wantN || !until.Equal(wantUntil) {
			t.Errorf("Failures(%s at %d) = %d, %v, %v; want %d, %v", key, sec, n, until, err, wantN, wantUntil)
		}
	}
	read("auth:192.0.2.1", 0, 0, time.Time{})
	count("auth:192.0.2.1", 0, 1, at(60))
	count("auth:192.0.2.1", 30, 2, at(60))
	count("signin:192.0.2.1", 30, 1, at(90))
	read("auth:192.0.2.1", 59, 2, at(60))
	read("auth:192.0.2.1", 60, 0, time.Time{}) // the window ended
	count("auth:192.0.2.1", 61, 1, at(121))
	count("auth:2001:db8::/64", 61, 1, at(121))
	// Ended at or before 90: signin's window only.
	if n, err := s.PruneFailures(ctx, at(90)); err != nil || n != 1 {
		t.Errorf("PruneFailures(at 90) = %d, %v; want 1", n, err)
	}
	read("auth:192.0.2.1", 62, 1, at(121))
	read("auth:2001:db8::/64", 62, 1, at(121))
	if n, err := s.PruneFailures(ctx, at(200)); err != nil || n != 2 {
		t.Errorf("PruneFailures(at 200) = %d, %v; want 2", n, err)
	}
}

// testFailuresConcurrent checks that concurrent failures are all counted.
func testFailuresConcurrent(f *fixture) {
	const n = 16
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := f.s.CountFailure(f.ctx, "auth:192.0.2.7", at(0), time.Minute); err != nil {
				f.Errorf("CountFailure: %v", err)
			}
		}()
	}
	wg.Wait()
	if got, _, err := f.s.Failures(f.ctx, "auth:192.0.2.7", at(1)); err != nil || got != n {
		f.Errorf("Failures after %d concurrent counts = %d, %v", n, got, err)
	}
}
