package worker

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// diagnoseTimeout bounds the agent's self-checks, within the coordinator's
// wait.
const diagnoseTimeout = 8 * time.Second

// maxDiagnoseWaiting is how many diagnose requests may wait for the run
// in progress; more are dropped (the coordinator answers its caller that
// the agent did not answer).
const maxDiagnoseWaiting = 4

// diagRuns keeps one diagnostic run at a time: requests that come while
// it runs are answered with its report.
type diagRuns struct {
	mu      sync.Mutex
	running bool
	replies []diagReply
}

type diagReply struct {
	s  *session
	id string
}

// onDiagnose answers a diagnose request with a run of the self-checks off
// the read loop (a source on a slow network drive must not stall
// heartbeats): a new run, or the one in progress.
func (w *Worker) onDiagnose(ctx context.Context, s *session, id string) {
	w.diag.mu.Lock()
	if w.diag.running {
		full := len(w.diag.replies) >= 1+maxDiagnoseWaiting
		if !full {
			w.diag.replies = append(w.diag.replies, diagReply{s, id})
		}
		w.diag.mu.Unlock()
		if full {
			w.ignored.log(w.log, "dropped diagnose requests: one runs and enough wait for it", "waiting", maxDiagnoseWaiting)
		}
		return
	}
	w.diag.running = true
	w.diag.replies = []diagReply{{s, id}}
	w.diag.mu.Unlock()
	w.jobWG.Add(1)
	go func() { defer w.jobWG.Done(); w.diagnose(ctx) }()
}

// diagnose runs the self-checks once and answers every request waiting.
func (w *Worker) diagnose(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	d := protocol.Diagnostics{AgentVersion: w.cfg.Version, Hostname: Hostname(), OS: OSName(), Checks: []protocol.Check{}}
	if w.cfg.Checks != nil {
		d.Checks = w.cfg.Checks(ctx)
	}
	fit(&d)
	w.diag.mu.Lock()
	replies := w.diag.replies
	w.diag.replies, w.diag.running = nil, false
	w.diag.mu.Unlock()
	for _, r := range replies {
		d := d
		d.AgentTime = time.Now().UTC()
		if err := r.s.write(protocol.Message{Type: protocol.TypeDiagnostics, ID: uuid.NewString(), ReplyTo: r.id, Diagnostics: &d}); err != nil {
			w.log.Warn("send diagnostics", "err", err)
			continue
		}
		w.log.Info("diagnostics sent", "checks", len(d.Checks))
	}
}

// fit shortens the checks' messages until the report fits in one control
// message: an agent with hundreds of bindings must still answer.
func fit(d *protocol.Diagnostics) {
	for limit := 512; limit >= 16; limit /= 2 {
		raw, err := json.Marshal(d)
		if err != nil || len(raw) < protocol.MaxMessageBytes-1024 {
			return
		}
		for i := range d.Checks {
			if m := d.Checks[i].Message; len(m) > limit {
				d.Checks[i].Message = strings.ToValidUTF8(m[:limit-3], "") + "..."
			}
		}
	}
}
