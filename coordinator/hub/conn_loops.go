package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// maxBadMessages is how many refused messages end a connection.
const maxBadMessages = 20

// read reads the connection's next message and handles it, then hands
// the connection to a new goroutine, which reads the one after, and ends;
// when the connection ends, the one reading ends it (end). So one
// goroutine at a time reads, the messages are handled in the order the
// agent sent them, and an idle agent's reader is never one that handled
// something: a goroutine's stack grows for its deepest call (a store
// transaction) and the GC gives back at most half of it at a time, and
// only while three quarters are unused, so a reader that lived through
// its handling would keep what the deepest grew (8 KiB or more) for as
// long as the agent stays connected. So would one started during the
// reconnect burst, when the runtime starts goroutines with the stack the
// busy ones used on average (GODEBUG adaptivestackstart): its
// replacement starts with what the idle ones use.
func (c *agentConn) read(bad int) {
	_ = c.ws.SetReadDeadline(time.Now().Add(3 * c.h.cfg.HeartbeatInterval))
	if f, ok := c.ws.NetConn().(*frameConn); ok {
		f.wait() // the idle reader's stack: see frames.go
	}
	kind, r, err := c.ws.NextReader()
	buf := messages.Get().(*bytes.Buffer)
	if err == nil {
		buf.Reset()
		_, err = buf.ReadFrom(r)
	}
	if err != nil {
		messages.Put(buf)
		c.end(readEndReason(err, c.done))
		return
	}
	c.mu.Lock()
	c.lastSeen = c.h.now().UTC()
	c.mu.Unlock()
	ok := c.take(kind, buf.Bytes())
	if buf.Cap() <= maxPooledMessage {
		messages.Put(buf)
	}
	if !ok {
		if bad++; bad >= maxBadMessages {
			c.end("too many bad messages")
			return
		}
	}
	// This goroutine holds its count until the next one has its own.
	c.h.connWG.Add(1)
	go func() {
		defer c.h.connWG.Done()
		c.read(bad)
	}()
}

// messages are the buffers the readers read a message into: a message is
// decoded (copied out) before its buffer is put back, so a heartbeat
// allocates no buffer of its own. One grown past maxPooledMessage (an
// agent's rare long message) is left to the GC.
var messages = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledMessage = 16 << 10

// take decodes and handles one message read; false when it is refused
// (a bad message, answered with an error).
func (c *agentConn) take(kind int, raw []byte) bool {
	m, err := protocol.Decode(raw)
	if err == nil && kind != websocket.TextMessage {
		err = errors.New("binary messages are not part of the protocol")
	}
	if err != nil {
		c.logger().Warn("refused agent message", "err", err)
		c.enqueue(errorReply(m.ID, protocol.CodeBadMessage, err.Error()))
		return false
	}
	c.handle(m)
	return true
}

func readEndReason(err error, done chan struct{}) string {
	select {
	case <-done:
		return ""
	default:
	}
	var ce *websocket.CloseError
	var ne interface{ Timeout() bool }
	switch {
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		// gorilla's name for a TCP close without a close frame: a killed
		// process, a dropped connection.
		return store.ReasonConnectionLost
	case errors.As(err, &ce):
		return store.ReasonClosedByAgent
	case errors.As(err, &ne) && ne.Timeout():
		return store.ReasonHeartbeatTimeout
	case errors.Is(err, websocket.ErrReadLimit):
		return "message over the size limit"
	}
	return store.ReasonConnectionLost
}

// handle answers one message; store work runs on the goroutine that read
// it, before the next is read (read), so an agent's messages are handled
// in the order it sent them.
func (c *agentConn) handle(m protocol.Message) {
	switch m.Type {
	case protocol.TypeClaim:
		ctx, cancel := c.storeContext()
		defer cancel()
		c.handleClaim(ctx, m)
	case protocol.TypeReport:
		ctx, cancel := c.storeContext()
		defer cancel()
		c.handleReport(ctx, m)
	case protocol.TypeHeartbeat:
		c.handleHeartbeat(m)
	case protocol.TypeDiagnostics:
		c.onDiagnostics(m)
	case protocol.TypeLogLevel:
		c.onLogLevel(m)
	case protocol.TypeUpdateStatus:
		c.onUpdateStatus(m)
	case protocol.TypeAck, protocol.TypeError:
		// The agent acknowledges offers and revocations (nothing waits)
		// and answers updates: the minimum version's and the rollouts'.
		c.minimumAnswered(m)
		c.onAnswer(m)
	default:
		c.enqueue(errorReply(m.ID, protocol.CodeBadMessage, "an agent may not send "+string(m.Type)))
	}
}

