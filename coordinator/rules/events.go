package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// This file holds the webhook rules: which events a change fires, which
// consumers each goes to, and what a delivery's outcome does to its
// consumer. A backend puts the deliveries in its outbox in the transaction
// of the change, so a crash cannot lose an event.

// DatasetEvents are the events of d's change from old (nil for a new
// dataset): read.completed, once, when d reaches a terminal status.
func DatasetEvents(old, d *store.Dataset) []store.WebhookEvent {
	if !d.Status.Terminal() || (old != nil && old.Status.Terminal()) {
		return nil
	}
	return []store.WebhookEvent{{
		ID: store.EventID(store.EventReadCompleted, d.ID), Type: store.EventReadCompleted, Generated: d.Completed,
		CompanyID: d.CompanyID, ConnectionID: d.ConnectionID,
		DatasetID: d.ID, DataType: string(d.DataType), Status: string(d.Status), Message: d.ErrorMessage,
	}}
}

// InitialReadEvents are the events of d's change from old (nil for a new
// dataset) when d is one of its connection's first link's datasets:
// read.completed.initial, once per connection, when the last of them
// reaches a terminal status. firstLink are the others as stored (d's own
// entry, if there, is ignored; one missing, not yet queued, is not
// terminal).
func InitialReadEvents(old, d *store.Dataset, firstLink []store.Dataset) []store.WebhookEvent {
	if len(d.FirstLink) == 0 || !d.Status.Terminal() || (old != nil && old.Status.Terminal()) {
		return nil
	}
	e := store.WebhookEvent{
		ID: store.EventID(store.EventReadCompletedInitial, d.ConnectionID), Type: store.EventReadCompletedInitial,
		Generated: d.Completed, CompanyID: d.CompanyID, ConnectionID: d.ConnectionID,
	}
	for _, id := range d.FirstLink {
		f := *d
		if id != d.ID {
			i := slices.IndexFunc(firstLink, func(f store.Dataset) bool { return f.ID == id })
			if i < 0 {
				return nil
			}
			f = firstLink[i]
		}
		if !f.Status.Terminal() {
			return nil
		}
		e.Reads = append(e.Reads, store.DatasetRead{DatasetID: f.ID, DataType: string(f.DataType), Status: string(f.Status)})
	}
	return []store.WebhookEvent{e}
}

// ConnectionEvents are the events of c's change from old (nil for a new
// connection) at now: connection.created for a new one;
// connection.reconnected for one Linked again after it was Unlinked or
// Deauthorized; and the events of its errors' changes (errorEvents).
func ConnectionEvents(old *store.Connection, c store.Connection, now time.Time) []store.WebhookEvent {
	if old == nil {
		return []store.WebhookEvent{{
			ID: store.EventID(store.EventConnectionCreated, c.ID), Type: store.EventConnectionCreated, Generated: c.Created,
			CompanyID: c.CompanyID, ConnectionID: c.ID,
		}}
	}
	var out []store.WebhookEvent
	if c.Status == store.Linked && (old.Status == store.Unlinked || old.Status == store.Deauthorized) {
		// Each link code links once: the one redeemed names the reconnection.
		subject := c.ID + "/" + old.LinkCodeExpires.UTC().Format(time.RFC3339Nano) + "/" + c.AgentID
		out = append(out, store.WebhookEvent{
			ID: store.EventID(store.EventConnectionReconnected, subject), Type: store.EventConnectionReconnected,
			Generated: now, CompanyID: c.CompanyID, ConnectionID: c.ID, AgentID: c.AgentID,
		})
	}
	return append(out, errorEvents(*old, c)...)
}

// DeletedEvents are the events of c's deletion at now: connection.deleted.
func DeletedEvents(c store.Connection, now time.Time) []store.WebhookEvent {
	return []store.WebhookEvent{{
		ID: store.EventID(store.EventConnectionDeleted, c.ID), Type: store.EventConnectionDeleted, Generated: now,
		CompanyID: c.CompanyID, ConnectionID: c.ID, AgentID: c.AgentID,
	}}
}

// agentWebhooks are the webhook event types of the agent events that
// send one per connection.
var agentWebhooks = map[store.AgentEventType]string{
	store.EventConnected:        store.EventConnectionConnected,
	store.EventDisconnected:     store.EventConnectionDisconnected,
	store.EventUpdateStarted:    store.EventAgentUpdateStarted,
	store.EventUpdateSucceeded:  store.EventAgentUpdateSucceeded,
	store.EventUpdateFailed:     store.EventAgentUpdateFailed,
	store.EventUpdateRolledBack: store.EventAgentUpdateRolledBack,
}

