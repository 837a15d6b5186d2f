package store_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ferry-sync/ferry/coordinator/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// change is a change that records n deliveries, to tell changes apart.
func change(n int) store.Change { return store.Change{Deliveries: n} }

// read reads from sub until it has want changes, failing on a gap.
func read(t *testing.T, sub *store.Subscription, want int) []store.Change {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []store.Change
	for len(got) < want {
		cs, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d changes: %v", len(got), err)
		}
		got = append(got, cs...)
	}
	return got
}

// TestFeedOrder: every subscriber reads every change once, in the order
// published, with consecutive sequence numbers from its cursor on.
func TestFeedOrder(t *testing.T) {
	f := store.NewFeed(100)
	early := f.Subscribe(f.Head())
	f.Publish(change(1))
	late := f.Subscribe(f.Head())
	for i := 2; i <= 5; i++ {
		if seq := f.Publish(change(i)); seq != uint64(i) {
			t.Fatalf("Publish = %d, want %d", seq, i)
		}
	}
	for _, tc := range []struct {
		name  string
		sub   *store.Subscription
		first int
	}{{"early", early, 1}, {"late", late, 2}} {
		got := read(t, tc.sub, 5-tc.first+1)
		for i, c := range got {
			if want := tc.first + i; c.Deliveries != want || c.Seq != uint64(want) || c.At.IsZero() {
				t.Errorf("%s: change %d = seq %d deliveries %d at %v, want %d", tc.name, i, c.Seq, c.Deliveries, c.At, want)
			}
		}
		if tc.sub.Cursor() != 5 {
			t.Errorf("%s: cursor %d, want 5", tc.name, tc.sub.Cursor())
		}
	}
}

// TestFeedWaits: Next waits for a publication, and returns ctx's error
// when ctx ends first.
func TestFeedWaits(t *testing.T) {
	f := store.NewFeed(4)
	sub := f.Subscribe(0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := sub.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with an ended ctx = %v, want context.Canceled", err)
	}
	done := make(chan []store.Change)
	go func() {
		cs, _ := sub.Next(t.Context())
		done <- cs
	}()
	f.Publish(change(7))
	if cs := <-done; len(cs) != 1 || cs[0].Deliveries != 7 {
		t.Fatalf("Next = %+v, want the change published", cs)
	}
}

// TestFeedConcurrent: changes published from many goroutines reach every
// subscriber, each once, in sequence order.
func TestFeedConcurrent(t *testing.T) {
	const publishers, each, subscribers = 8, 200, 3
	f := store.NewFeed(publishers * each)
	var subs []*store.Subscription
	for range subscribers {
		subs = append(subs, f.Subscribe(0))
	}
	var wg sync.WaitGroup
	results := make([][]store.Change, subscribers)
	for i, sub := range subs {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = read(t, sub, publishers*each) }()
	}
	var pub sync.WaitGroup
	for range publishers {
		pub.Add(1)
		go func() {
			defer pub.Done()
			for range each {
				f.Publish(change(1))
			}
		}()
	}
	pub.Wait()
	wg.Wait()
	for i, got := range results {
		for j, c := range got {
			if c.Seq != uint64(j+1) {
				t.Fatalf("subscriber %d: change %d has seq %d, want %d", i, j, c.Seq, j+1)
			}
		}
	}
}

// TestFeedSlowSubscriber: a subscriber that falls behind by more than the
// ring gets one gap, its cursor at the head, then reads on.
func TestFeedSlowSubscriber(t *testing.T) {
	f := store.NewFeed(3)
	sub := f.Subscribe(0)
	for i := 1; i <= 5; i++ {
		f.Publish(change(i))
	}
	_, err := sub.Next(t.Context())
	var gap *store.GapError
	if !errors.As(err, &gap) || gap.Cursor != 0 || gap.After != 5 || sub.Cursor() != 5 {
		t.Fatalf("Next = %v (cursor %d), want a gap from 0 to 5", err, sub.Cursor())
	}
	f.Publish(change(6))
	if got := read(t, sub, 1); len(got) != 1 || got[0].Seq != 6 {
		t.Fatalf("after the gap: %+v, want change 6", got)
	}
	// One that kept up reads the ring's last changes without a gap.
	kept := f.Subscribe(4)
	if got := read(t, kept, 2); got[0].Seq != 5 || got[1].Seq != 6 {
		t.Fatalf("from 4: %+v, want 5 and 6", got)
	}
}

