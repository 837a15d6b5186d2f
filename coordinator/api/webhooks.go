package api

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/coordinator/webhook"
)

// webhookView is Codat's WebhookConsumer; secret only in the answer to its
// creation.
type webhookView struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Disabled       bool     `json:"disabled"`
	EventTypes     []string `json:"eventTypes"`
	CompanyTags    []string `json:"companyTags,omitempty"`
	Secret         string   `json:"secret,omitempty"`
	DisabledReason string   `json:"disabledReason,omitempty"`
}

func viewWebhook(w store.Webhook) webhookView {
	return webhookView{ID: w.ID, URL: w.URL, Disabled: w.Disabled, EventTypes: w.EventTypes,
		CompanyTags: w.CompanyTags, DisabledReason: w.DisabledReason}
}

// webhookBody is Codat's webhookConsumerPrototype.
type webhookBody struct {
	URL         *string  `json:"url"`
	EventTypes  []string `json:"eventTypes"`
	Disabled    *bool    `json:"disabled"`
	CompanyTags []string `json:"companyTags"`
}

func (b webhookBody) validate(allowPrivate bool) error {
	if b.URL == nil {
		return errorf(http.StatusBadRequest, CodeInvalidField, "url is required")
	}
	if err := webhook.CheckURL(*b.URL, allowPrivate); err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidField, "url: %s", err.Error())
	}
	if len(b.EventTypes) == 0 {
		return errorf(http.StatusBadRequest, CodeInvalidField, "eventTypes: at least one of %v", store.EventTypes)
	}
	for _, t := range b.EventTypes {
		if !slices.Contains(store.EventTypes, t) {
			return errorf(http.StatusBadRequest, CodeInvalidField, "eventTypes: unknown event type %q; known: %v", truncate(t, 64), store.EventTypes)
		}
	}
	if len(b.CompanyTags) > 10 {
		return errorf(http.StatusBadRequest, CodeInvalidField, "companyTags: at most 10")
	}
	for _, t := range b.CompanyTags {
		if k, _, ok := strings.Cut(t, ":"); !ok || k == "" || len(t) > 128 {
			return errorf(http.StatusBadRequest, CodeInvalidField, "companyTags: %q is not tagKey:tagValue (at most 128 characters)", truncate(t, 64))
		}
	}
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.store.Webhooks(r.Context())
	if err != nil {
		return err
	}
	views := make([]webhookView, len(hooks))
	for i, h := range hooks {
		views[i] = viewWebhook(h)
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": views})
	return nil
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var b webhookBody
	if err := decodeBody(w, r, &b); err != nil {
		return err
	}
	if err := b.validate(s.webhookAllowPrivate); err != nil {
		return err
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	h := store.Webhook{
		ID: uuid.NewString(), URL: *b.URL, EventTypes: slices.Compact(slices.Sorted(slices.Values(b.EventTypes))),
		Disabled: b.Disabled != nil && *b.Disabled, CompanyTags: b.CompanyTags,
		Secret: "whsec_" + base64.RawURLEncoding.EncodeToString(raw[:]), Created: s.now().UTC().Truncate(time.Millisecond),
	}
	err := s.store.CreateWebhook(r.Context(), h)
	if errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, CodeConflict, "the limit of %d webhook consumers is reached; delete one first", store.MaxWebhooks)
	}
	if err != nil {
		return err
	}
	s.log.Info("webhook consumer created", "webhook", h.ID, "eventTypes", h.EventTypes)
	v := viewWebhook(h)
	v.Secret = h.Secret
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	h, err := s.store.Webhook(r.Context(), r.PathValue("webhookId"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewWebhook(h))
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("webhookId")
	if err := s.store.DeleteWebhook(r.Context(), id); err != nil {
		return err
	}
	s.log.Info("webhook consumer deleted", "webhook", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listDeliveries is the consumer's delivery log, newest first (the last
// 1000 attempts), paged.
func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	log, err := s.store.DeliveryLog(r.Context(), r.PathValue("webhookId"), 1000)
	if err != nil {
		return err
	}
	views := make([]deliveryView, len(log))
	for i, a := range log {
		views[i] = deliveryView{
			WebhookID: a.WebhookID, EventID: a.EventID, EventType: a.EventType, Attempt: a.Attempt,
			At: apiTime(a.At), StatusCode: a.StatusCode, Error: a.Error, Outcome: a.Outcome,
		}
		if !a.NextAttempt.IsZero() {
			views[i].NextAttempt = apiTime(a.NextAttempt)
		}
	}
	return writePage(w, r, views)
}

// deliveryView is one attempt of the delivery log.
type deliveryView struct {
	WebhookID   string `json:"webhookId"`
	EventID     string `json:"eventId"`
	EventType   string `json:"eventType"`
	Attempt     int    `json:"attempt"`
	At          string `json:"at"`
	StatusCode  int    `json:"statusCode,omitempty"`
	Error       string `json:"error,omitempty"`
	Outcome     string `json:"outcome"`
	NextAttempt string `json:"nextAttempt,omitempty"`
}
