package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/agent/upload"
	"github.com/ferry-sync/ferry/shared/lograte"
	"github.com/ferry-sync/ferry/shared/protocol"
	"github.com/ferry-sync/ferry/shared/tick"
)

// session is one live websocket to the coordinator.
type session struct {
	ws        *websocket.Conn
	writeMu   sync.Mutex
	heartbeat time.Duration
	// lastPage: the welcome took FeatureLastPage, so an upload's last
	// page may carry the commit, and its first page its Mapping.
	lastPage bool
	claims   map[string]protocol.Offer // claim message id -> the offer claimed
	beats    map[string]time.Time
	mu       sync.Mutex
}

func (s *session) write(m protocol.Message) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_ = s.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return s.ws.WriteJSON(m)
}

func connectURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	case "http":
		u.Scheme = "ws"
	default:
		return "", fmt.Errorf("coordinator URL %q must be http or https", base)
	}
	u.Path = strings.TrimRight(u.Path, "/") + protocol.ConnectPath
	return u.String(), nil
}

// runSession dials, shakes hands and serves one connection until it ends;
// welcomed is whether the coordinator welcomed it.
func (w *Worker) runSession(ctx, jobCtx context.Context) (welcomed bool, err error) {
	target, err := connectURL(w.cfg.Coordinator)
	if err != nil {
		return false, err
	}
	hdr := http.Header{"Authorization": {"Bearer " + w.cfg.Credential}}
	ws, resp, err := w.dialer().DialContext(ctx, target, hdr)
	if resp != nil && resp.StatusCode == http.StatusUnauthorized {
		w.setStatus(func(s *Status) { s.LastError = ErrUnauthorized.Error() })
		w.log.Error("credential refused by the coordinator", "hint", "run ferry-agent link again")
		return false, ErrUnauthorized
	}
	if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
		after, _ := upload.RetryAfter(resp.Header.Get("Retry-After"), time.Now())
		err = &BusyError{After: after}
	}
	if resp != nil && resp.StatusCode == http.StatusBadRequest {
		var perr protocol.Error
		if json.NewDecoder(resp.Body).Decode(&perr) == nil && perr.Code == protocol.CodeNotUpgrade {
			err = ErrUpgradeRemoved
		}
	}
	if err != nil {
		w.setStatus(func(s *Status) { s.LastError = err.Error() })
		return false, fmt.Errorf("connect: %w", err)
	}
	defer ws.Close()
	ws.SetReadLimit(protocol.MaxMessageBytes)
	s := &session{ws: ws, claims: map[string]protocol.Offer{}, beats: map[string]time.Time{}}
	welcome, err := w.handshake(s)
	if err != nil {
		return false, err
	}
	s.lastPage = slices.Contains(welcome.Features, protocol.FeatureLastPage)
	s.heartbeat = time.Duration(welcome.HeartbeatMillis) * time.Millisecond
	if s.heartbeat <= 0 {
		s.heartbeat = 15 * time.Second
	}
	w.attach(s, welcome)
	defer w.detach(s)
	w.reportLevel(s)
	w.log.Info("connected to the coordinator", "agent", welcome.AgentID, "resumed", len(welcome.Resumed))

	// The heartbeat loop and the closer end with the session: cancel, then
	// wait, in that order.
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.runHeartbeatLoop(sctx, s) }()
	go func() {
		defer wg.Done()
		<-sctx.Done()
		if ctx.Err() != nil {
			// The agent is stopping: say so, so the coordinator records
			// "closed by agent" rather than a lost connection.
			msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "agent stopping")
			_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		}
		ws.Close()
	}()
	err = w.readLoop(jobCtx, s)
	cancel()
	wg.Wait()
	return true, err
}

func (w *Worker) handshake(s *session) (*protocol.Welcome, error) {
	hello := protocol.Hello{
		Versions: offeredVersions(), AgentVersion: w.cfg.Version, Hostname: Hostname(), OS: OSName(),
		Capacity: w.cfg.Concurrency, Leases: w.leases(), Features: w.features(),
	}
	for _, b := range w.bindings() {
		hello.Bindings = append(hello.Bindings, protocol.Binding{ConnectionID: b.ConnectionID, DataTypes: b.Source.DataTypes()})
	}
	if err := s.write(protocol.Message{Type: protocol.TypeHello, ID: uuid.NewString(), Hello: &hello}); err != nil {
		return nil, err
	}
	_ = s.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, raw, err := s.ws.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	m, err := protocol.Decode(raw)
	if err != nil {
		return nil, err
	}
	if m.Type == protocol.TypeError && m.Error.Code == protocol.CodeBusy {
		return nil, &BusyError{}
	}
	if m.Type == protocol.TypeError {
		return nil, fmt.Errorf("coordinator refused the handshake: %w", m.Error)
	}
	if m.Type != protocol.TypeWelcome {
		return nil, fmt.Errorf("handshake: got %s, want welcome", m.Type)
	}
	return m.Welcome, nil
}

