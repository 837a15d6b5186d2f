package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ferry-sync/ferry/coordinator/connlimit"
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// sendQueue is how many messages may wait for an agent's write loop; a
// sender waits for room. Small, because every idle agent carries it.
const sendQueue = 32

// upgrader keeps an idle agent small: a read buffer of its own of 256
// bytes (readBuffer) rather than the HTTP server's 4 KiB one it could take
// over, and a write buffer from the pool only while a message is written.
var upgrader = websocket.Upgrader{
	ReadBufferSize:  readBuffer,
	WriteBufferPool: &sync.Pool{},
	// Agents are not browsers: the credential, not the origin, decides.
	CheckOrigin: func(*http.Request) bool { return true },
	Error:       refuseUpgrade,
}

// refuseUpgrade answers an upgrade the upgrader refuses in the protocol's
// error shape. A request without the websocket upgrade is
// CodeNotUpgrade, so that an agent behind a proxy that removes it can say
// so (ferry-agent diagnose sends an upgrade it knows is refused, to see
// which).
func refuseUpgrade(w http.ResponseWriter, r *http.Request, status int, reason error) {
	code := protocol.CodeBadMessage
	if !websocket.IsWebSocketUpgrade(r) {
		code = protocol.CodeNotUpgrade
	}
	w.Header().Set("Sec-Websocket-Version", "13")
	writeErr(w, status, code, reason.Error())
}

// reasonHandshakeFailed is why an agent's connections went offline when
// the connection that replaced their live one failed before its welcome.
const reasonHandshakeFailed = "newer connection failed its handshake"

// Why a connection ended in its handshake, as its close frame says.
const (
	reasonHandshakeTimeout = "handshake timed out"
	reasonStoreUnavailable = "coordinator store unavailable"
)

// readBuffer is an agent connection's read buffer, in bytes. The
// websocket reads the agent's TCP connection a frame at a time (frames.go),
// so the buffer holds a frame's header and a short frame, a heartbeat's
// whole; a longer payload is read past it, into the message.
const readBuffer = 256

// agentConn is one agent's live control channel. run reads and handles
// on the connection's one long-lived goroutine; a writer (writeLoop) runs
// only while there is something to write or work to offer, one at a time,
// and is the only one to write once the agent is welcomed.
type agentConn struct {
	h  *Hub
	ws *websocket.Conn
	// upgrade orders the connections' upgrades: taken before the upgrade
	// is answered, so a connection dialled after another's dial returned
	// has a higher one, whichever reaches supersede first.
	upgrade     uint64
	agentID     string
	remote      string
	connectedAt time.Time

	mu       sync.Mutex
	bindings []binding // the connections the agent serves
	refused  []string  // hello bindings that are not this agent's
	features []string  // the optional messages the hello says the agent understands
	// raised and raisedUntil are the log level support raised the agent's
	// to, as stored when it connected: sent again if it has not ended.
	raised      string
	raisedUntil time.Time
	// ask is the update to send when the connection starts (nil for
	// none); updates the update messages sent, by id, and their versions.
	ask      *store.UpdateAsk
	updates  map[string]string
	rttMs    int64
	inHand   []protocol.Progress
	lastSeen time.Time
	offered  map[string]bool // "dataset/attempt" offered by the last pass; write loop only
	// wake kicks the write loop when the earliest closed window of the
	// agent's queued work opens; write loop only.
	wake    *time.Timer
	revoked []protocol.Revoked                   // revocations the write loop sends at its next kick
	pending map[string]chan protocol.Diagnostics // diagnose message id -> its waiting caller; nil until one waits
	// replaced are the connections served by a welcomed connection this
	// one replaced (guarded by the hub's mu): see supersede; replacedEpoch
	// is that connection's claim.
	replaced      []string
	replacedEpoch uint64
	// epoch is the connection's claim of its agent's channel
	// (channels.go), set before it is registered.
	epoch uint64
	// leased is whether the agent may hold a lease: it held one when it
	// connected (or the store could not say), it has tried a claim since,
	// or the last renewal found one. Only then does a heartbeat renew its
	// leases: a lease is only ever given to the agent through a claim of
	// this connection, and the reader alone (which handles the claims and
	// heartbeats one at a time, after the handshake) uses it.
	leased bool
	// min is the update of an agent below the minimum agent version
	// (minversion.go); nil, costing an idle agent one word, for the others.
	min *minimumState

	// writing is whether a writer has the websocket (the handshake has it
	// until run starts); stopped, that the connection has ended and no
	// writer starts again. Both guarded by mu; writers counts the writer
	// running, for run to wait for.
	writing, stopped bool
	writers          sync.WaitGroup

	send      chan *protocol.Message // pointers: an idle agent's empty queue is 32 words, not 32 messages
	kickc     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	reason    string
}

