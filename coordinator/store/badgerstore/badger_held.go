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

// Upload slots and refusal windows need no durability, and a Badger
// store has one process: they are kept in its memory, not on disk, so
// that an upload or a refused call costs no synced write. A restart
// frees every slot and forgets what the windows counted.

// held is the store's memory of upload slots and refusal windows.
type held struct {
	mu       sync.Mutex
	slots    map[string][]uploadSlot   // by agent id
	refusals map[string]*refusalWindow // by agent id
}

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
