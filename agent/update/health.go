package update

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// ErrRolledBack: the new version was swapped out again; the process
// exits so that the service manager (or the supervisor) starts the old
// one through the link.
var ErrRolledBack = errors.New("the update was rolled back; restarting the previous version")

// Started is the first thing a starting agent of version v does (`run`,
// before it reads its config): when a swap to v is pending it counts the
// start, and rolls the swap back when the deadline has passed or v has
// started more than MaxStarts times (ErrRolledBack: exit now). It returns
// the pending swap (nil: none) whose deadline the agent must meet.
//
// A swap pending for another version than v means the link already
// points back at the old one (a supervisor rolled it back, or the
// restart never reached the new version): the rollback is reported.
func Started(s *State, l Layout, v string, now time.Time) (*Pending, error) {
	p, err := s.Pending()
	if err != nil || p == nil {
		return nil, err
	}
	if p.To != v {
		return nil, finishRollback(s, p, "the new version did not start")
	}
	p.Starts++
	if err := s.SetPending(p); err != nil {
		return nil, err
	}
	switch {
	case p.Starts > MaxStarts:
		return nil, RollBack(s, l, p, fmt.Sprintf("version %s started %d times without becoming healthy", p.To, p.Starts-1))
	case !now.Before(p.Deadline):
		return nil, RollBack(s, l, p, fmt.Sprintf("version %s was not healthy by %s", p.To, p.Deadline.Format(time.RFC3339)))
	}
	return p, nil
}

// Healthy is called by the new version once it is connected (welcome
// received): the swap is done; UpdateSucceeded is queued and the record
// removed, and versions other than the new and the old are pruned, with
// the downloads.
func Healthy(s *State, l Layout, v string) error {
	p, err := s.Pending()
	if err != nil || p == nil || p.To != v {
		return err
	}
	if _, err := s.Add(protocol.UpdateStatus{Event: protocol.UpdateSucceeded, From: p.From, To: p.To}); err != nil {
		return err
	}
	if err := s.SetPending(nil); err != nil {
		return err
	}
	return errors.Join(l.Prune(p.New, p.Old), os.RemoveAll(filepath.Join(s.Dir, "download")))
}

// RollBack swaps the old version of p back in and reports why (queued,
// sent by the old version once it is connected). The caller exits.
func RollBack(s *State, l Layout, p *Pending, reason string) error {
	if err := l.Swap(p.New, p.Old); err != nil {
		return fmt.Errorf("roll back to %s: %w", p.Old, err)
	}
	if err := finishRollback(s, p, reason); err != nil {
		return err
	}
	return ErrRolledBack
}

// finishRollback queues UpdateRolledBack (step health), remembers the
// version so that it is refused from then on, and removes the record.
func finishRollback(s *State, p *Pending, reason string) error {
	if err := s.addRolledBack(p.To); err != nil {
		return err
	}
	if _, err := s.Add(protocol.UpdateStatus{Event: protocol.UpdateRolledBack, From: p.From, To: p.To,
		Step: protocol.StepHealth, Reason: reason}); err != nil {
		return err
	}
	return s.SetPending(nil)
}

// Supervise is the `run --respawn` supervisor's check before it starts
// the agent: a swap still pending past its deadline, or after MaxStarts
// starts, is rolled back, so a new binary that crashes before it can
// count its own starts is swapped out too. It returns whether it rolled
// back.
func Supervise(s *State, l Layout, now time.Time) (bool, error) {
	p, err := s.Pending()
	if err != nil || p == nil {
		return false, err
	}
	if now.Before(p.Deadline) && p.Starts < MaxStarts {
		return false, nil
	}
	err = RollBack(s, l, p, fmt.Sprintf("version %s was not healthy by %s (the supervisor put %s back)",
		p.To, p.Deadline.Format(time.RFC3339), p.From))
	if errors.Is(err, ErrRolledBack) {
		return true, nil
	}
	return false, err
}
