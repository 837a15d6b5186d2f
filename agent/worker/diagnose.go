package worker

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// diagnoseTimeout bounds the agent's self-checks, within the coordinator's
// wait.
const diagnoseTimeout = 8 * time.Second

// diagnose runs the self-checks off the read loop (a source on a slow
// network drive must not stall heartbeats) and answers the coordinator's
// diagnose message.
func (w *Worker) diagnose(ctx context.Context, s *session, replyTo string) {
	ctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	d := &protocol.Diagnostics{AgentVersion: w.cfg.Version, Hostname: Hostname(), OS: OSName(), Checks: []protocol.Check{}}
	if w.cfg.Checks != nil {
		d.Checks = w.cfg.Checks(ctx)
	}
	fit(d)
	d.AgentTime = time.Now().UTC()
	err := s.write(protocol.Message{Type: protocol.TypeDiagnostics, ID: uuid.NewString(), ReplyTo: replyTo, Diagnostics: d})
	if err != nil {
		w.log.Warn("send diagnostics", "err", err)
		return
	}
	w.log.Info("diagnostics sent", "checks", len(d.Checks))
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
