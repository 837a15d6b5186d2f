package pgstore

import (
	"cmp"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// TestWireChangeHasEveryField: a notification carries every field of a
// Change but those each feed sets, so a field added to Change reaches
// other replicas or fails here.
func TestWireChangeHasEveryField(t *testing.T) {
	wire := reflect.TypeFor[wireChange]()
	for f := range reflect.TypeFor[store.Change]().Fields() {
		if f.Name == "Seq" || f.Name == "At" {
			continue
		}
		if w, ok := wire.FieldByName(f.Name); !ok || w.Type != f.Type {
			t.Errorf("wireChange has no field %s %s", f.Name, f.Type)
		}
	}
}

// TestChannelsAcrossReplicas: epochs count the claims made through every
// replica, a claim made through one fences a release through the other,
// and each replica's feed carries the claims of both; of replicas racing
// for a lease, one takes it.
func TestChannelsAcrossReplicas(t *testing.T) {
	ps := replicas(t, 2)
	a, b := ps[0], ps[1]
	ctx := t.Context()
	subs := []*store.Subscription{a.Feed().Subscribe(a.Feed().Head()), b.Feed().Subscribe(b.Feed().Head())}
	if err := a.CreateAgent(ctx, store.Agent{ID: "ag", CredentialHash: []byte("cred"), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if e, err := a.ClaimChannel(ctx, "ag", "ra"); err != nil || e != 1 {
		t.Fatalf("ClaimChannel through a = %d, %v; want 1", e, err)
	}
	if e, err := b.ClaimChannel(ctx, "ag", "rb"); err != nil || e != 2 {
		t.Fatalf("ClaimChannel through b = %d, %v; want 2", e, err)
	}
	if ok, err := a.ReleaseChannel(ctx, "ag", 1); err != nil || ok {
		t.Errorf("ReleaseChannel(1) through a = %v, %v; want false: b's claim holds it", ok, err)
	}
	if ok, err := a.ReleaseChannel(ctx, "ag", math.MaxUint64); err != nil || ok {
		t.Errorf("ReleaseChannel(an epoch past bigint) = %v, %v; want false, nil", ok, err)
	}
	want := []store.ChannelChange{{AgentID: "ag", Replica: "ra", Epoch: 1}, {AgentID: "ag", Replica: "rb", Epoch: 2}}
	for i, sub := range subs {
		var got []store.ChannelChange
		for len(got) < len(want) {
			cs, err := next(t, sub)
			if err != nil {
				t.Fatalf("feed %d after %v: %v", i, got, err)
			}
			for _, c := range cs {
				got = append(got, c.Channels...)
			}
		}
		// Each replica notifies after its own commits: across replicas the
		// feed's order is the order sent, and subscribers go by the epoch.
		slices.SortFunc(got, func(x, y store.ChannelChange) int { return cmp.Compare(x.Epoch, y.Epoch) })
		if !slices.Equal(got, want) {
			t.Errorf("feed %d's channel changes = %+v, want %+v", i, got, want)
		}
	}

	var wg sync.WaitGroup
	won := make([]bool, 8)
	for i := range won {
		wg.Go(func() {
			held, _, err := ps[i%2].AcquireLease(ctx, "leader", string(rune('a'+i)), time.Now(), time.Minute)
			if err != nil {
				t.Errorf("AcquireLease %d: %v", i, err)
			}
			won[i] = held
		})
	}
	wg.Wait()
	if n := len(slices.DeleteFunc(won, func(w bool) bool { return !w })); n != 1 {
		t.Errorf("%d of 8 acquisitions through two replicas won, want 1", n)
	}
}
