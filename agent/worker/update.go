package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/agent/source"
	"github.com/ferry-sync/ferry/agent/update"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// ErrRestart: the worker stopped for the agent to restart, a new version
// swapped in or an unhealthy one swapped out (agent/update). The process
// exits, and the service manager or the supervisor starts it again
// through the link.
var ErrRestart = errors.New("the agent restarts to run the version swapped in")

// onUpdate takes an update on, or says why not: busy while a dataset is in
// hand or a bound book is locked, refused for a version it never runs.
// Taken on, it is acknowledged, UpdateStarted is reported, and the update
// runs in its own goroutine while the agent claims nothing new.
func (w *Worker) onUpdate(ctx context.Context, s *session, m protocol.Message) {
	u := w.cfg.Update
	if u == nil {
		w.ignoreUnasked(m)
		return
	}
	v := m.Update.Version
	w.mu.Lock()
	if w.updating != "" {
		now := w.updating
		w.mu.Unlock()
		if now == v {
			w.reply(s, m, nil)
		} else {
			w.reply(s, m, &protocol.Error{Code: protocol.CodeBusy, Message: "updating to " + now + " already"})
		}
		return
	}
	if why := w.busy(s); why != "" {
		w.mu.Unlock()
		w.reply(s, m, &protocol.Error{Code: protocol.CodeBusy, Message: why})
		return
	}
	if err := u.Check(v); err != nil {
		w.mu.Unlock()
		w.reply(s, m, &protocol.Error{Code: protocol.CodeUpdateRefused, Message: err.Error()})
		return
	}
	w.updating = v
	w.mu.Unlock()
	w.reply(s, m, nil)
	w.log.Info("updating", "from", w.cfg.Version, "to", v, "reason", m.Update.Reason)
	w.reportUpdate(protocol.UpdateStatus{Event: protocol.UpdateStarted, From: w.cfg.Version, To: v})
	health := time.Duration(m.Update.HealthMillis) * time.Millisecond
	w.jobWG.Add(1)
	go func() {
		defer w.jobWG.Done()
		w.runUpdate(ctx, v, health)
	}()
}

// busy says why the agent cannot begin an update now ("": it can): a
// dataset in hand or claimed, or a bound book locked by the accounting
// program. Called with w.mu held.
func (w *Worker) busy(s *session) string {
	s.mu.Lock()
	claims := len(s.claims)
	s.mu.Unlock()
	if n := len(w.jobs) + claims; n > 0 {
		return fmt.Sprintf("%d dataset(s) in hand", n)
	}
	for _, b := range w.cfg.Bindings {
		if l, ok := b.Source.(source.Locker); ok && l.Locked() {
			return "the book of connection " + b.ConnectionID + " is locked by the accounting program"
		}
	}
	return ""
}

// runUpdate prepares and swaps in version v, then stops the worker for
// the restart; a failure is reported and the agent claims work again.
func (w *Worker) runUpdate(ctx context.Context, v string, health time.Duration) {
	u := w.cfg.Update
	bin, err := u.Prepare(ctx, v)
	if err == nil {
		err = u.Swap(v, bin, health)
	}
	if err == nil {
		w.restart(ErrRestart)
		return
	}
	if ctx.Err() != nil {
		return // the agent stops; the coordinator asks again
	}
	f := &update.Failure{Step: protocol.StepSwap, Reason: err.Error()}
	errors.As(err, &f)
	w.log.Warn("update failed; this version runs on", "to", v, "step", f.Step, "reason", f.Reason)
	w.reportUpdate(protocol.UpdateStatus{Event: protocol.UpdateFailed, From: w.cfg.Version, To: v, Step: f.Step, Reason: truncateReason(f.Reason)})
	w.mu.Lock()
	w.updating = ""
	s := w.session
	w.mu.Unlock()
	if s != nil {
		w.claimNext(s)
	}
}

// truncateReason keeps a reason within the protocol's bound.
func truncateReason(r string) string {
	if len(r) > 1000 {
		return r[:1000]
	}
	return r
}

// reportUpdate keeps st on disk until the coordinator acknowledges it and
// sends it now when connected (else after the next welcome).
func (w *Worker) reportUpdate(st protocol.UpdateStatus) {
	q, err := w.cfg.Update.State().Add(st)
	if err != nil {
		w.log.Error("keep the update status", "event", st.Event, "err", err)
		return
	}
	if s := w.current(); s != nil {
		_ = s.write(updateStatusMessage(q))
	}
}

func updateStatusMessage(q update.Queued) protocol.Message {
	st := q.Status
	return protocol.Message{Type: protocol.TypeUpdateStatus, ID: q.ID, UpdateStatus: &st}
}

// sendUpdateStatuses runs after each welcome: the new version of a
// pending swap is healthy now, and every status kept is sent.
func (w *Worker) sendUpdateStatuses(s *session) {
	u := w.cfg.Update
	if u == nil {
		return
	}
	if err := u.Connected(); err != nil {
		w.log.Error("record the update's success", "err", err)
	}
	qs, err := u.State().Statuses()
	if err != nil {
		w.log.Error("read the update statuses kept", "err", err)
	}
	for _, q := range qs {
		if s.write(updateStatusMessage(q)) != nil {
			return
		}
	}
}

// updateAcked removes a status the coordinator acknowledged (or refused:
// it will never take it); false when id is none of them.
func (w *Worker) updateAcked(id string) bool {
	if w.cfg.Update == nil {
		return false
	}
	ok, err := w.cfg.Update.State().Acked(id)
	if err != nil {
		w.log.Error("forget an acknowledged update status", "err", err)
	}
	return ok
}

// runHealthDeadline rolls a swapped-in version back when it is not
// connected by the pending swap's deadline, and stops the worker for the
// restart. It ends with ctx.
func (w *Worker) runHealthDeadline(ctx context.Context) {
	p := w.cfg.Update.Pending()
	t := time.NewTimer(time.Until(p.Deadline))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	if err := w.cfg.Update.Overdue(); errors.Is(err, update.ErrRolledBack) {
		w.log.Error("not healthy by the update's deadline; the previous version is put back", "deadline", p.Deadline)
		w.restart(err)
	} else if err != nil {
		w.log.Error("roll the update back", "err", err)
	}
}

// reply answers m: ack, or the error e.
func (w *Worker) reply(s *session, m protocol.Message, e *protocol.Error) {
	r := protocol.Message{Type: protocol.TypeAck, ID: uuid.NewString(), ReplyTo: m.ID}
	if e != nil {
		r.Type, r.Error = protocol.TypeError, e
	}
	_ = s.write(r)
}
