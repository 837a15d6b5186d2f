package worker

import (
	"context"
	"sync"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// outbox holds reports until the coordinator acknowledges them; each is
// resent on every new connection until then. Reports are idempotent on the
// coordinator, so a resend after a lost ack is harmless.
type outbox struct {
	mu      sync.Mutex
	pending []*pending
}

type pending struct {
	msg  protocol.Message
	done chan error
}

func newOutbox() *outbox { return &outbox{} }

// send queues m and writes it now if a session is up; it returns once the
// coordinator answered (nil for an ack, the *protocol.Error of a refusal)
// or ctx ended.
func (o *outbox) send(ctx context.Context, w *Worker, m protocol.Message) error {
	p := &pending{msg: m, done: make(chan error, 1)}
	o.mu.Lock()
	o.pending = append(o.pending, p)
	o.mu.Unlock()
	if s := w.current(); s != nil {
		_ = s.write(m) // on failure the next session resends it
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		o.drop(m.ID)
		return ctx.Err()
	}
}

// resend writes every unacknowledged message on a new session, in order.
func (o *outbox) resend(s *session) {
	o.mu.Lock()
	msgs := make([]protocol.Message, len(o.pending))
	for i, p := range o.pending {
		msgs[i] = p.msg
	}
	o.mu.Unlock()
	for _, m := range msgs {
		if s.write(m) != nil {
			return
		}
	}
}

// resolve ends the wait for message id; false when nothing waits for it.
func (o *outbox) resolve(id string, err *protocol.Error) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, p := range o.pending {
		if p.msg.ID == id {
			if err != nil {
				p.done <- err
			} else {
				p.done <- nil
			}
			o.pending = append(o.pending[:i], o.pending[i+1:]...)
			return true
		}
	}
	return false
}

func (o *outbox) drop(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, p := range o.pending {
		if p.msg.ID == id {
			o.pending = append(o.pending[:i], o.pending[i+1:]...)
			return
		}
	}
}