// logger is the connection's logger, made when a line is logged: an idle
// agent's connection keeps none (a handler's attributes are formatted
// when they are added, a few hundred bytes each connection).
func (c *agentConn) logger() *slog.Logger {
	return c.h.log.With("agent", c.agentID, "remote", c.remote)
}

// binding is a connection an agent serves and the types its source
// provides. An agent keeps its few in a slice: a map of one costs a few
// hundred bytes an idle agent.
type binding struct {
	conn  string
	types []dataset.DataType
}

// serveConnect takes a handshake slot (admission.go), authenticates an
// agent, upgrades to a websocket and runs the handshake, then hands the
// connection to a goroutine of the hub's and returns: the HTTP server's
// goroutine, with the request, the response and the server's buffers it
// holds, is not kept for the connection's life. The slot comes first, so
// that a dial refused as busy costs no store read (at a restart, the
// whole fleet's dials are refused a few times each); a credential is read
// in the slot, and a bad one refused there, never upgraded.
func (h *Hub) serveConnect(w http.ResponseWriter, r *http.Request) {
	done, ok := h.admit(w, r)
	if !ok {
		return
	}
	defer done()
	agent, ok := h.authenticate(w, r)
	if !ok {
		h.log.Info("agent connection refused", "remote", r.RemoteAddr)
		return
	}
	if !h.track() {
		writeErr(w, http.StatusServiceUnavailable, protocol.CodeInternal, "coordinator shutting down")
		return
	}
	c := h.accept(w, r, agent)
	if c == nil {
		h.connWG.Done()
		return
	}
	go func() {
		defer h.connWG.Done()
		c.run()
	}()
}

// accept upgrades, makes the connection the agent's newest (closing an
// older one at once), runs the handshake in the agent's turn, registers
// the connection and welcomes the agent; nil when the connection ended
// instead.
func (h *Hub) accept(w http.ResponseWriter, r *http.Request, agent store.Agent) *agentConn {
	upgrade := h.upgrades.Add(1)
	ws, err := upgrader.Upgrade(framedWriter{w}, r, nil)
	if err != nil {
		return nil // the upgrader has answered
	}
	// An authenticated control channel leaves the ordinary connections and
	// its address's count: one per agent, see supersede.
	connlimit.Promote(r.Context())
	ws.SetReadLimit(protocol.MaxMessageBytes)
	c := &agentConn{
		h: h, ws: ws, upgrade: upgrade, agentID: agent.ID, remote: r.RemoteAddr, connectedAt: h.now().UTC(), lastSeen: h.now().UTC(),
		send: make(chan *protocol.Message, sendQueue), kickc: make(chan struct{}, 1), done: make(chan struct{}),
		writing: true, // the handshake writes until run hands the websocket to the writers
	}
	// The handshake's store work stops at its deadline, or as soon as the
	// connection closes (superseded, the hub closing): a handshake whose
	// agent has gone writes nothing more.
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.HandshakeTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	h.supersede(c)
	defer h.takeTurn(agent.ID)()
	if !h.isNewest(c) {
		return nil // a newer connection closed this one while it waited
	}
	hello, welcome, err := c.handshake(ctx, agent)
	if err != nil {
		h.failed(ctx, c, "handshake refused", err)
		return nil
	}
	if !h.welcome(ctx, c, hello, welcome) {
		return nil
	}
	return c
}

// welcome claims and registers c, whose handshake went through, and
// welcomes its agent; false when c ended instead.
func (h *Hub) welcome(ctx context.Context, c *agentConn, hello *protocol.Hello, welcome protocol.Message) bool {
	// Claimed, then registered, before the welcome: once an agent is
	// welcomed, its connection is the live one and any older one, on any
	// replica, is closed.
	if err := h.claim(ctx, c); errors.Is(err, errSuperseded) {
		c.close(store.ReasonSuperseded)
		h.drop(c)
		return false
	} else if err != nil {
		// The agent retries; the abandon releases a claim made.
		h.failed(ctx, c, reasonStoreUnavailable, err)
		return false
	}
	// Counted before register: from then on a revocation may change them.
	bindings := len(c.bindings)
	online, ok := h.register(c)
	if !ok {
		// The hub is closing, or a newer connection came and closed this
		// one already (then this close changes nothing).
		c.close(store.ReasonShutdown)
		h.abandon(c, store.ReasonShutdown)
		return false
	}
	c.writeNow(welcome)
	// Recording the event puts the connections' presence webhooks in the
	// outbox, in the same store transaction.
	h.event(store.AgentEvent{AgentID: c.agentID, Type: store.EventConnected, RemoteAddress: c.remote,
		Detail: "version " + hello.AgentVersion, Connections: online})
	c.logger().Info("agent connected", "hostname", hello.Hostname, "os", hello.OS, "version", hello.AgentVersion, "bindings", bindings)
	return true
}

