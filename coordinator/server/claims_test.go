package server

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/store/badgerstore"
)

// countingClaims counts the channels and leases a claimWatch reads.
type countingClaims struct {
	claimsStore
	channels, leases int
}

func (c *countingClaims) Channels(ctx context.Context) ([]store.Channel, error) {
	chans, err := c.claimsStore.Channels(ctx)
	c.channels += len(chans)
	return chans, err
}

func (c *countingClaims) Lease(ctx context.Context, name string) (string, time.Time, error) {
	c.leases++
	return c.claimsStore.Lease(ctx, name)
}

// TestClaimWatchReadsWhatChanged: with 100 channels held by this replica
// and one by another, alive, a pass after the first reads no channel, one
// presence lease; once the other replica is gone, the pass releases its
// channel, and the passes after read nothing again.
func TestClaimWatchReadsWhatChanged(t *testing.T) {
	st, err := badgerstore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	now := time.Now()
	claim := func(id, replica string) {
		t.Helper()
		if err := st.CreateAgent(ctx, store.Agent{ID: id, CredentialHash: []byte("cred-" + id), Created: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ClaimChannel(ctx, id, replica); err != nil {
			t.Fatal(err)
		}
	}
	const n = 100
	for i := range n {
		claim(fmt.Sprintf("agent-%03d", i), "replica-a")
	}
	cs := &countingClaims{claimsStore: st}
	w := newClaimWatch(cs, st.Feed(), "replica-a", slog.New(slog.DiscardHandler))
	pass := func(what string, channels, leases int) {
		t.Helper()
		cs.channels, cs.leases = 0, 0
		w.pass(ctx, now)
		if cs.channels != channels || cs.leases != leases {
			t.Errorf("%s: the pass read %d channels and %d leases, want %d and %d", what, cs.channels, cs.leases, channels, leases)
		}
	}
	pass("the first pass", n, 0)
	pass("one replica, nothing changed", 0, 0)

	claim("agent-b", "replica-b")
	if _, _, err := st.AcquireLease(ctx, presenceLease("replica-b"), "replica-b", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	pass("another replica alive", 0, 1)
	pass("again", 0, 1)

	now = now.Add(2 * time.Minute) // replica-b's presence expired
	pass("the other replica gone", n+1, 2)
	if ch, err := st.Channel(ctx, "agent-b"); err != nil || ch.Replica != "" {
		t.Errorf("the gone replica's channel: %+v, %v; want released", ch, err)
	}
	pass("after the release", 0, 0)
	now = now.Add(claimsReadAll)
	pass("after claimsReadAll", n, 0)
}
