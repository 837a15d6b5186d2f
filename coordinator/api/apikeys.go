package api

import (
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// maxAPIKeys is how many keys may exist at once, as in Codat (10), plus
// room for the admin key.
const maxAPIKeys = 20

// apiKeyView is Codat's ApiKeyDetails with Ferry's scope. ApiKey, the
// secret, is sent only in the answer to its creation: Ferry stores only
// its hash.
type apiKeyView struct {
	ID          string  `json:"id"`
	Name        *string `json:"name"`
	APIKey      string  `json:"apiKey,omitempty"`
	CreatedDate string  `json:"createdDate"`
	Scope       string  `json:"scope"`
}

// createAPIKeyBody is Codat's CreateApiKey with Ferry's scope.
type createAPIKeyBody struct {
	Name  *string `json:"name"`
	Scope *string `json:"scope"`
}

func keyView(k store.APIKey, secret string) apiKeyView {
	v := apiKeyView{ID: k.ID, APIKey: secret, CreatedDate: apiTime(k.Created), Scope: string(k.Scope)}
	if k.Name != "" {
		v.Name = &k.Name
	}
	return v
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.store.APIKeys(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Results []apiKeyView `json:"results"`
	}{Results: make([]apiKeyView, len(keys))}
	for i, k := range keys {
		out.Results[i] = keyView(k, "")
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var body createAPIKeyBody
	if err := decodeBody(w, r, &body); err != nil {
		return err
	}
	k := store.APIKey{ID: uuid.NewString(), Scope: store.ScopeClient, Created: s.now().UTC()}
	if body.Name != nil {
		if n := utf8.RuneCountInString(*body.Name); n > 50 {
			return errorf(http.StatusBadRequest, CodeInvalidField, "name: at most 50 characters")
		}
		k.Name = *body.Name
	}
	if body.Scope != nil {
		switch sc := store.Scope(*body.Scope); sc {
		case store.ScopeClient, store.ScopeSupport:
			k.Scope = sc
		default:
			return errorf(http.StatusBadRequest, CodeInvalidField, "scope must be client or support")
		}
	}
	keys, err := s.store.APIKeys(r.Context())
	if err != nil {
		return err
	}
	if len(keys) >= maxAPIKeys {
		return errorf(http.StatusConflict, CodeConflict,
			"at most %d API keys; delete an unused key and try again", maxAPIKeys)
	}
	secret := NewKeySecret()
	k.Hash = HashKey(secret)
	if err := s.store.CreateAPIKey(r.Context(), k); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, keyView(k, secret))
	return nil
}

func (s *Server) deleteAPIKey(w http.ResponseWriter, r *http.Request) error {
	err := s.store.DeleteAPIKey(r.Context(), r.PathValue("apiKeyId"))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeNotFound, "no API key %s", r.PathValue("apiKeyId"))
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