// failed ends c, whose handshake or claim failed with err, closing it
// for reason. A connection superseded meanwhile just goes: its agent is
// on a newer one, and one closed otherwise (the hub closing, a support
// disconnect) is not refused again. One past the handshake's deadline is
// told the coordinator is busy, so that its agent waits before it comes
// back.
func (h *Hub) failed(ctx context.Context, c *agentConn, reason string, err error) {
	var timeout interface{ Timeout() bool }
	switch {
	case !h.isNewest(c):
		c.logger().Info("agent connection superseded during its handshake")
		reason = store.ReasonSuperseded
	case errors.Is(ctx.Err(), context.Canceled):
		c.logger().Info("agent connection closed during its handshake", "err", err)
	case ctx.Err() != nil || errors.As(err, &timeout) && timeout.Timeout():
		c.logger().Warn("agent handshake timed out", "err", err)
		c.writeNow(errorReply("", protocol.CodeBusy, "the coordinator is busy: the handshake ran out of time; retry later"))
		reason = reasonHandshakeTimeout
	case reason == reasonStoreUnavailable:
		c.logger().Error("agent connection refused", "err", err)
	default:
		c.logger().Warn("agent handshake refused", "err", err)
	}
	c.close(reason)
	h.abandon(c, reasonHandshakeFailed)
}

// run is a welcomed connection's life: it sends what the connection
// starts with and reads (read, on one goroutine after another) while
// writers write, until either ends the connection (end).
func (c *agentConn) run() {
	c.mu.Lock()
	c.writing = false // from now on the writers write (writeLoop)
	c.mu.Unlock()
	c.begin()
	c.read(0)
}

// end ends the connection for reason, waits for its writer and takes the
// agent offline.
func (c *agentConn) end(reason string) {
	c.close(reason)
	c.stopWriters()
	h := c.h
	offline, live := h.unregister(c)
	// A newer claim, on another replica, has the agent: its end here is
	// no news.
	if live && !h.release(c.agentID, c.epoch) {
		offline = nil
	}
	h.seen(c.agentID)
	h.event(store.AgentEvent{AgentID: c.agentID, Type: store.EventDisconnected, Reason: c.reason, RemoteAddress: c.remote,
		Connections: offline})
	c.logger().Info("agent disconnected", "reason", c.reason)
}

// begin sends what a welcomed connection starts with: revocations of the
// hello's bindings that are not the agent's, its queued work, waiting
// support bundles, a raised log level, a needed update.
func (c *agentConn) begin() {
	for _, id := range c.refused {
		c.enqueue(protocol.Message{Type: protocol.TypeRevoked, ID: uuid.NewString(),
			Revoked: &protocol.Revoked{ConnectionID: id, Reason: "this connection is not linked to this agent"}})
	}
	c.refused = nil
	c.kick()
	if slices.Contains(c.features, protocol.FeatureSupportBundle) {
		c.sendWaitingBundles()
	}
	c.sendLogLevel(c.raised, c.raisedUntil)
	c.belowMinimumStarted()
	if c.ask != nil {
		c.sendUpdate(c.ask.Version, c.ask.Reason)
	}
}

