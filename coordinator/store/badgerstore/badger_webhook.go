package badgerstore

import (
	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
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

// emit puts e in the outbox: a delivery, due at once, for each consumer
// rules.Deliveries sends it to. conn is the connection e names (zero if
// missing). An event still pending for a consumer is not added for it again.
func emit(txn *tx, e store.WebhookEvent, conn store.Connection) error {
	hooks, err := listValues[store.Webhook](txn, prefix("wh"))
	if err != nil {
		return err
	}
	co, _ := getCompany(txn, e.CompanyID) // a company being deleted is named by id only
	for _, d := range rules.Deliveries(e, co, conn, hooks) {
		ok, err := exists(txn, deliveryKey(d.WebhookID, d.Event.ID))
		if err != nil {
			return err
		}
		if ok {
			continue // the event is already on its way to this consumer
		}
		if err := setJSON(txn, deliveryKey(d.WebhookID, d.Event.ID), d); err != nil {
			return err
		}
		if err := txn.Set(deliveryDueKey(d.Due, d.WebhookID, d.Event.ID), nil); err != nil {
			return err
		}
		txn.change.RecordDelivery()
	}
	return nil
}

// datasetEvents emits the events of d's change from old.
func datasetEvents(txn *tx, old, d *store.Dataset) error {
	evs := rules.DatasetEvents(old, d)
	if len(evs) > 0 && len(d.FirstLink) > 0 && d.Status.Terminal() && (old == nil || !old.Status.Terminal()) {
		// The first link's others are read until one is missing or not
		// terminal: InitialReadEvents has no event then, and an offer
		// pass's ReportAll would otherwise read every sibling for each of
		// its reports.
		var firstLink []store.Dataset
		for _, id := range d.FirstLink {
			if id == d.ID {
				continue
			}
			f, err := getDataset(txn, d.CompanyID, id)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			if !f.Status.Terminal() {
				break
			}
			firstLink = append(firstLink, f)
		}
		evs = append(evs, rules.InitialReadEvents(old, d, firstLink)...)
	}
	if len(evs) == 0 {
		return nil
	}
	conn, err := findConnection(txn, d.CompanyID, d.ConnectionID)
	if err != nil {
		return err
	}
	if conn == nil {
		conn = &store.Connection{}
	}
	for _, e := range evs {
		if err := emit(txn, e, *conn); err != nil {
			return err
		}
	}
	return nil
}

// connectionEvents emits the events of c's change from old.
func connectionEvents(txn *tx, old *store.Connection, c store.Connection) error {
	for _, e := range rules.ConnectionEvents(old, c, time.Now()) {
		if err := emit(txn, e, c); err != nil {
			return err
		}
	}
	return nil
}

// presenceEvents emits the events of an agent's event e, reading the
// connections it names that are still bound to the agent.
func presenceEvents(txn *tx, e store.AgentEvent) error {
	var conns []store.Connection
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
		conns = append(conns, c)
	}
	for _, ev := range rules.PresenceEvents(e, conns) {
		i := slices.IndexFunc(conns, func(c store.Connection) bool { return c.ID == ev.ConnectionID })
		if err := emit(txn, ev, conns[i]); err != nil {
			return err
		}
	}
	return nil
}

func (b *Badger) CreateWebhook(ctx context.Context, w store.Webhook) error {
	if err := rules.CheckWebhook(w); err != nil {
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
	if err := rules.LookupIDs("webhook", id); err != nil {
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
		var err error
		out, err = listValues[store.Webhook](txn, prefix("wh"))
		return err
	})
	store.SortWebhooks(out)
	return out, err
}

func (b *Badger) DeleteWebhook(ctx context.Context, id string) error {
	if err := rules.LookupIDs("webhook", id); err != nil {
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
	var out []store.Delivery
	err := b.update(ctx, func(txn *tx) error {
		out = out[:0]
		for _, k := range dueKeys(txn, "wq", now, limit) {
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
		if rules.Delivered(&w, a) {
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
		var changed bool
		if changed, disabled = rules.Failed(&w, &a, next, disableAfter); changed {
			if err := setJSON(txn, webhookKey(w.ID), w); err != nil {
				return err
			}
		}
		if w.Disabled {
			if _, err := endDelivery(txn, d); err != nil {
				return err
			}
			return logAttempt(txn, a)
		}
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
	if err := rules.LookupIDs("webhook", webhookID); err != nil {
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
		var err error
		out, err = listNewest[store.DeliveryAttempt](txn, prefix("wl", webhookID), limit)
		return err
	})
	return out, err
}