// readLoop handles the coordinator's messages until the connection ends.
func (w *Worker) readLoop(jobCtx context.Context, s *session) error {
	for {
		_ = s.ws.SetReadDeadline(time.Now().Add(3 * s.heartbeat))
		_, raw, err := s.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return fmt.Errorf("closed by the coordinator: %s", ce.Text)
			}
			return err
		}
		m, err := protocol.Decode(raw)
		if err != nil {
			w.ignored.log(w.log, "refused coordinator messages", "err", err)
			continue
		}
		w.dispatch(jobCtx, s, m)
	}
}

func (w *Worker) dispatch(jobCtx context.Context, s *session, m protocol.Message) {
	w.log.Debug("message from the coordinator", "type", m.Type, "id", m.ID, "replyTo", m.ReplyTo)
	switch m.Type {
	case protocol.TypeOffer:
		w.onOffer(s, *m.Offer)
	case protocol.TypeClaimed:
		w.onClaimed(jobCtx, s, m)
	case protocol.TypeAck:
		if sent, ok := s.beat(m.ReplyTo); ok {
			w.setStatus(func(st *Status) { st.RTTMillis = time.Since(sent).Milliseconds() })
			return
		}
		if !w.outbox.resolve(m.ReplyTo, nil) && !w.levelReportAcked(m.ReplyTo) && !w.updateAcked(m.ReplyTo) {
			w.ignoreUnasked(m)
		}
	case protocol.TypeError:
		if o, ok := s.forget(m.ReplyTo); ok {
			w.log.Info("claim refused", "dataset", o.DatasetID, "code", m.Error.Code)
			w.claimNext(s)
			return
		}
		if !w.outbox.resolve(m.ReplyTo, m.Error) && !w.updateAcked(m.ReplyTo) {
			w.ignoreUnasked(m)
		}
	case protocol.TypeRevoked:
		w.revoke(m.Revoked.ConnectionID, m.Revoked.Reason)
	case protocol.TypeDiagnose:
		w.onDiagnose(jobCtx, s, m.ID)
	case protocol.TypeSupportBundle:
		w.onSupportBundle(jobCtx, m)
	case protocol.TypeLogLevel:
		w.onLogLevel(s, m)
	case protocol.TypeUpdate:
		w.onUpdate(jobCtx, s, m)
	default:
		w.ignoreUnasked(m)
	}
}

// onClaimed takes the dataset a claim of this session was granted. A
// claimed that answers no claim of ours, or names another dataset or
// connection than the one claimed, starts nothing: the agent runs only
// what it asked for.
func (w *Worker) onClaimed(ctx context.Context, s *session, m protocol.Message) {
	b, bound := w.binding(m.Claimed.ConnectionID)
	// The claim is forgotten and its job added under one hold of w.mu, so
	// claimNext, which counts both, never sees the slot free in between
	// and claims one dataset too many (whose claimed this agent would then
	// have to ignore, leaving it Fetching until its lease expired).
	w.mu.Lock()
	o, asked := s.forget(m.ReplyTo)
	if asked && o.DatasetID == m.Claimed.DatasetID && o.ConnectionID == m.Claimed.ConnectionID {
		w.startJob(ctx, s, *m.Claimed, b, bound)
		return
	}
	w.mu.Unlock()
	w.ignoreUnasked(m)
	if asked {
		w.claimNext(s) // that claim's slot is free again
	}
}

// ignoreUnasked notes a reply the agent did not ask for, at most once a
// minute in the log.
func (w *Worker) ignoreUnasked(m protocol.Message) {
	w.ignored.log(w.log, "ignored coordinator messages the agent did not ask for", "type", m.Type, "replyTo", m.ReplyTo)
}

// rareLog logs each message (a constant) at most once per minute and
// counts what it left out, so a coordinator cannot flood the agent's log.
type rareLog struct{ lograte.Limiter }

func (r *rareLog) log(l *slog.Logger, msg string, args ...any) {
	if calls, ok := r.Allow(msg); ok {
		l.Warn(msg, append(args, "sinceLastLogged", calls-1)...)
	}
}

func (s *session) forget(claimID string) (protocol.Offer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.claims[claimID]
	delete(s.claims, claimID)
	return o, ok
}

func (s *session) beat(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.beats[id]
	delete(s.beats, id)
	return t, ok
}

// runHeartbeatLoop sends heartbeats, which renew the agent's leases.
// It ends with ctx, or at the first heartbeat it cannot write.
func (w *Worker) runHeartbeatLoop(ctx context.Context, s *session) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	tick.Every(ctx, s.heartbeat, func(context.Context) {
		id := uuid.NewString()
		now := time.Now()
		s.mu.Lock()
		s.beats[id] = now
		s.mu.Unlock()
		st := w.Status()
		hb := &protocol.Heartbeat{SentAt: now.UTC(), RTTMillis: st.RTTMillis, InHand: w.inHand()}
		if err := s.write(protocol.Message{Type: protocol.TypeHeartbeat, ID: id, Heartbeat: hb}); err != nil {
			stop()
			return
		}
		w.writeStatus()
	})
}