// handshake reads the hello, checks the version and bindings, resumes
// leases and returns the welcome to send. The hello must come before
// ctx's deadline; once ctx ends (the deadline, or the connection closed),
// no further store step runs.
func (c *agentConn) handshake(ctx context.Context, agent store.Agent) (*protocol.Hello, protocol.Message, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(dl)
	}
	_, raw, err := c.ws.ReadMessage()
	if err != nil {
		return nil, protocol.Message{}, err
	}
	m, err := protocol.Decode(raw)
	if err == nil && m.Type != protocol.TypeHello {
		err = errors.New("the first message must be hello")
	}
	if err != nil {
		c.writeNow(errorReply(m.ID, protocol.CodeBadMessage, err.Error()))
		return nil, protocol.Message{}, err
	}
	if !slices.Contains(m.Hello.Versions, protocol.Version) {
		c.writeNow(errorReply(m.ID, protocol.CodeVersion, "this coordinator speaks protocol version 1"))
		// Its connections get the AgentOutdated error until it connects.
		c.h.event(store.AgentEvent{AgentID: c.agentID, Type: store.EventVersionRefused, RemoteAddress: c.remote,
			Detail: fmt.Sprintf("it speaks protocol versions %v, this coordinator %d", m.Hello.Versions[:min(len(m.Hello.Versions), 8)],
				protocol.Version)})
		return nil, protocol.Message{}, errors.New("no common protocol version")
	}
	if err := c.bind(ctx, m.Hello.Bindings); err != nil {
		return nil, protocol.Message{}, err
	}
	if err := c.updateAgent(ctx, agent, m.Hello); err != nil {
		return nil, protocol.Message{}, err
	}
	c.features = canonicalFeatures(m.Hello.Features)
	if c.h.BelowMinimum(m.Hello.AgentVersion) {
		c.min = &minimumState{version: m.Hello.AgentVersion}
	}
	c.raised, c.raisedUntil = agent.LogLevel, agent.LogLevelUntil
	c.ask = rules.UpdateOnConnect(agent, m.Hello.AgentVersion)
	resumed, err := c.resume(ctx, m.Hello.Leases)
	if err != nil {
		return nil, protocol.Message{}, err
	}
	return m.Hello, protocol.Message{Type: protocol.TypeWelcome, ID: uuid.NewString(), ReplyTo: m.ID, Welcome: &protocol.Welcome{
		Version: protocol.Version, AgentID: c.agentID, ServerTime: c.h.now().UTC(), Resumed: resumed,
		HeartbeatMillis: c.h.cfg.HeartbeatInterval.Milliseconds(), LeaseMillis: c.h.cfg.LeaseTTL.Milliseconds(),
		Features: takenFeatures(c.features),
	}}, nil
}

// takenFeatures are the features of a hello a welcome lists back: those
// the agent may use with this coordinator.
func takenFeatures(fs []string) []string {
	if slices.Contains(fs, protocol.FeatureLastPage) {
		return []string{protocol.FeatureLastPage}
	}
	return nil
}

// bind keeps the hello's bindings that are this agent's Linked connections.
func (c *agentConn) bind(ctx context.Context, bs []protocol.Binding) error {
	conns, err := c.h.st.AgentConnections(ctx, c.agentID)
	if err != nil {
		return err
	}
	c.bindings = nil
	for _, b := range bs {
		owned := slices.ContainsFunc(conns, func(cn store.Connection) bool {
			return cn.ID == b.ConnectionID && cn.Status == store.Linked
		})
		if !owned {
			c.logger().Warn("hello names a connection not linked to this agent", "connection", b.ConnectionID)
			c.refused = append(c.refused, b.ConnectionID)
			continue
		}
		c.bindings = slices.DeleteFunc(c.bindings, func(x binding) bool { return x.conn == b.ConnectionID })
		c.bindings = append(c.bindings, binding{conn: b.ConnectionID, types: canonicalTypes(b.DataTypes)})
	}
	return nil
}

// canonicalTypes are a hello's data types as dataset.DataTypes' own
// strings where they are among them: the connection keeps them for its
// life, and the decoded copies, one allocation each, are garbage.
func canonicalTypes(ts []dataset.DataType) []dataset.DataType {
	out := make([]dataset.DataType, len(ts))
	for i, t := range ts {
		out[i] = t
		if j := slices.Index(dataset.DataTypes, t); j >= 0 {
			out[i] = dataset.DataTypes[j]
		}
	}
	return out
}

// knownFeatures are the optional messages this coordinator sends to an
// agent whose hello lists them, and the requests it takes from one
// (FeatureLastPage).
var knownFeatures = []string{protocol.FeatureSupportBundle, protocol.FeatureLogLevel, protocol.FeatureUpdate, protocol.FeatureLastPage}

// canonicalFeatures are a hello's features as the protocol's own strings,
// as canonicalTypes; an unknown feature is kept as it came.
func canonicalFeatures(fs []string) []string {
	if len(fs) == 0 {
		return nil
	}
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f
		if j := slices.Index(knownFeatures, f); j >= 0 {
			out[i] = knownFeatures[j]
		}
	}
	return out
}

