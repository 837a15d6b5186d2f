package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
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
}

// notes are what a session shows once on its next page: a flash message,
// a diagnostics outcome. They live in this replica's memory: behind a
// balancer that sends the next page to another replica, the note is not
// shown.
type notes struct {
	flash    string
	flashBad bool
	diag     *diagView
}

// maxNotes bounds the sessions with notes held in memory; past it the
// notes of arbitrary sessions are dropped.
const maxNotes = 10000

// touchEvery is how stale a session's stored Seen may be: a session used
// more often is written once per this, not once per request.
const touchEvery = time.Minute

// sessions are the signed-in sessions, in the store by the SHA-256 of
// their id (so neither the store nor a timing difference gives away a
// cookie), with their notes in memory.
type sessions struct {
	st   SessionStore
	idle time.Duration
	life time.Duration

	mu    sync.Mutex
	notes map[[32]byte]*notes
}

func newSessions(st SessionStore, idle, life time.Duration) *sessions {
	return &sessions{st: st, idle: idle, life: life, notes: map[[32]byte]*notes{}}
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
	ss.mu.Lock()
	delete(ss.notes, k)
	ss.mu.Unlock()
	return ss.st.DeleteSession(ctx, k[:])
}

// prune deletes the sessions that expired (idle or past their lifetime).
func (ss *sessions) prune(ctx context.Context, now time.Time) (int, error) {
	return ss.st.PruneSessions(ctx, now.Add(-ss.idle), now.Add(-ss.life))
}

// note returns the session's notes, made when missing; under ss.mu.
func (ss *sessions) note(s *session) *notes {
	n := ss.notes[s.id]
	if n == nil {
		if len(ss.notes) >= maxNotes {
			for k := range ss.notes {
				delete(ss.notes, k)
				if len(ss.notes) < maxNotes-maxNotes/10 {
					break
				}
			}
		}
		n = &notes{}
		ss.notes[s.id] = n
	}
	return n
}

// setFlash leaves a message for the session's next page.
func (ss *sessions) setFlash(s *session, msg string, bad bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := ss.note(s)
	n.flash, n.flashBad = msg, bad
}

// takeFlash returns the session's message once.
func (ss *sessions) takeFlash(s *session) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := ss.notes[s.id]
	if n == nil {
		return "", false
	}
	msg, bad := n.flash, n.flashBad
	n.flash, n.flashBad = "", false
	ss.forgetEmpty(s.id, n)
	return msg, bad
}

// setDiag keeps a diagnostics outcome for the agent's next page.
func (ss *sessions) setDiag(s *session, d *diagView) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.note(s).diag = d
}

// takeDiag returns the diagnostics outcome kept for the agent, once; nil
// when there is none.
func (ss *sessions) takeDiag(s *session, agentID string) *diagView {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := ss.notes[s.id]
	if n == nil || n.diag == nil || n.diag.AgentID != agentID {
		return nil
	}
	d := n.diag
	n.diag = nil
	ss.forgetEmpty(s.id, n)
	return d
}

// forgetEmpty drops notes with nothing left to show; under ss.mu.
func (ss *sessions) forgetEmpty(k [32]byte, n *notes) {
	if n.flash == "" && n.diag == nil {
		delete(ss.notes, k)
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
