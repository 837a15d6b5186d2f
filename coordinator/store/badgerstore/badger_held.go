package badgerstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Upload slots, refusal windows and failure windows need no durability,
// and a Badger store has one process: they are kept in its memory, not
// on disk, so that an upload or a refused call costs no synced write, and
// reading a failure window (on every agent request, ratelimit.Failures)
// does not wait for the syncs in flight as a Badger read does. A restart
// frees every slot and forgets what the windows counted.

// held is the store's memory of upload slots, refusal windows and
// failure windows.
type held struct {
	mu       sync.Mutex
	slots    map[string][]uploadSlot   // by agent id
	refusals map[string]*refusalWindow // by agent id
	failures map[string]failureWindow  // by failure key
}

// maxHeldFailures bounds the failure windows held: past it, the ones
// that ended are dropped, then the one ending soonest. Windows are kept
// per address (an IPv6 /64), so filling it takes that many addresses
// failing within one window; the one evicted starts counting again.
const maxHeldFailures = 100_000

// refusalWindow is an agent's window of refusals, ending at until.
type refusalWindow struct {
	store.Refusals
	until time.Time
}

// uploadSlot is a slot taken until a time.
type uploadSlot struct {
	token string
	until time.Time
}

func (b *Badger) TakeUploadSlot(ctx context.Context, agentID string, limit int, now time.Time, ttl time.Duration) (string, error) {
	if err := rules.CheckUploadSlot(agentID, limit, ttl); err != nil {
		return "", err
	}
	h := &b.held
	h.mu.Lock()
	defer h.mu.Unlock()
	live := slices.DeleteFunc(h.slots[agentID], func(s uploadSlot) bool { return !s.until.After(now) })
	if len(live) >= limit {
		h.slots[agentID] = live
		return "", nil
	}
	if h.slots == nil {
		h.slots = map[string][]uploadSlot{}
	}
	token := uuid.NewString()
	h.slots[agentID] = append(live, uploadSlot{token: token, until: now.Add(ttl)})
	return token, nil
}

func (b *Badger) ReturnUploadSlot(ctx context.Context, agentID, token string) error {
	h := &b.held
	h.mu.Lock()
	defer h.mu.Unlock()
	left := slices.DeleteFunc(h.slots[agentID], func(s uploadSlot) bool { return s.token == token })
	if len(left) == 0 {
		delete(h.slots, agentID)
	} else {
		h.slots[agentID] = left
	}
	return nil
}

func (b *Badger) CountRefusal(ctx context.Context, agentID, remote, what string, now time.Time, every time.Duration) (bool, error) {
	if err := rules.CheckID("agent", agentID); err != nil {
		return false, err
	}
	if every <= 0 {
		return false, fmt.Errorf("refusals: window %s is not positive", every)
	}
	h := &b.held
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := h.refusals[agentID]; w != nil && (w.until.After(now) || w.N > 0) {
		w.N, w.Last, w.Remote = w.N+1, what, remote
		return false, nil
	}
	if h.refusals == nil {
		h.refusals = map[string]*refusalWindow{}
	}
	h.refusals[agentID] = &refusalWindow{Refusals: store.Refusals{AgentID: agentID, Since: now.UTC()}, until: now.Add(every).UTC()}
	return true, nil
}

func (b *Badger) TakeRefusals(ctx context.Context, now time.Time, every time.Duration) ([]store.Refusals, error) {
	if every <= 0 {
		return nil, fmt.Errorf("refusals: window %s is not positive", every)
	}
	h := &b.held
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []store.Refusals
	for id, w := range h.refusals {
		switch {
		case w.until.After(now):
		case w.N == 0:
			delete(h.refusals, id)
		default:
			out = append(out, w.Refusals)
			h.refusals[id] = &refusalWindow{Refusals: store.Refusals{AgentID: id, Since: w.until}, until: w.until.Add(every)}
		}
	}
	slices.SortFunc(out, func(a, b store.Refusals) int { return a.Since.Compare(b.Since) })
	return out, nil
}

func (b *Badger) CountFailure(ctx context.Context, k string, now time.Time, window time.Duration) (int, time.Time, error) {
	if err := checkName("failure key", k); err != nil {
		return 0, time.Time{}, err
	}
	if window <= 0 {
		return 0, time.Time{}, fmt.Errorf("failure key %s: window %s is not positive", k, window)
	}
	h := &b.held
	h.mu.Lock()
	defer h.mu.Unlock()
	w, ok := h.failures[k]
	if !ok || !w.Until.After(now) {
		if !ok && len(h.failures) >= maxHeldFailures {
			h.evictFailure(now)
		}
		w = failureWindow{Until: now.Add(window).UTC()}
	}
	if h.failures == nil {
		h.failures = map[string]failureWindow{}
	}
	w.N++
	h.failures[k] = w
	return w.N, w.Until, nil
}

func (b *Badger) Failures(ctx context.Context, k string, now time.Time) (int, time.Time, error) {
	h := &b.held
	h.mu.Lock()
	w, ok := h.failures[k]
	h.mu.Unlock()
	if !ok || !w.Until.After(now) {
		return 0, time.Time{}, nil
	}
	return w.N, w.Until, nil
}

// evictFailure makes room for one failure window: it drops those ended
// at now or, when none has, the one ending soonest. h.mu is held.
func (h *held) evictFailure(now time.Time) {
	soonest := ""
	for k, w := range h.failures {
		if !w.Until.After(now) {
			delete(h.failures, k)
		} else if soonest == "" || w.Until.Before(h.failures[soonest].Until) {
			soonest = k
		}
	}
	if len(h.failures) >= maxHeldFailures {
		delete(h.failures, soonest)
	}
}

// pruneFailures drops the failure windows that ended at or before
// before, and returns how many.
func (h *held) pruneFailures(before time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for k, w := range h.failures {
		if !w.Until.After(before) {
			delete(h.failures, k)
			n++
		}
	}
	return n
}