// updateAgent stores what the hello says of the agent and when it was
// seen; a new version is an event. A store failure is logged and the
// handshake goes on; an error is returned when ctx has ended, and the
// handshake stops.
func (c *agentConn) updateAgent(ctx context.Context, agent store.Agent, hello *protocol.Hello) error {
	_, err := c.h.st.UpdateAgent(ctx, c.agentID, func(a *store.Agent) error {
		a.Hostname, a.OS, a.Version, a.LastSeen = hello.Hostname, hello.OS, hello.AgentVersion, c.connectedAt
		a.Features = hello.Features
		return nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		c.logger().Error("update agent", "err", err)
	}
	if agent.Version != "" && agent.Version != hello.AgentVersion {
		c.h.event(store.AgentEvent{AgentID: c.agentID, Type: store.EventVersionChanged, RemoteAddress: c.remote,
			Detail: agent.Version + " -> " + hello.AgentVersion})
	}
	return nil
}

// resume renews the agent's leases and returns those of the hello that
// still hold. A store failure is logged and none are resumed; an error is
// returned when ctx has ended, and the handshake stops.
func (c *agentConn) resume(ctx context.Context, leases []protocol.Lease) ([]protocol.Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	held, err := c.h.st.RenewLeases(ctx, c.agentID, c.h.now().Add(c.h.cfg.LeaseTTL))
	c.leased = err != nil || len(held) > 0
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		c.logger().Error("renew leases on connect", "err", err)
		return nil, nil
	}
	var out []protocol.Lease
	for _, l := range leases {
		if slices.ContainsFunc(held, func(d store.Dataset) bool { return d.ID == l.DatasetID && d.LeaseID == l.LeaseID }) {
			out = append(out, l)
		}
	}
	// A lease the agent holds and does not name, it lost (a restarted
	// process): its heartbeats would renew it for ever. It ends now, and
	// the dataset is queued again.
	revoked := 0
	for _, d := range held {
		if ctx.Err() != nil {
			break
		}
		if !slices.ContainsFunc(leases, func(l protocol.Lease) bool { return l.DatasetID == d.ID && l.LeaseID == d.LeaseID }) {
			if err := c.h.st.RevokeLease(ctx, c.agentID, d.CompanyID, d.ID); err != nil {
				c.logger().Error("revoke a lease the agent lost", "dataset", d.ID, "err", err)
				continue
			}
			revoked++
		}
	}
	if revoked > 0 {
		c.h.ExpireLeases(ctx)
	}
	return out, ctx.Err()
}

// bound returns the ids of the connections the agent serves.
func (c *agentConn) bound() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.bindings))
	for _, b := range c.bindings {
		ids = append(ids, b.conn)
	}
	return ids
}

// kick asks a writer to offer queued work again.
func (c *agentConn) kick() {
	select {
	case c.kickc <- struct{}{}:
	default:
	}
	c.startWriter()
}

// revoke ends the binding now and has the write loop tell the agent,
// before its next offers. It does not wait for the agent: the hub's change
// loop calls it.
func (c *agentConn) revoke(connectionID, reason string) {
	c.mu.Lock()
	c.bindings = slices.DeleteFunc(c.bindings, func(b binding) bool { return b.conn == connectionID })
	c.revoked = append(c.revoked, protocol.Revoked{ConnectionID: connectionID, Reason: reason})
	c.mu.Unlock()
	c.h.forget(connectionID, c)
	c.kick()
}

// enqueue hands a message to the writers, waiting for room. An agent that
// stops reading stalls the writer, whose write deadline then closes the
// connection and ends the wait: backpressure, not unbounded memory. (A
// full queue has a writer: whoever queued its messages started one.)
func (c *agentConn) enqueue(m protocol.Message) {
	select {
	case c.send <- &m:
	case <-c.done:
		return
	}
	c.startWriter()
}

// writeNow writes during the handshake, before the write loop runs.
func (c *agentConn) writeNow(m protocol.Message) {
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = c.ws.WriteJSON(m)
}

func (c *agentConn) close(reason string) {
	c.closeOnce.Do(func() {
		c.reason = reason
		close(c.done)
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, reason)
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		_ = c.ws.Close()
	})
}

func errorReply(replyTo string, code protocol.Code, msg string) protocol.Message {
	if replyTo == "" {
		replyTo = "-"
	}
	return protocol.Message{Type: protocol.TypeError, ID: uuid.NewString(), ReplyTo: replyTo,
		Error: &protocol.Error{Code: code, Message: msg}}
}
