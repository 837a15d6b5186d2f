package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
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

// session is a signed-in browser. Sessions live in memory: a coordinator
// restart signs everyone out.
type session struct {
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
	// flash is a one-shot message shown on the next page.
	flash    string
	flashBad bool
	// diag is the diagnostics report last run, shown once on its agent's
	// page.
	diag *diagView
}

// sessions holds the signed-in sessions, by the SHA-256 of their id (so a
// memory dump or a timing difference does not give away a cookie).
type sessions struct {
	mu    sync.Mutex
	byID  map[[32]byte]*session
	idle  time.Duration
	life  time.Duration
	limit int
}

func newSessions(idle, life time.Duration, limit int) *sessions {
	return &sessions{byID: map[[32]byte]*session{}, idle: idle, life: life, limit: limit}
}

// create stores a new session and returns its cookie value. When the table
// is full it drops expired sessions, then the oldest one.
func (ss *sessions) create(s *session, now time.Time) string {
	id := randomToken()
	s.csrf, s.created, s.seen = randomToken(), now, now
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byID) >= ss.limit {
		ss.sweepLocked(now)
	}
	if len(ss.byID) >= ss.limit {
		var oldest [32]byte
		var at time.Time
		for k, v := range ss.byID {
			if at.IsZero() || v.created.Before(at) {
				oldest, at = k, v.created
			}
		}
		delete(ss.byID, oldest)
	}
	ss.byID[sha256.Sum256([]byte(id))] = s
	return id
}

// get returns the live session of a cookie value, marking it seen; nil
// when there is none or it expired.
func (ss *sessions) get(id string, now time.Time) *session {
	if id == "" || len(id) > 128 {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[k]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.byID, k)
		return nil
	}
	s.seen = now
	return s
}

// drop ends a session.
func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, sha256.Sum256([]byte(id)))
}

// setFlash leaves a message for the session's next page.
func (ss *sessions) setFlash(s *session, msg string, bad bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.flash, s.flashBad = msg, bad
}

// takeFlash returns the session's message once.
func (ss *sessions) takeFlash(s *session) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	msg, bad := s.flash, s.flashBad
	s.flash, s.flashBad = "", false
	return msg, bad
}

// setDiag keeps a diagnostics outcome for the agent's next page.
func (ss *sessions) setDiag(s *session, d *diagView) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.diag = d
}

// takeDiag returns the diagnostics outcome kept for the agent, once; nil
// when there is none.
func (ss *sessions) takeDiag(s *session, agentID string) *diagView {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	d := s.diag
	if d == nil || d.AgentID != agentID {
		return nil
	}
	s.diag = nil
	return d
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > ss.idle || now.Sub(s.created) > ss.life
}

func (ss *sessions) sweepLocked(now time.Time) {
	for k, s := range ss.byID {
		if ss.expired(s, now) {
			delete(ss.byID, k)
		}
	}
}

// len is the number of sessions held, expired or not.
func (ss *sessions) len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.byID)
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
