package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
)

// replicas opens n PGs on one new database, closed when the test ends.
func replicas(t *testing.T, n int) []*PG {
	t.Helper()
	url := pgtest.NewDatabase(t)
	out := make([]*PG, n)
	for i := range out {
		p, err := Open(t.Context(), url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		out[i] = p
	}
	return out
}

// next is the next changes on sub, or its error, within 10 s.
func next(t *testing.T, sub *store.Subscription) ([]store.Change, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return sub.Next(ctx)
}

// linkedConnection creates connection id of company co through p.
func linkedConnection(t *testing.T, p *PG, co, id string) {
	t.Helper()
	c := store.Connection{ID: id, CompanyID: co, PlatformKey: "gnucash", Status: store.Linked, Created: time.Now(), AgentID: "ag"}
	code := store.LinkCode{Hash: []byte("code-" + id), Expires: time.Now().Add(time.Hour)}
	if err := p.CreateConnection(t.Context(), c, code); err != nil {
		t.Fatal(err)
	}
}

// TestFeedAcrossReplicas: a change committed through one replica reaches
// the feeds of both, once each; one too large for a notification's payload
// too, through the overflow table.
func TestFeedAcrossReplicas(t *testing.T) {
	ps := replicas(t, 2)
	a, b := ps[0], ps[1]
	subA, subB := a.Feed().Subscribe(a.Feed().Head()), b.Feed().Subscribe(b.Feed().Head())
	if err := a.CreateCompany(t.Context(), store.Company{ID: "co", Name: "Co", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	linkedConnection(t, a, "co", "cn")
	want := store.ConnectionChange{ID: "cn", CompanyID: "co", To: store.Linked, AgentID: "ag"}
	for name, sub := range map[string]*store.Subscription{"writer": subA, "other replica": subB} {
		cs, err := next(t, sub)
		if err != nil || len(cs) != 1 || len(cs[0].Connections) != 1 || cs[0].Connections[0] != want {
			t.Errorf("%s: Next = %+v, %v; want one change with connection %+v", name, cs, err, want)
		}
	}

	// 100 connections deleted with their company make one change of
	// about 10 kB, past a notification's limit.
	for i := range 99 {
		linkedConnection(t, b, "co", fmt.Sprintf("cn-%02d", i))
	}
	for n := 0; n < 99; {
		cs, err := next(t, subA)
		if err != nil {
			t.Fatalf("after %d of 99 connections: %v", n, err)
		}
		n += len(cs)
	}
	if err := b.DeleteCompany(t.Context(), "co"); err != nil {
		t.Fatal(err)
	}
	cs, err := next(t, subA)
	if err != nil || len(cs) != 1 || len(cs[0].Connections) != 100 {
		t.Fatalf("DeleteCompany: Next = %d changes, %v; want one deleting 100 connections", len(cs), err)
	}
	var overflow int
	if err := a.pool.QueryRow(t.Context(), "SELECT count(*) FROM ferry_change_overflow").Scan(&overflow); err != nil || overflow != 1 {
		t.Errorf("ferry_change_overflow has %d rows (%v), want the one large change", overflow, err)
	}
}

// TestFeedGapOnLostSession: when a replica's listening session is killed,
// its subscribers see a gap, and then the changes committed after it.
func TestFeedGapOnLostSession(t *testing.T) {
	ps := replicas(t, 2)
	a, b := ps[0], ps[1]
	if err := a.CreateCompany(t.Context(), store.Company{ID: "co", Name: "Co", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	sub := b.Feed().Subscribe(b.Feed().Head())
	pid := b.listenerPID()
	var killed bool
	if err := a.pool.QueryRow(t.Context(), "SELECT pg_terminate_backend($1)", int32(pid)).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, killed, err)
	}
	var gap *store.GapError
	if _, err := next(t, sub); !errors.As(err, &gap) {
		t.Fatalf("Next after the session was killed = %v, want a gap", err)
	}
	if b.listenerPID() == pid {
		t.Errorf("the listener reports the gap still on session %d", pid)
	}
	linkedConnection(t, a, "co", "cn")
	cs, err := next(t, sub)
	if err != nil || len(cs) != 1 || len(cs[0].Connections) != 1 || cs[0].Connections[0].ID != "cn" {
		t.Fatalf("after the gap: Next = %+v, %v; want the new connection", cs, err)
	}
}

// TestCloseStopsListener: Close ends the goroutines Open started, also
// after the listener reconnected.
func TestCloseStopsListener(t *testing.T) {
	url := pgtest.NewDatabase(t) // the shared server's goroutines are not ours
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p, err := Open(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub := p.Feed().Subscribe(p.Feed().Head())
	if _, err := p.pool.Exec(t.Context(), "SELECT pg_terminate_backend($1)", int32(p.listenerPID())); err != nil {
		t.Fatal(err)
	}
	if _, err := next(t, sub); !errors.As(err, new(*store.GapError)) {
		t.Fatalf("Next after the session was killed = %v, want a gap", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFeedAcrossRestart: when the server itself goes down and comes back,
// the listener reconnects (with backoff, while the server is down), the
// subscribers see a gap, and later commits reach them again.
func TestFeedAcrossRestart(t *testing.T) {
	srv, err := pgtest.Start(pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	url, err := srv.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p, err := Open(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.CreateCompany(t.Context(), store.Company{ID: "co", Name: "Co", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	sub := p.Feed().Subscribe(p.Feed().Head())
	srv.Stop(true)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := next(t, sub); !errors.As(err, new(*store.GapError)) {
		t.Fatalf("Next after the restart = %v, want a gap", err)
	}
	linkedConnection(t, p, "co", "cn")
	cs, err := next(t, sub)
	if err != nil || len(cs) != 1 || len(cs[0].Connections) != 1 || cs[0].Connections[0].ID != "cn" {
		t.Fatalf("after the gap: Next = %+v, %v; want the new connection", cs, err)
	}
}

// TestNotesBatchHoldsNoTwin: a batch of notifications holds no two equal
// payloads (PostgreSQL would deliver one of them): the second waits for
// the next batch.
func TestNotesBatchHoldsNoTwin(t *testing.T) {
	n := &notes{wake: make(chan struct{}, 1)}
	for _, p := range []string{"a", "b", "a", "c"} {
		n.add([]byte(p))
	}
	for i, want := range []string{"a b", "a c", ""} {
		var got []string
		for _, p := range n.take() {
			got = append(got, string(p))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("batch %d = %q, want %q", i, got, want)
		}
	}
}