func (c *agentConn) handleClaim(ctx context.Context, m protocol.Message) {
	if c.refuseBelowMinimum(m) {
		return
	}
	// A claim that fails may still have committed (a deadline): the
	// heartbeats renew until a renewal finds no lease.
	c.leased = true
	d, err := c.h.st.Claim(ctx, store.ClaimRequest{
		DatasetID: m.Claim.DatasetID, AgentID: c.agentID, LeaseID: uuid.NewString(),
		Now: c.h.now().UTC(), TTL: c.h.cfg.LeaseTTL,
	})
	if err != nil {
		c.refuse(m, err)
		return
	}
	c.logger().Info("dataset claimed", "dataset", d.ID, "company", d.CompanyID, "dataType", d.DataType, "attempt", d.Attempt)
	c.reply(protocol.Message{Type: protocol.TypeClaimed, ID: uuid.NewString(), ReplyTo: m.ID,
		Claimed: &protocol.Claimed{Offer: offerOf(d), LeaseID: d.LeaseID}})
}

func (c *agentConn) handleReport(ctx context.Context, m protocol.Message) {
	r := m.Report
	// The lease makes this the agent's transition: the store refuses what
	// the table does not let an agent do.
	d, err := c.h.st.Report(ctx, store.Report{
		CompanyID: r.CompanyID, DatasetID: r.DatasetID, LeaseID: r.LeaseID, Actor: c.agentID,
		To: r.To, Message: r.Message, Progress: r.Progress, Now: c.h.now().UTC(), Warnings: storeWarnings(r.Warnings),
		ErrorCode: r.ErrorCode,
	})
	if err != nil {
		c.refuse(m, err)
		return
	}
	c.reply(protocol.Message{Type: protocol.TypeAck, ID: uuid.NewString(), ReplyTo: m.ID})
	if d.Status.Terminal() {
		c.h.ended(d)
		c.logger().Info("dataset ended by agent", "dataset", d.ID, "status", d.Status, "message", d.ErrorMessage)
		c.kick()
	}
}

// storeWarnings are a report's warnings as the store keeps them (Decode
// has checked their bounds).
func storeWarnings(ws []protocol.Warning) []store.Warning {
	if len(ws) == 0 {
		return nil
	}
	out := make([]store.Warning, len(ws))
	for i, w := range ws {
		out[i] = store.Warning{RuleID: w.RuleID, Message: w.Message}
	}
	return out
}

// storeContext is the context of a message's store work: 30 s, and no
// longer than the hub.
func (c *agentConn) storeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.h.ctx, 30*time.Second)
}

// handleHeartbeat renews the agent's leases, if it may hold any (leased):
// most agents are idle, and their heartbeats cost no store read, nor a
// context and its timer.
func (c *agentConn) handleHeartbeat(m protocol.Message) {
	if c.leased {
		ctx, cancel := c.storeContext()
		held, err := c.h.st.RenewLeases(ctx, c.agentID, c.h.now().Add(c.h.cfg.LeaseTTL))
		cancel()
		if err != nil {
			c.logger().Error("renew leases", "err", err)
		} else {
			c.leased = len(held) > 0
		}
	}
	c.mu.Lock()
	c.rttMs, c.inHand = m.Heartbeat.RTTMillis, m.Heartbeat.InHand
	c.mu.Unlock()
	c.retryMinimumUpdate(len(m.Heartbeat.InHand))
	c.reply(protocol.Message{Type: protocol.TypeAck, ID: uuid.NewString(), ReplyTo: m.ID})
}

// reply answers the message the reader handles. When no writer runs, the
// reader writes it itself, then whatever else is queued or kicked
// (writeLoop), rather than starting a writer for it: the reader hands the
// reading on and ends once the message is handled (read), so the stack
// the writing grows ends with it, and a heartbeat costs one new goroutine
// (the next reader) rather than two.
func (c *agentConn) reply(m protocol.Message) {
	if !c.takeWriting() {
		c.enqueue(m)
		return
	}
	if !c.write(&m) {
		c.writers.Done()
		return
	}
	c.writeLoop()
}

// refuse answers a message with the protocol code of a store error.
func (c *agentConn) refuse(m protocol.Message, err error) {
	_, code, msg := storeErr(err)
	if code == protocol.CodeInternal {
		c.logger().Error("agent message failed", "type", m.Type, "err", err)
	} else {
		c.logger().Info("agent message refused", "type", m.Type, "code", code)
	}
	c.enqueue(errorReply(m.ID, code, msg))
}

// writeLoop is the connection's writer: one runs at a time (startWriter),
// and only while there is something to do, so that an idle agent costs the
// one goroutine that reads. It writes what is queued and, when kicked (on
// connect, when work is queued, when the agent ends a dataset, when a
// binding is revoked, when a held window opens), sends the revocations and
// offers the agent's queued datasets itself; it ends when both the queue
// and the kick are empty.
func (c *agentConn) writeLoop() {
	defer c.writers.Done()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.send:
			if !c.write(m) {
				return
			}
		case <-c.kickc:
			if !c.sendRevoked() || !c.offerQueued() {
				return
			}
		default:
			if c.rest() {
				return
			}
		}
	}
}

// takeWriting makes the caller the connection's writer unless one runs,
// the handshake still writes or the connection has ended: true when it
// is, and then it must end with c.writers.Done.
func (c *agentConn) takeWriting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	take := !c.writing && !c.stopped
	if take {
		c.writing = true
		c.writers.Add(1)
	}
	return take
}

