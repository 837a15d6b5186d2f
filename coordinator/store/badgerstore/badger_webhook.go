package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// The keys of webhooks and their outbox:
//
//	wh/<webhook>                          Webhook
//	wd/<webhook>/<event>                  Delivery: an event due to a consumer
//	wq/<due>/<webhook>/<event>            nil: deliveries by due time
//	wl/<webhook>/<at>/<event>/<attempt>   DeliveryAttempt: the delivery log
//
// An event is put in the outbox (one Delivery per subscribed consumer) by
// the transaction that makes it happen: emit.

func webhookKey(id string) []byte      { return key("wh", id) }
func deliveryKey(wh, ev string) []byte { return key("wd", wh, ev) }
func deliveryDueKey(due time.Time, wh, ev string) []byte {
	return key("wq", timeHex(due), wh, ev)
}

// logAttempt writes a to the delivery log and deletes (at most 100 of) the
// consumer's entries older than store.DeliveryLogRetention: it reads only
// expired keys, so the log stays bounded at little cost.
func logAttempt(txn *tx, a store.DeliveryAttempt) error {
	p := prefix("wl", a.WebhookID)
	end := string(p) + timeHex(a.At.Add(-store.DeliveryLogRetention))
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
	var old [][]byte
	for it.Seek(p); it.ValidForPrefix(p) && len(old) < 100; it.Next() {
		k := it.Item().KeyCopy(nil)
		if string(k) >= end {
			break
		}
		old = append(old, k)
	}
	it.Close()
	for _, k := range old {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return setJSON(txn, deliveryLogKey(a), a)
}

func deliveryLogKey(a store.DeliveryAttempt) []byte {
	return key("wl", a.WebhookID, timeHex(a.At), a.EventID, fmt.Sprintf("%08d", a.Attempt))
}

// emit puts e in the outbox: a delivery, due at once, for each enabled
// consumer subscribed to its type (and its company tags). An event still
// pending for a consumer is not added for it again.
func emit(txn *tx, e store.WebhookEvent) error {
	_, vals, err := scanKeys(txn, prefix("wh"), 0)
	if err != nil {
		return err
	}
	e.Generated = e.Generated.UTC()
	var tags map[string]string
	if co, err := getCompany(txn, e.CompanyID); err == nil {
		tags = co.Tags
	}
	for _, v := range vals {
		var w store.Webhook
		if err := json.Unmarshal(v, &w); err != nil {
			return err
		}
		if w.Disabled || !w.Subscribed(e.Type) || !w.WantsCompany(tags) {
			continue
		}
		ok, err := exists(txn, deliveryKey(w.ID, e.ID))
		if err != nil {
			return err
		}
		if ok {
			continue // the event is already on its way to this consumer
		}
		d := store.Delivery{WebhookID: w.ID, Event: e, Due: e.Generated}
		if err := setJSON(txn, deliveryKey(w.ID, e.ID), d); err != nil {
			return err
		}
		if err := txn.Set(deliveryDueKey(d.Due, w.ID, e.ID), nil); err != nil {
			return err
		}
		txn.recordDelivery()
	}
	return nil
}

// datasetEvents emits read.completed when d reaches a terminal status.
func datasetEvents(txn *tx, old, d *store.Dataset) error {
	if !d.Status.Terminal() || (old != nil && old.Status.Terminal()) {
		return nil
	}
	e := store.WebhookEvent{
		ID: store.EventID(store.EventReadCompleted, d.ID), Type: store.EventReadCompleted, Generated: d.Completed,
		CompanyID: d.CompanyID, ConnectionID: d.ConnectionID,
		DatasetID: d.ID, DataType: string(d.DataType), Status: string(d.Status), Message: d.ErrorMessage,
	}
	if co, err := getCompany(txn, d.CompanyID); err == nil {
		e.CompanyName = co.Name
	}
	var c store.Connection
	if err := getJSON(txn, connKey(d.CompanyID, d.ConnectionID), &c); err == nil {
		e.PlatformKey, e.ConnectionStatus = c.PlatformKey, c.Status
	}
	if d.Status == dataset.Complete || d.Status.IsError() || d.Status == dataset.NotSupported {
		return emit(txn, e)
	}
	return nil
}

// connectionEvents emits connection.created for a new connection.
func connectionEvents(txn *tx, old *store.Connection, c store.Connection) error {
	if old != nil {
		return nil
	}
	e := store.WebhookEvent{
		ID: store.EventID(store.EventConnectionCreated, c.ID), Type: store.EventConnectionCreated, Generated: c.Created,
		CompanyID: c.CompanyID, ConnectionID: c.ID, PlatformKey: c.PlatformKey, ConnectionStatus: c.Status,
	}
	if co, err := getCompany(txn, c.CompanyID); err == nil {
		e.CompanyName = co.Name
	}
	return emit(txn, e)
}

// presenceEvents emits connection.connected or connection.disconnected
// for each connection a Connected or Disconnected agent event names that
// is still bound to the agent.
func presenceEvents(txn *tx, e store.AgentEvent) error {
	typ := store.EventConnectionConnected
	switch e.Type {
	case store.EventConnected:
	case store.EventDisconnected:
		typ = store.EventConnectionDisconnected
	default:
		return nil
	}
	for _, id := range e.Connections {
		companyID, err := getString(txn, agentConnKey(e.AgentID, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		c, err := getConnection(txn, companyID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		ev := store.WebhookEvent{
			ID: store.PresenceEventID(e.ID, id), Type: typ, Generated: e.At,
			CompanyID: c.CompanyID, ConnectionID: c.ID, PlatformKey: c.PlatformKey, ConnectionStatus: c.Status,
			AgentID: e.AgentID,
		}
		if co, err := getCompany(txn, c.CompanyID); err == nil {
			ev.CompanyName = co.Name
		}
		if err := emit(txn, ev); err != nil {
			return err
		}
	}
	return nil
}

func checkWebhook(w store.Webhook) error {
	if err := checkID("webhook", w.ID); err != nil {
		return err
	}
	if w.URL == "" || len(w.URL) > 2048 {
		return errors.New("webhook: url must be 1 to 2048 characters")
	}
	if w.Secret == "" {
		return errors.New("webhook: secret is empty")
	}
	for _, t := range w.EventTypes {
		if !validEventType(t) {
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

func validEventType(t string) bool {
	for _, et := range store.EventTypes {
		if et == t {
			return true
		}
	}
	return false
}

func (b *Badger) CreateWebhook(ctx context.Context, w store.Webhook) error {
	if err := checkWebhook(w); err != nil {
		return err
	}
	w.Created = w.Created.UTC()
	return b.update(ctx, func(txn *tx) error {
		keys, _, err := scanKeys(txn, prefix("wh"), 0)
		if err != nil {
			return err
		}
		if len(keys) >= store.MaxWebhooks {
			return fmt.Errorf("webhook: the limit of %d consumers is reached: %w", store.MaxWebhooks, store.ErrExists)
		}
		if err := mustBeFree(txn, webhookKey(w.ID), "webhook "+w.ID); err != nil {
			return err
		}
		return setJSON(txn, webhookKey(w.ID), w)
	})
}

func (b *Badger) Webhook(ctx context.Context, id string) (store.Webhook, error) {
	if err := lookupIDs("webhook", id); err != nil {
		return store.Webhook{}, err
	}
	var w store.Webhook
	err := b.view(ctx, func(txn *tx) error {
		return notFound(getJSON(txn, webhookKey(id), &w), "webhook", id)
	})
	return w, err
}

func (b *Badger) Webhooks(ctx context.Context) ([]store.Webhook, error) {
	var out []store.Webhook
	err := b.view(ctx, func(txn *tx) error {
		_, vals, err := scanKeys(txn, prefix("wh"), 0)
		if err != nil {
			return err
		}
		out = make([]store.Webhook, len(vals))
		for i, v := range vals {
			if err := json.Unmarshal(v, &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	store.SortWebhooks(out)
	return out, err
}

func (b *Badger) DeleteWebhook(ctx context.Context, id string) error {
	if err := lookupIDs("webhook", id); err != nil {
		return err
	}
	err := b.update(ctx, func(txn *tx) error {
		if ok, err := exists(txn, webhookKey(id)); err != nil || !ok {
			return notFound(cmpErr(err, badger.ErrKeyNotFound), "webhook", id)
		}
		return txn.Delete(webhookKey(id))
	})
	if err != nil {
		return err
	}
	// The consumer is gone, so nothing adds to these any more; a due-index
	// entry left behind by a crash here is dropped when it comes due.
	if err := b.deletePrefix(ctx, prefix("wd", id), nil); err != nil {
		return err
	}
	return b.deletePrefix(ctx, prefix("wl", id), nil)
}

// cmpErr is err, or missing when err is nil.
func cmpErr(err, missing error) error {
	if err != nil {
		return err
	}
	return missing
}

func (b *Badger) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	end := "wq/" + timeHex(now) + "/\xff"
	var out []store.Delivery
	err := b.update(ctx, func(txn *tx) error {
		out = out[:0]
		p := []byte("wq/")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		var keys [][]byte
		for it.Seek(p); it.ValidForPrefix(p) && len(keys) < limit; it.Next() {
			k := it.Item().KeyCopy(nil)
			if string(k) > end {
				break
			}
			keys = append(keys, k)
		}
		it.Close()
		for _, k := range keys {
			parts := splitKey(k)
			var d store.Delivery
			err := getJSON(txn, deliveryKey(parts[2], parts[3]), &d)
			if errors.Is(err, badger.ErrKeyNotFound) || (err == nil && timeHex(d.Due) != parts[1]) {
				// Left behind by a deleted consumer or a crash: drop it.
				if err := txn.Delete(k); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// endDelivery removes d from the outbox if it is still the one read.
func endDelivery(txn *tx, d store.Delivery) (bool, error) {
	var cur store.Delivery
	err := getJSON(txn, deliveryKey(d.WebhookID, d.Event.ID), &cur)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := txn.Delete(deliveryDueKey(cur.Due, d.WebhookID, d.Event.ID)); err != nil {
		return false, err
	}
	return true, txn.Delete(deliveryKey(d.WebhookID, d.Event.ID))
}

func (b *Badger) DeliveryDone(ctx context.Context, d store.Delivery, a store.DeliveryAttempt) error {
	a.At = a.At.UTC()
	return b.update(ctx, func(txn *tx) error {
		if _, err := endDelivery(txn, d); err != nil {
			return err
		}
		var w store.Webhook
		err := getJSON(txn, webhookKey(d.WebhookID), &w)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if a.Outcome == store.OutcomeDelivered && !w.FailingSince.IsZero() {
			w.FailingSince = time.Time{}
			if err := setJSON(txn, webhookKey(w.ID), w); err != nil {
				return err
			}
		}
		return logAttempt(txn, a)
	})
}

func (b *Badger) DeliveryFailed(ctx context.Context, d store.Delivery, a store.DeliveryAttempt, next time.Time, disableAfter time.Duration) (bool, error) {
	a.At, next = a.At.UTC(), next.UTC()
	var disabled bool
	err := b.update(ctx, func(txn *tx) error {
		disabled = false
		var w store.Webhook
		err := getJSON(txn, webhookKey(d.WebhookID), &w)
		if errors.Is(err, badger.ErrKeyNotFound) {
			_, err := endDelivery(txn, d)
			return err
		}
		if err != nil {
			return err
		}
		if w.FailingSince.IsZero() || w.FailingSince.After(a.At) {
			w.FailingSince = a.At
			if err := setJSON(txn, webhookKey(w.ID), w); err != nil {
				return err
			}
		}
		if !w.Disabled && a.At.Sub(w.FailingSince) >= disableAfter {
			w.Disabled, disabled = true, true
			w.DisabledReason = fmt.Sprintf("deliveries failed for %s since %s", disableAfter, w.FailingSince.Format(time.RFC3339))
			if err := setJSON(txn, webhookKey(w.ID), w); err != nil {
				return err
			}
		}
		if w.Disabled {
			a.Outcome = store.OutcomeDropped
			if _, err := endDelivery(txn, d); err != nil {
				return err
			}
			return logAttempt(txn, a)
		}
		a.Outcome, a.NextAttempt = store.OutcomeRetrying, next
		var cur store.Delivery
		if err := getJSON(txn, deliveryKey(d.WebhookID, d.Event.ID), &cur); err != nil {
			if errors.Is(err, badger.ErrKeyNotFound) {
				return logAttempt(txn, a)
			}
			return err
		}
		if err := txn.Delete(deliveryDueKey(cur.Due, cur.WebhookID, cur.Event.ID)); err != nil {
			return err
		}
		cur.Attempt, cur.Due = a.Attempt, next
		if err := setJSON(txn, deliveryKey(cur.WebhookID, cur.Event.ID), cur); err != nil {
			return err
		}
		if err := txn.Set(deliveryDueKey(next, cur.WebhookID, cur.Event.ID), nil); err != nil {
			return err
		}
		return logAttempt(txn, a)
	})
	return disabled, err
}

func (b *Badger) PendingDeliveries(ctx context.Context) (int, error) {
	n := 0
	err := b.view(ctx, func(txn *tx) error {
		n = 0
		p := prefix("wd")
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

func (b *Badger) DeliveryLog(ctx context.Context, webhookID string, limit int) ([]store.DeliveryAttempt, error) {
	if err := lookupIDs("webhook", webhookID); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	var out []store.DeliveryAttempt
	err := b.view(ctx, func(txn *tx) error {
		if ok, err := exists(txn, webhookKey(webhookID)); err != nil || !ok {
			return notFound(cmpErr(err, badger.ErrKeyNotFound), "webhook", webhookID)
		}
		p := prefix("wl", webhookID)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, Reverse: true, PrefetchValues: true})
		defer it.Close()
		for it.Seek(append(append([]byte{}, p...), 0xff)); it.ValidForPrefix(p) && len(out) < limit; it.Next() {
			var a store.DeliveryAttempt
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &a) }); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}
