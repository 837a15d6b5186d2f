package hub

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// Support bundles. Support may ask on any replica: the request is stored
// (store.BundleStore) and the change feed carries it to every replica;
// the one holding the agent's channel sends the agent supportBundle. The
// agent collects its archive and uploads it (PUT protocol.BundlePath) to
// whichever replica its HTTP client reaches. A request whose change
// reached no replica holding the channel (the agent was reconnecting, or
// a notification was lost) is sent when the agent next connects, for
// bundleWait after it was made.

// bundleWait is how long after it was made a bundle that has not arrived
// is still asked of an agent that connects.
const bundleWait = 10 * time.Minute

// RequestBundle asks an online agent for a support bundle and returns the
// bundle, waiting for its archive. store.ErrNotFound when the agent is
// missing, ErrOffline when no replica holds its channel, ErrUnsupported
// when its version does not know support bundles.
func (h *Hub) RequestBundle(ctx context.Context, agentID string) (store.SupportBundle, error) {
	a, err := h.st.Agent(ctx, agentID)
	if err != nil {
		return store.SupportBundle{}, err
	}
	if !h.isOnline(ctx, agentID) {
		return store.SupportBundle{}, ErrOffline
	}
	if !slices.Contains(a.Features, protocol.FeatureSupportBundle) {
		return store.SupportBundle{}, ErrUnsupported
	}
	b := store.SupportBundle{ID: uuid.NewString(), AgentID: agentID, Requested: h.now().UTC()}
	if err := h.st.RequestBundle(ctx, b); err != nil {
		return store.SupportBundle{}, err
	}
	h.log.Info("support bundle requested", "agent", agentID, "bundle", b.ID)
	return b, nil
}

// isOnline says whether this replica, or another, holds the agent's
// channel.
func (h *Hub) isOnline(ctx context.Context, agentID string) bool {
	c := h.local(agentID)
	if c != nil {
		return true
	}
	ch, err := h.st.Channel(ctx, agentID)
	return err == nil && ch.Replica != ""
}

// sendBundle asks the agent for the bundle the change requested, when its
// channel is here.
func (h *Hub) sendBundle(b store.BundleChange) {
	c := h.local(b.AgentID)
	if c != nil {
		c.askBundle(b.ID)
	}
}

func (c *agentConn) askBundle(id string) {
	c.enqueue(protocol.Message{Type: protocol.TypeSupportBundle, ID: uuid.NewString(),
		SupportBundle: &protocol.SupportBundle{BundleID: id}})
}

// sendWaitingBundles asks a newly connected agent for the bundles
// requested of it in the last bundleWait that have not arrived.
func (c *agentConn) sendWaitingBundles() {
	ctx, cancel := context.WithTimeout(c.h.ctx, 10*time.Second)
	defer cancel()
	bs, err := c.h.st.Bundles(ctx, c.agentID)
	if err != nil {
		c.logger().Warn("read the agent's support bundles", "err", err)
		return
	}
	since := c.h.now().Add(-bundleWait)
	for _, b := range bs {
		if b.Uploaded.IsZero() && b.Requested.After(since) {
			c.askBundle(b.ID)
		}
	}
}

// serveBundle stores an agent's support bundle. The credential, the
// declared length and the agent's upload slot are checked before a byte
// of the body is read.
func (h *Hub) serveBundle(w http.ResponseWriter, r *http.Request) {
	agent, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	switch {
	case r.ContentLength < 0:
		refuseUnread(w, r, http.StatusLengthRequired, protocol.CodeBadMessage, "a support bundle needs its Content-Length")
		return
	case r.ContentLength > protocol.MaxBundleBytes:
		refuseUnread(w, r, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge,
			"a support bundle is at most "+strconv.Itoa(protocol.MaxBundleBytes)+" bytes")
		return
	}
	r, end, ok := h.startUpload(w, r, agent.ID)
	if !ok {
		return
	}
	defer end()
	id := r.PathValue("id")
	body, err := io.ReadAll(io.LimitReader(r.Body, r.ContentLength))
	if err != nil || int64(len(body)) != r.ContentLength || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		writeErr(w, http.StatusBadRequest, protocol.CodeBadMessage, "a support bundle is a gzip archive of its Content-Length")
		return
	}
	err = h.st.PutBundle(r.Context(), agent.ID, id, h.now().UTC(), body)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeErr(w, http.StatusNotFound, protocol.CodeNotFound, "no such support bundle was asked of this agent")
		return
	case errors.Is(err, store.ErrExists):
		writeErr(w, http.StatusConflict, protocol.CodeBadMessage, "this support bundle was uploaded already")
		return
	case err != nil:
		h.refuseHTTP(w, agent.ID, "store support bundle", id, err)
		return
	}
	h.log.Info("support bundle received", "agent", agent.ID, "bundle", id, "bytes", len(body))
	writeJSON(w, http.StatusOK, map[string]any{"bundleId": id, "size": len(body)})
}