// PresenceEvents are the events of an agent's event e:
// connection.connected or connection.disconnected, for a Connected or
// Disconnected event, agent.update.* for an Update* event, for each
// connection of conns that e names and that is still bound to the agent.
// conns are the connections e names, as stored (missing ones left out).
func PresenceEvents(e store.AgentEvent, conns []store.Connection) []store.WebhookEvent {
	typ, ok := agentWebhooks[e.Type]
	if !ok {
		return nil
	}
	var out []store.WebhookEvent
	for _, c := range conns {
		if c.AgentID != e.AgentID || !slices.Contains(e.Connections, c.ID) {
			continue
		}
		out = append(out, store.WebhookEvent{
			ID: store.PresenceEventID(e.ID, c.ID), Type: typ, Generated: e.At,
			CompanyID: c.CompanyID, ConnectionID: c.ID, AgentID: e.AgentID, Update: e.Update,
		})
	}
	return out
}

// Deliveries are the deliveries of event e, due at once, one to each
// enabled consumer of hooks subscribed to its type and wanting its company.
// The event names its company co and connection conn as they are at the
// change (zero values when missing).
func Deliveries(e store.WebhookEvent, co store.Company, conn store.Connection, hooks []store.Webhook) []store.Delivery {
	e.Generated = e.Generated.UTC()
	e.CompanyName = co.Name
	if conn.ID != "" {
		e.PlatformKey, e.ConnectionStatus = conn.PlatformKey, conn.Status
		e.ConnectionErrors = ActiveErrors(conn)
	}
	var out []store.Delivery
	for _, w := range hooks {
		if w.Disabled || !w.Subscribed(e.Type) || !w.WantsCompany(co.Tags) {
			continue
		}
		out = append(out, store.Delivery{WebhookID: w.ID, Event: e, Due: e.Generated})
	}
	return out
}

// CheckWebhook refuses a consumer that is not well formed.
func CheckWebhook(w store.Webhook) error {
	if err := CheckID("webhook", w.ID); err != nil {
		return err
	}
	if w.URL == "" || len(w.URL) > 2048 {
		return errors.New("webhook: url must be 1 to 2048 characters")
	}
	if w.Secret == "" {
		return errors.New("webhook: secret is empty")
	}
	for _, t := range w.EventTypes {
		if !slices.Contains(store.EventTypes, t) {
			return fmt.Errorf("webhook: unknown event type %q", t)
		}
	}
	if len(w.CompanyTags) > 10 {
		return errors.New("webhook: at most 10 company tags")
	}
	for _, t := range w.CompanyTags {
		if k, _, ok := strings.Cut(t, ":"); !ok || k == "" || len(t) > 128 {
			return fmt.Errorf("webhook: company tag %q is not key:value (at most 128 characters)", t)
		}
	}
	return nil
}

// Delivered is what a delivery's success a does to its consumer w: it is
// no longer failing. It reports whether w changed.
func Delivered(w *store.Webhook, a store.DeliveryAttempt) bool {
	if a.Outcome != store.OutcomeDelivered || w.FailingSince.IsZero() {
		return false
	}
	w.FailingSince = time.Time{}
	return true
}

// Failed is what a failed attempt a does to its consumer w: w is failing
// since a.At unless it was already, and is disabled once it has been
// failing for disableAfter. a becomes Dropped when w is disabled (the
// delivery leaves the outbox), Retrying at next otherwise. It reports
// whether w changed and whether this attempt disabled it.
func Failed(w *store.Webhook, a *store.DeliveryAttempt, next time.Time, disableAfter time.Duration) (changed, disabled bool) {
	if w.FailingSince.IsZero() || w.FailingSince.After(a.At) {
		w.FailingSince, changed = a.At, true
	}
	if !w.Disabled && a.At.Sub(w.FailingSince) >= disableAfter {
		w.Disabled, disabled, changed = true, true, true
		w.DisabledReason = fmt.Sprintf("deliveries failed for %s since %s", disableAfter, w.FailingSince.Format(time.RFC3339))
	}
	if w.Disabled {
		a.Outcome = store.OutcomeDropped
	} else {
		a.Outcome, a.NextAttempt = store.OutcomeRetrying, next
	}
	return changed, disabled
}
