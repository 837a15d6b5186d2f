package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// Cookie names. The session cookie holds a random id; the sign-in cookie
// holds the nonce the sign-in form's CSRF token is derived from, before a
// session exists.
const (
	sessionCookie = "ferry_session"
	signinCookie  = "ferry_signin"
)

// session is a signed-in browser. Sessions are kept in the store, so a
// session opened on one replica is one on every replica, and a restart
// signs nobody out.
type session struct {
	// id is the SHA-256 of the cookie's value, the session's id in the
	// store.
	id [32]byte
	// keyID and keyHash name the API key that signed in; the key is looked
	// up again on every request, so deleting it ends its sessions.
	keyID   string
	keyHash []byte
	keyName string
	scope   store.Scope
	// csrf is the token every form of this session carries.
	csrf    string
	created time.Time
	seen    time.Time
	// notes are what its next page shows once, as the store has them.
	notes notes
}

// notes are what a session shows once on its next page: a flash message,
// a diagnostics outcome. They are kept in the store with the session
// (store.Session.Notes, as JSON), so the next page shows them whichever
// replica serves it.
type notes struct {
	Flash    string    `json:"flash,omitempty"`
	FlashBad bool      `json:"flashBad,omitempty"`
	Diag     *diagView `json:"diag,omitempty"`
}

// touchEvery is how stale a session's stored Seen may be: a session used
// more often is written once per this, not once per request.
const touchEvery = time.Minute

// sessions are the signed-in sessions, in the store by the SHA-256 of
// their id (so neither the store nor a timing difference gives away a
// cookie), with their notes.
type sessions struct {
	st   SessionStore
	log  *slog.Logger
	idle time.Duration
	life time.Duration
}

func newSessions(st SessionStore, log *slog.Logger, idle, life time.Duration) *sessions {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &sessions{st: st, log: log, idle: idle, life: life}
}

// create stores a new session and returns its cookie value.
func (ss *sessions) create(ctx context.Context, s *session, now time.Time) (string, error) {
	id := randomToken()
	s.id = sha256.Sum256([]byte(id))
	s.csrf, s.created, s.seen = randomToken(), now, now
	err := ss.st.CreateSession(ctx, store.Session{ID: s.id[:], KeyID: s.keyID, KeyHash: s.keyHash, KeyName: s.keyName,
		Scope: s.scope, CSRF: s.csrf, Created: now, Seen: now})
	if err != nil {
		return "", fmt.Errorf("create portal session: %w", err)
	}
	return id, nil
}

// get returns the live session of a cookie value, marking it seen; nil
// when there is none or it expired (then it is deleted). An error is the
// store's.
func (ss *sessions) get(ctx context.Context, id string, now time.Time) (*session, error) {
	if id == "" || len(id) > 128 {
		return nil, nil
	}
	k := sha256.Sum256([]byte(id))
	st, err := ss.st.Session(ctx, k[:])
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := &session{id: k, keyID: st.KeyID, keyHash: st.KeyHash, keyName: st.KeyName, scope: st.Scope, csrf: st.CSRF,
		created: st.Created, seen: st.Seen}
	if len(st.Notes) > 0 {
		if err := json.Unmarshal(st.Notes, &s.notes); err != nil {
			ss.log.Warn("portal session notes unreadable: dropped", "err", err)
		}
	}
	if ss.expired(s, now) {
		return nil, ss.drop(ctx, id)
	}
	if now.Sub(s.seen) >= touchEvery {
		if err := ss.st.TouchSession(ctx, k[:], now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		s.seen = now
	}
	return s, nil
}

// drop ends a session, on every replica.
func (ss *sessions) drop(ctx context.Context, id string) error {
	k := sha256.Sum256([]byte(id))
	return ss.st.DeleteSession(ctx, k[:])
}

// prune deletes the sessions that expired (idle or past their lifetime).
func (ss *sessions) prune(ctx context.Context, now time.Time) (int, error) {
	return ss.st.PruneSessions(ctx, now.Add(-ss.idle), now.Add(-ss.life))
}

// setFlash leaves a message for the session's next page.
func (ss *sessions) setFlash(ctx context.Context, s *session, msg string, bad bool) {
	s.notes.Flash, s.notes.FlashBad = msg, bad
	ss.keep(ctx, s)
}

// takeFlash returns the session's message once.
func (ss *sessions) takeFlash(ctx context.Context, s *session) (string, bool) {
	msg, bad := s.notes.Flash, s.notes.FlashBad
	if msg != "" {
		s.notes.Flash, s.notes.FlashBad = "", false
		ss.keep(ctx, s)
	}
	return msg, bad
}

// setDiag keeps a diagnostics outcome for the agent's next page.
func (ss *sessions) setDiag(ctx context.Context, s *session, d *diagView) {
	s.notes.Diag = d
	ss.keep(ctx, s)
}

// takeDiag returns the diagnostics outcome kept for the agent, once; nil
// when there is none.
func (ss *sessions) takeDiag(ctx context.Context, s *session, agentID string) *diagView {
	d := s.notes.Diag
	if d == nil || d.AgentID != agentID {
		return nil
	}
	s.notes.Diag = nil
	ss.keep(ctx, s)
	return d
}

// keep stores the session's notes. A failure is logged, not returned: a
// note lost costs a message, and the request goes on.
func (ss *sessions) keep(ctx context.Context, s *session) {
	var b []byte
	if s.notes != (notes{}) {
		var err error
		if b, err = json.Marshal(s.notes); err != nil {
			ss.log.Error("encode portal session notes", "err", err)
			return
		}
	}
	if err := ss.st.SetSessionNotes(ctx, s.id[:], b); err != nil && !errors.Is(err, store.ErrNotFound) {
		ss.log.Error("store portal session notes", "err", err)
	}
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > ss.idle || now.Sub(s.created) > ss.life
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// signinToken is the sign-in form's CSRF token: an HMAC of the nonce in the
// sign-in cookie under the portal's secret. A forged sign-in (login CSRF)
// can neither read the cookie nor compute the token.
func signinToken(secret []byte, nonce string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("signin\x00" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokenEqual compares two tokens in constant time; empty never matches.
func tokenEqual(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
