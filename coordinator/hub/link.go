package hub

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/linkcode"
	"github.com/ferry-sync/ferry/coordinator/ratelimit"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// maxLinkBody caps the link and unlink request bodies.
const maxLinkBody = 8 << 10

// serveLink exchanges a link code for a binding, creating the agent (and
// its credential) on its first link.
func (h *Hub) serveLink(w http.ResponseWriter, r *http.Request) {
	if wait, ok := h.links.Allow(r.Context(), r.RemoteAddr, h.now()); !ok {
		h.log.Warn("link attempts over the limit", "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
		writeErr(w, http.StatusTooManyRequests, protocol.CodeRateLimited, "too many link attempts; wait a minute")
		return
	}
	var req protocol.LinkRequest
	err := decodeSmall(r, &req)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, protocol.CodeBadMessage, err.Error())
		return
	}
	agent, existing, credential, ok := h.linkingAgent(w, r, req)
	if !ok {
		return
	}
	hash := linkcode.Hash(req.Code)
	if hash == nil {
		writeErr(w, http.StatusBadRequest, protocol.CodeBadCode, "a link code is 8 letters and digits, like ABCD-2345")
		return
	}
	conn, err := h.redeem(r.Context(), hash, req.PlatformKey, agent, existing)
	if err != nil {
		h.log.Warn("link refused", "remote", r.RemoteAddr, "err", err)
		writeErr(w, http.StatusBadRequest, protocol.CodeBadCode, err.Error())
		return
	}
	h.log.Info("agent linked", "agent", agent.ID, "company", conn.CompanyID, "connection", conn.ID, "newAgent", !existing)
	if conn.Links == 1 { // the connection's first link
		_, err = h.cfg.Queuer.QueueFirstLink(r.Context(), conn.CompanyID, conn.ID)
	} else {
		_, err = h.cfg.Queuer.QueueAll(r.Context(), conn.CompanyID, conn.ID, "first link")
	}
	if err != nil {
		h.log.Error("queue first-link datasets", "connection", conn.ID, "err", err)
	}
	writeJSON(w, http.StatusOK, protocol.LinkResponse{
		AgentID: agent.ID, Credential: credential, CompanyID: conn.CompanyID,
		ConnectionID: conn.ID, PlatformKey: conn.PlatformKey,
	})
}

// linkingAgent is the agent a link request binds to: the one whose
// credential it carries, or a new one (not stored until the code holds).
// false when the credential was refused (and the refusal answered).
func (h *Hub) linkingAgent(w http.ResponseWriter, r *http.Request, req protocol.LinkRequest) (store.Agent, bool, string, bool) {
	if r.Header.Get("Authorization") != "" {
		a, ok := h.authenticate(w, r)
		return a, true, "", ok
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := "fra_" + base64.RawURLEncoding.EncodeToString(b[:])
	return store.Agent{
		ID: uuid.NewString(), CredentialHash: HashCredential(secret), Created: h.now().UTC(),
		Hostname: req.Hostname, OS: req.OS, Version: req.AgentVersion,
	}, false, secret, true
}

// redeem uses the code; a new agent is stored only once the code held, so
// that wrong codes leave nothing behind.
func (h *Hub) redeem(ctx context.Context, hash []byte, platformKey string, agent store.Agent, existing bool) (store.Connection, error) {
	conn, err := h.st.RedeemLinkCode(ctx, hash, agent.ID, h.now().UTC())
	if err == nil && !existing {
		if cerr := h.st.CreateAgent(ctx, agent); cerr != nil {
			return store.Connection{}, fmt.Errorf("create agent: %w", cerr)
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = errors.New("this link code is not valid or was already used; ask for a new one on the link page")
	case errors.Is(err, store.ErrCodeExpired):
		err = errors.New("this link code has expired; ask for a new one on the link page")
	}
	if err == nil && platformKey != "" && platformKey != conn.PlatformKey {
		h.log.Warn("agent linked with another source than the connection's", "connection", conn.ID,
			"agentSource", platformKey, "connectionSource", conn.PlatformKey)
	}
	return conn, err
}

// serveUnlink is the end user's unlink: the connection becomes
// Deauthorized and the agent loses the binding at once.
func (h *Hub) serveUnlink(w http.ResponseWriter, r *http.Request) {
	agent, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	var req protocol.UnlinkRequest
	if err := decodeSmall(r, &req); err != nil {
		writeErr(w, http.StatusBadRequest, protocol.CodeBadMessage, err.Error())
		return
	}
	conn, err := h.agentConnection(r.Context(), agent.ID, req.ConnectionID)
	if err != nil {
		writeErr(w, http.StatusNotFound, protocol.CodeNotFound, "no such connection for this agent")
		return
	}
	_, err = h.st.UpdateConnection(r.Context(), conn.CompanyID, conn.ID, func(c *store.Connection) error {
		c.Status, c.AgentID = store.Deauthorized, ""
		return nil
	})
	if err != nil {
		status, code, msg := storeErr(err)
		writeErr(w, status, code, msg)
		return
	}
	// The change feed revokes the binding from the agent's live
	// connection (changes.go).
	h.log.Info("connection deauthorized by the agent", "agent", agent.ID, "connection", conn.ID)
	writeJSON(w, http.StatusOK, map[string]string{"status": string(store.Deauthorized)})
}

func (h *Hub) agentConnection(ctx context.Context, agentID, connectionID string) (store.Connection, error) {
	conns, err := h.st.AgentConnections(ctx, agentID)
	if err != nil {
		return store.Connection{}, err
	}
	for _, c := range conns {
		if c.ID == connectionID {
			return c, nil
		}
	}
	return store.Connection{}, store.ErrNotFound
}

func decodeSmall(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxLinkBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body is not the expected JSON: %w", err)
	}
	return nil
}