// TestFeedExternalSequence: a backend that numbers its own changes may
// skip numbers; a subscriber reads up to the jump, then gets a gap.
func TestFeedExternalSequence(t *testing.T) {
	f := store.NewFeed(10)
	sub := f.Subscribe(0)
	for _, seq := range []uint64{1, 2, 5, 6} {
		if err := f.PublishAt(store.Change{Seq: seq, Deliveries: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.PublishAt(store.Change{Seq: 6}); err == nil {
		t.Fatal("PublishAt accepted a sequence number at the head")
	}
	cs, err := sub.Next(t.Context())
	if err != nil || len(cs) != 2 || cs[1].Seq != 2 {
		t.Fatalf("Next = %+v, %v; want changes 1 and 2", cs, err)
	}
	_, err = sub.Next(t.Context())
	var gap *store.GapError
	if !errors.As(err, &gap) || gap.Cursor != 2 || gap.After != 6 {
		t.Fatalf("Next = %v, want a gap from 2 to 6", err)
	}
	f.Publish(change(1))
	if got := read(t, sub, 1); got[0].Seq != 7 {
		t.Fatalf("after the gap: %+v, want change 7", got)
	}
	// A cursor past the head (a subscriber that outlived its feed) is a gap.
	if _, err := f.Subscribe(100).Next(t.Context()); !errors.As(err, &gap) || gap.After != 7 {
		t.Fatalf("Next from the future = %v, want a gap to 7", err)
	}
}

// TestSubscriptionWait: Wait ends at a change that wakes it, reading past
// those that do not; at the end of its wait; at a gap, which it returns;
// and says false when ctx has ended.
func TestSubscriptionWait(t *testing.T) {
	wake := func(c store.Change) bool { return c.Deliveries > 1 }
	f := store.NewFeed(2)
	sub := f.Subscribe(f.Head())
	f.Publish(change(1))
	f.Publish(change(2))
	if ok, gap := sub.Wait(t.Context(), time.Hour, wake); !ok || gap != nil {
		t.Errorf("Wait with a waking change = %v, %v; want true, no gap", ok, gap)
	}
	if sub.Cursor() != 2 {
		t.Errorf("cursor %d after the waking change, want 2", sub.Cursor())
	}

	f.Publish(change(1))
	if ok, gap := sub.Wait(t.Context(), time.Millisecond, wake); !ok || gap != nil || sub.Cursor() != 3 {
		t.Errorf("Wait past a change that does not wake = %v, %v, cursor %d; want true at the end of the wait, cursor 3", ok, gap, sub.Cursor())
	}

	for range 3 {
		f.Publish(change(1))
	}
	if ok, gap := sub.Wait(t.Context(), time.Hour, wake); !ok || gap == nil || gap.Cursor != 3 || gap.After != 6 {
		t.Errorf("Wait over a gap = %v, %v; want true and the gap from 3 to 6", ok, gap)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if ok, gap := sub.Wait(ctx, time.Hour, wake); ok || gap != nil {
		t.Errorf("Wait with ctx ended = %v, %v; want false", ok, gap)
	}
}

// TestSubscriptionFollow: Follow hands every change over in order, a gap
// once, and returns when ctx ends.
func TestSubscriptionFollow(t *testing.T) {
	f := store.NewFeed(2)
	sub := f.Subscribe(0)
	for i := range 3 {
		f.Publish(change(i + 1)) // the first falls out of the ring: a gap
	}
	ctx, cancel := context.WithCancel(t.Context())
	var got []int
	gaps := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		sub.Follow(ctx, nil, func(c store.Change) {
			got = append(got, c.Deliveries)
			if c.Deliveries == 4 {
				cancel()
			}
		}, func(*store.GapError) {
			gaps++
			f.Publish(change(4)) // after the gap moved the cursor to the head
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("Follow did not return after ctx ended")
	}
	if gaps != 1 || len(got) != 1 || got[0] != 4 {
		t.Errorf("Follow gave changes %v and %d gaps; want [4] after one gap (the gap moves past 1-3)", got, gaps)
	}
}

// TestFeedLost: after Lost, a subscriber gets one gap (also one waiting in
// Next, or one that had not read the changes before), then the changes
// published after it, in order.
func TestFeedLost(t *testing.T) {
	f := store.NewFeed(100)
	behind := f.Subscribe(f.Head())
	f.Publish(change(1))
	waiting := f.Subscribe(f.Head())
	gap := make(chan error, 1)
	go func() {
		_, err := waiting.Next(t.Context())
		gap <- err
	}()
	f.Lost()
	var g *store.GapError
	if err := <-gap; !errors.As(err, &g) || g.Cursor != 1 || g.After != 2 {
		t.Fatalf("waiting: Next = %v, want a gap from 1 to 2", err)
	}
	if got := read(t, behind, 1); got[0].Deliveries != 1 {
		t.Fatalf("behind: read %+v, want change 1 first", got)
	}
	if _, err := behind.Next(t.Context()); !errors.As(err, &g) {
		t.Fatalf("behind: Next after change 1 = %v, want a gap", err)
	}
	f.Publish(change(3))
	for _, sub := range []*store.Subscription{behind, waiting} {
		if got := read(t, sub, 1); len(got) != 1 || got[0].Deliveries != 3 || got[0].Seq != 3 {
			t.Errorf("after the gap: read %+v, want change 3 alone", got)
		}
	}
}

// waitParked waits until n subscribers wait on f for the changes they want.
func waitParked(t *testing.T, f *store.Feed, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.Waiting() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers waiting, want %d", f.Waiting(), n)
		}
		runtime.Gosched()
	}
}

// TestFeedWakesOnlyForWantedChanges: a subscriber waiting for some
// changes (Wait's wake, Follow's want) is not woken by the others, which
// move its cursor past them, and is woken by the first it wants; a gap
// wakes it too.
func TestFeedWakesOnlyForWantedChanges(t *testing.T) {
	f := store.NewFeed(4) // fewer than the changes passed over: no gap from them
	sub := f.Subscribe(f.Head())
	type result struct {
		woke bool
		gap  *store.GapError
	}
	done := make(chan result)
	go func() {
		woke, gap := sub.Wait(t.Context(), time.Hour, func(c store.Change) bool { return c.Deliveries > 0 })
		done <- result{woke, gap}
	}()
	waitParked(t, f, 1)
	for range 100 {
		f.Publish(store.Change{SyncWindows: true})
	}
	if n := f.Woken(); n != 0 {
		t.Fatalf("100 unwanted changes woke the waiter %d times, want 0", n)
	}
	f.Publish(change(1))
	if r := <-done; !r.woke || r.gap != nil {
		t.Fatalf("Wait = %v, %v after the change it wants; want true, no gap", r.woke, r.gap)
	}
	if n, c := f.Woken(), sub.Cursor(); n != 1 || c != 101 {
		t.Fatalf("woken %d times, cursor %d; want 1 and 101", n, c)
	}

	// Follow with a want: applies the wanted changes only, woken once each.
	ctx, cancel := context.WithCancel(t.Context())
	applied := make(chan store.Change, 10)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		sub.Follow(ctx, func(c store.Change) bool { return c.Deliveries > 0 }, func(c store.Change) { applied <- c },
			func(g *store.GapError) { t.Errorf("gap %v", g) })
	}()
	waitParked(t, f, 1)
	for range 50 {
		f.Publish(store.Change{SyncWindows: true})
	}
	f.Publish(change(2))
	if c := <-applied; c.Deliveries != 2 || c.Seq != 152 {
		t.Fatalf("applied %+v, want the change of seq 152", c)
	}
	waitParked(t, f, 1)
	if n := f.Woken(); n != 2 {
		t.Fatalf("woken %d times in all, want 2", n)
	}
	cancel()
	<-followed

	// A gap wakes a waiter whatever it wants.
	go func() {
		woke, gap := sub.Wait(t.Context(), time.Hour, func(c store.Change) bool { return c.Deliveries > 0 })
		done <- result{woke, gap}
	}()
	waitParked(t, f, 1)
	f.Lost()
	if r := <-done; !r.woke || r.gap == nil {
		t.Fatalf("Wait = %v, %v after a lost change; want true and a gap", r.woke, r.gap)
	}
	if f.Waiting() != 0 {
		t.Fatalf("%d still waiting", f.Waiting())
	}
}