// startWriter starts a writer unless one runs, the handshake still writes
// or the connection has ended.
func (c *agentConn) startWriter() {
	if c.takeWriting() {
		go c.writeLoop()
	}
}

// rest ends the writer's turn if nothing waits, and reports whether it
// did: what is queued or kicked after it sees nothing starts a writer
// again, as writing is false by then.
func (c *agentConn) rest() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.send) > 0 || len(c.kickc) > 0 {
		return false
	}
	c.writing = false
	return true
}

// stopWriters keeps writers from starting again once the connection has
// ended, waits for the one running, and stops the held windows' timer.
func (c *agentConn) stopWriters() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.writers.Wait()
	c.armWake(time.Time{})
}

// write writes one message; false when the connection is gone. An ack
// (every heartbeat's answer) is written without reflection.
func (c *agentConn) write(m *protocol.Message) bool {
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	var err error
	buf := messages.Get().(*bytes.Buffer)
	if ack, ok := protocol.AppendAck(buf.AvailableBuffer(), *m); ok {
		err = c.ws.WriteMessage(websocket.TextMessage, ack)
	} else {
		err = c.ws.WriteJSON(*m)
	}
	messages.Put(buf)
	if err != nil {
		// The agent's end is gone (or stopped reading for the write
		// deadline); the read loop may not have seen it yet.
		c.close(store.ReasonConnectionLost)
		return false
	}
	return true
}

// sendRevoked tells the agent of the bindings revoked since the last kick;
// false when the connection is gone.
func (c *agentConn) sendRevoked() bool {
	c.mu.Lock()
	revoked := c.revoked
	c.revoked = nil
	c.mu.Unlock()
	for _, r := range revoked {
		if !c.write(&protocol.Message{Type: protocol.TypeRevoked, ID: uuid.NewString(), Revoked: &r}) {
			return false
		}
	}
	return true
}

// offerQueued offers the queued datasets of the agent's connections, from
// the write loop; false when the connection is gone. A type the agent's
// source cannot provide ends NotSupported at once. The work of a
// connection that is paused or outside its sync window is not offered;
// the loop is kicked again when the earliest such window opens (a resume
// or a changed window comes through the feed). An agent below the minimum
// version is offered nothing.
func (c *agentConn) offerQueued() bool {
	if c.min != nil {
		return true // nothing is offered below the minimum version
	}
	c.mu.Lock()
	bindings := slices.Clone(c.bindings)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.h.ctx, 30*time.Second)
	defer cancel()
	// Dispatch latency counts each dataset's first offer (per attempt) on
	// this connection; the offers of later passes are repeats.
	offered := make(map[string]bool, len(c.offered))
	defer func() {
		if len(offered) == 0 {
			offered = nil // an idle agent keeps no map
		}
		c.offered = offered
	}()
	var wake time.Time
	defer func() { c.armWake(wake) }()
	var unsupported []store.Report
	defer func() { c.notSupported(ctx, unsupported) }()
	for _, b := range bindings {
		connID, types := b.conn, b.types
		queued, gate, err := c.h.st.QueuedDatasets(ctx, connID)
		if err != nil {
			c.logger().Error("list queued datasets", "connection", connID, "err", err)
			continue
		}
		if gate == nil {
			continue // nothing queued, or the connection is gone
		}
		if hold := rules.HoldAt(*gate, c.h.now()); hold.Held() {
			wake = earliest(wake, hold.Opens)
			continue
		}
		for _, d := range queued {
			if !slices.Contains(types, d.DataType) {
				unsupported = append(unsupported, store.Report{
					CompanyID: d.CompanyID, DatasetID: d.ID, Actor: store.ActorCoordinator, To: dataset.NotSupported,
					Message: "the agent's source does not provide " + string(d.DataType), Now: c.h.now().UTC(),
				})
				continue
			}
			k := fmt.Sprintf("%s/%d", d.ID, d.Attempt)
			if offered[k] = true; !c.offered[k] {
				c.h.cfg.Metrics.Dispatched(c.h.now().Sub(queuedSince(d)))
			}
			if !c.write(&protocol.Message{Type: protocol.TypeOffer, ID: uuid.NewString(), Offer: ptr(offerOf(d))}) {
				return false
			}
		}
	}
	return true
}

// notSupported applies an offer pass's NotSupported marks, in one store
// transaction for each store.MaxReports of them: a pass at connect marks
// every type of a connection's first link the source lacks, and thousands
// of agents connect at once.
func (c *agentConn) notSupported(ctx context.Context, marks []store.Report) {
	for batch := range slices.Chunk(marks, store.MaxReports) {
		ended, err := c.h.st.ReportAll(ctx, batch)
		if err != nil {
			c.logger().Error("mark datasets not supported", "datasets", len(batch), "err", err)
		}
		for _, d := range ended {
			c.h.ended(d)
		}
	}
}

func offerOf(d store.Dataset) protocol.Offer {
	return protocol.Offer{DatasetID: d.ID, CompanyID: d.CompanyID, ConnectionID: d.ConnectionID, DataType: d.DataType, Attempt: d.Attempt}
}

func ptr[T any](v T) *T { return &v }
