package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// HashKey is how an API key's secret is stored: SHA-256. Keys are 256 random
// bits, so a fast hash is as safe as a slow one and costs nothing per call.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewKeySecret returns a new random API key secret.
func NewKeySecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "fry_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// EnsureKey stores a key with the given secret and scope unless one with that
// secret exists. It is how the first start creates the admin key.
func EnsureKey(ctx context.Context, st KeyStore, secret, name string, scope store.Scope, now time.Time) error {
	if _, err := st.APIKeyByHash(ctx, HashKey(secret)); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return st.CreateAPIKey(ctx, store.APIKey{
		ID: uuid.NewString(), Name: name, Scope: scope, Hash: HashKey(secret), Created: now.UTC(),
	})
}

// apiKeyFrom reads the key from "Basic base64(key)" (Codat's form) or
// "Bearer key".
func apiKeyFrom(h string) (string, bool) {
	scheme, value, ok := strings.Cut(h, " ")
	if !ok || value == "" || len(value) > 512 {
		return "", false
	}
	switch strings.ToLower(scheme) {
	case "bearer":
		return value, true
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(value)
		if err != nil || len(raw) == 0 {
			return "", false
		}
		// Codat sends base64(key); some clients send base64(key + ":").
		return strings.TrimSuffix(string(raw), ":"), true
	}
	return "", false
}

// authenticate finds the request's API key. An address past the limit of
// failed authentications is refused (429, Retry-After) before the key is
// looked up, until its window passes; a wrong key counts as a failure, a
// missing or malformed header (no guess at a key) does not.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (store.APIKey, error) {
	if msg, refused := s.failures.Refuse(r.Context(), w, r.RemoteAddr, s.now()); refused {
		return store.APIKey{}, &Error{Status: http.StatusTooManyRequests, Code: CodeRateLimited, Retry: true, Message: msg}
	}
	secret, ok := apiKeyFrom(r.Header.Get("Authorization"))
	if !ok {
		return store.APIKey{}, errorf(http.StatusUnauthorized, CodeUnauthorized,
			"an API key is required: Authorization: Basic base64(key) or Bearer key")
	}
	hash := HashKey(secret)
	key, err := s.store.APIKeyByHash(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) || (err == nil && subtle.ConstantTimeCompare(key.Hash, hash) != 1) {
		s.failures.Fail(r.Context(), r.RemoteAddr, s.now())
		return store.APIKey{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "the API key is not valid")
	}
	if err != nil {
		return store.APIKey{}, fmt.Errorf("look up api key: %w", err)
	}
	return key, nil
}

// allowed reports whether a key of scope have may call a route that needs
// scope need: client may do everything, support only what needs support.
func allowed(have, need store.Scope) error {
	if have == store.ScopeClient || have == need {
		return nil
	}
	return errorf(http.StatusForbidden, CodeForbidden, "a %s key may not do this", have)
}
