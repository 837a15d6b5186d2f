package worker

import (
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/shared/protocol"
)

// raisedLevel is a log level support raised for a while (w.mu).
type raisedLevel struct {
	timer *time.Timer
	// gen counts raises: a timer of an earlier one changes nothing.
	gen int
	// report: the agent fell back and has yet to tell the coordinator;
	// reportID is the id of the report sent, until acknowledged.
	report   bool
	reportID string
}

// onLogLevel logs at the level the coordinator sends for the time it
// gives, then falls back to the agent's own level (Config.BaseLevel) by
// itself; a newer raise replaces the last.
func (w *Worker) onLogLevel(s *session, m protocol.Message) {
	var level slog.Level
	if w.cfg.LogLevel == nil || m.LogLevel.ForMillis <= 0 || level.UnmarshalText([]byte(m.LogLevel.Level)) != nil {
		w.ignoreUnasked(m)
		return
	}
	d := time.Duration(m.LogLevel.ForMillis) * time.Millisecond
	w.mu.Lock()
	if w.raise.timer != nil {
		w.raise.timer.Stop()
	}
	w.raise.gen++
	gen := w.raise.gen
	w.cfg.LogLevel.Set(level)
	w.raise.timer = time.AfterFunc(d, func() { w.fallBack(gen) })
	w.mu.Unlock()
	w.log.Info("log level raised by support", "level", m.LogLevel.Level, "for", d.Round(time.Second))
	_ = s.write(protocol.Message{Type: protocol.TypeAck, ID: uuid.NewString(), ReplyTo: m.ID})
}

// fallBack ends raise gen: the agent logs at its own level again and
// tells the coordinator, now or once it is connected.
func (w *Worker) fallBack(gen int) {
	w.mu.Lock()
	if gen != w.raise.gen || w.raise.timer == nil {
		w.mu.Unlock()
		return
	}
	w.raise.timer = nil
	w.cfg.LogLevel.Set(w.cfg.BaseLevel)
	w.raise.report = true
	s := w.session
	w.mu.Unlock()
	w.log.Info("log level back to the agent's own", "level", baseLevel(w.cfg.BaseLevel))
	w.reportLevel(s)
}

// reportLevel tells the coordinator on s that the agent fell back to its
// own level, if it has yet to.
func (w *Worker) reportLevel(s *session) {
	if s == nil {
		return
	}
	w.mu.Lock()
	if !w.raise.report {
		w.mu.Unlock()
		return
	}
	w.raise.report = false
	w.raise.reportID = uuid.NewString()
	id := w.raise.reportID
	w.mu.Unlock()
	err := s.write(protocol.Message{Type: protocol.TypeLogLevel, ID: id, LogLevel: &protocol.LogLevel{Level: baseLevel(w.cfg.BaseLevel)}})
	if err != nil {
		w.mu.Lock()
		w.raise.report = true // the next session sends it
		w.mu.Unlock()
	}
}

// levelReportAcked says whether id is the fall-back report the
// coordinator acknowledges.
func (w *Worker) levelReportAcked(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id == "" || id != w.raise.reportID {
		return false
	}
	w.raise.reportID = ""
	return true
}

// stopRaise ends a raised level as the worker stops: the level is the
// agent's own again (a worker built afresh reads it as its own), and the
// coordinator sends the raise again when the agent connects.
func (w *Worker) stopRaise() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.raise.timer != nil {
		w.raise.timer.Stop()
		w.raise.timer = nil
		w.cfg.LogLevel.Set(w.cfg.BaseLevel)
	}
}

// baseLevel is l as the protocol names it.
func baseLevel(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	}
	return "error"
}
