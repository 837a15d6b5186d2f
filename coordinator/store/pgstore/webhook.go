package pgstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Webhooks and their outbox
//
// webhooks holds the consumers; webhook_deliveries is the outbox, one row
// per event and consumer, read by its index on due; webhook_log is each
// consumer's delivery log. An event is put in the outbox by the
// transaction that makes it happen (emit). Deleting a consumer deletes its
// deliveries and log by cascade.

// logPrune bounds how many expired log entries one logAttempt deletes.
const logPrune = 100

// logAttempt writes a to the delivery log and deletes (at most logPrune of)
// the consumer's entries older than store.DeliveryLogRetention, so the log
// stays bounded at little cost.
func logAttempt(ctx context.Context, t *tx, a store.DeliveryAttempt) error {
	_, err := t.Exec(ctx, `DELETE FROM webhook_log WHERE (webhook_id, at, event_id, attempt) IN (
		SELECT webhook_id, at, event_id, attempt FROM webhook_log WHERE webhook_id = $1 AND at < $2
		ORDER BY at LIMIT $3)`, a.WebhookID, a.At.Add(-store.DeliveryLogRetention), logPrune)
	if err != nil {
		return err
	}
	doc, err := jsonDoc(a)
	if err != nil {
		return err
	}
	_, err = t.Exec(ctx, `INSERT INTO webhook_log (webhook_id, at, event_id, attempt, doc) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (webhook_id, at, event_id, attempt) DO UPDATE SET doc = excluded.doc`,
		a.WebhookID, a.At, a.EventID, a.Attempt, doc)
	return err
}

// emit puts e in the outbox: a delivery, due at once, for each consumer
// rules.Deliveries sends it to. conn is the connection e names (zero if
// missing). An event still pending for a consumer is not added for it again.
func emit(ctx context.Context, t *tx, e store.WebhookEvent, conn store.Connection) error {
	hooks, err := listDocs[store.Webhook](ctx, t, "SELECT doc FROM webhooks ORDER BY id")
	if err != nil || len(hooks) == 0 {
		return err
	}
	co, err := getCompany(ctx, t, e.CompanyID)
	if err != nil && !isNotFound(err) { // a company gone is named by id only
		return err
	}
	for _, d := range rules.Deliveries(e, co, conn, hooks) {
		d.Due = d.Due.UTC()
		doc, err := jsonDoc(d)
		if err != nil {
			return err
		}
		tag, err := t.Exec(ctx, `INSERT INTO webhook_deliveries (webhook_id, event_id, due, doc) VALUES ($1, $2, $3, $4)
			ON CONFLICT (webhook_id, event_id) DO NOTHING`, d.WebhookID, d.Event.ID, d.Due, doc)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 { // else the event is already on its way to this consumer
			t.change.RecordDelivery()
		}
	}
	return nil
}

// datasetEvents puts the events of d's change from old (nil for a new
// dataset) in the outbox.
func datasetEvents(ctx context.Context, t *tx, old, d *store.Dataset) error {
	evs := rules.DatasetEvents(old, d)
	if len(evs) > 0 && len(d.FirstLink) > 0 {
		firstLink, err := listDocs[store.Dataset](ctx, t, "SELECT doc FROM datasets WHERE company_id = $1 AND id = ANY($2)",
			d.CompanyID, d.FirstLink)
		if err != nil {
			return err
		}
		evs = append(evs, rules.InitialReadEvents(old, d, firstLink)...)
	}
	if len(evs) == 0 {
		return nil
	}
	conn, err := findConnection(ctx, t, d.CompanyID, d.ConnectionID)
	if err != nil {
		return err
	}
	if conn == nil {
		conn = &store.Connection{}
	}
	for _, e := range evs {
		if err := emit(ctx, t, e, *conn); err != nil {
			return err
		}
	}
	return nil
}

// connectionEvents puts the events of c's change from old in the outbox.
func connectionEvents(ctx context.Context, t *tx, old *store.Connection, c store.Connection) error {
	for _, e := range rules.ConnectionEvents(old, c, time.Now()) {
		if err := emit(ctx, t, e, c); err != nil {
			return err
		}
	}
	return nil
}

// presenceEvents puts the events of an agent's event e in the outbox,
// reading the connections it names that are still bound to the agent.
func presenceEvents(ctx context.Context, t *tx, e store.AgentEvent) error {
	if len(e.Connections) == 0 {
		return nil
	}
	conns, err := listDocs[store.Connection](ctx, t, "SELECT doc FROM connections WHERE agent_id = $1 AND id = ANY($2)",
		e.AgentID, e.Connections)
	if err != nil {
		return err
	}
	// In the order e names them, as Badger reads them.
	slices.SortStableFunc(conns, func(a, b store.Connection) int {
		return slices.Index(e.Connections, a.ID) - slices.Index(e.Connections, b.ID)
	})
	for _, ev := range rules.PresenceEvents(e, conns) {
		i := slices.IndexFunc(conns, func(c store.Connection) bool { return c.ID == ev.ConnectionID })
		if err := emit(ctx, t, ev, conns[i]); err != nil {
			return err
		}
	}
	return nil
}

func (p *PG) CreateWebhook(ctx context.Context, w store.Webhook) error {
	if err := rules.CheckWebhook(w); err != nil {
		return err
	}
	w.Created = w.Created.UTC()
	doc, err := jsonDoc(w)
	if err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		var n int
		if err := t.QueryRow(ctx, "SELECT count(*) FROM webhooks").Scan(&n); err != nil {
			return err
		}
		if n >= store.MaxWebhooks {
			return fmt.Errorf("webhook: the limit of %d consumers is reached: %w", store.MaxWebhooks, store.ErrExists)
		}
		_, err := t.Exec(ctx, "INSERT INTO webhooks (id, doc) VALUES ($1, $2)", w.ID, doc)
		if isUnique(err) {
			return fmt.Errorf("webhook %s: %w", w.ID, store.ErrExists)
		}
		return err
	})
}

func getWebhook(ctx context.Context, t *tx, id string) (store.Webhook, error) {
	w, err := getDoc[store.Webhook](ctx, t, "SELECT doc FROM webhooks WHERE id = $1", id)
	return w, notFound(err, "webhook", id)
}

// putWebhook stores a changed consumer.
func putWebhook(ctx context.Context, t *tx, w store.Webhook) error {
	doc, err := jsonDoc(w)
	if err != nil {
		return err
	}
	_, err = t.Exec(ctx, "UPDATE webhooks SET doc = $2 WHERE id = $1", w.ID, doc)
	return err
}

func (p *PG) Webhook(ctx context.Context, id string) (store.Webhook, error) {
	if err := rules.LookupIDs("webhook", id); err != nil {
		return store.Webhook{}, err
	}
	var w store.Webhook
	err := p.view(ctx, func(t *tx) (err error) {
		w, err = getWebhook(ctx, t, id)
		return err
	})
	return w, err
}

func (p *PG) Webhooks(ctx context.Context) ([]store.Webhook, error) {
	var out []store.Webhook
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.Webhook](ctx, t, "SELECT doc FROM webhooks")
		return err
	})
	store.SortWebhooks(out)
	return out, err
}

func (p *PG) DeleteWebhook(ctx context.Context, id string) error {
	if err := rules.LookupIDs("webhook", id); err != nil {
		return err
	}
	return p.update(ctx, func(t *tx) error {
		tag, err := t.Exec(ctx, "DELETE FROM webhooks WHERE id = $1", id)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("webhook %s: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func (p *PG) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []store.Delivery
	err := p.view(ctx, func(t *tx) (err error) {
		out, err = listDocs[store.Delivery](ctx, t, `SELECT doc FROM webhook_deliveries WHERE due <= $1
			ORDER BY due, webhook_id, event_id LIMIT $2`, now.UTC(), limit)
		return err
	})
	return out, err
}

// endDelivery removes d from the outbox.
func endDelivery(ctx context.Context, t *tx, d store.Delivery) error {
	_, err := t.Exec(ctx, "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND event_id = $2", d.WebhookID, d.Event.ID)
	return err
}

func (p *PG) DeliveryDone(ctx context.Context, d store.Delivery, a store.DeliveryAttempt) error {
	a.At = a.At.UTC()
	return p.update(ctx, func(t *tx) error {
		if err := endDelivery(ctx, t, d); err != nil {
			return err
		}
		w, err := getWebhook(ctx, t, d.WebhookID)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if rules.Delivered(&w, a) {
			if err := putWebhook(ctx, t, w); err != nil {
				return err
			}
		}
		return logAttempt(ctx, t, a)
	})
}

func (p *PG) DeliveryFailed(ctx context.Context, d store.Delivery, a store.DeliveryAttempt, next time.Time, disableAfter time.Duration) (bool, error) {
	a.At, next = a.At.UTC(), next.UTC()
	var disabled bool
	err := p.update(ctx, func(t *tx) error {
		disabled = false
		a := a
		w, err := getWebhook(ctx, t, d.WebhookID)
		if isNotFound(err) {
			return endDelivery(ctx, t, d)
		}
		if err != nil {
			return err
		}
		var changed bool
		if changed, disabled = rules.Failed(&w, &a, next, disableAfter); changed {
			if err := putWebhook(ctx, t, w); err != nil {
				return err
			}
		}
		if w.Disabled {
			if err := endDelivery(ctx, t, d); err != nil {
				return err
			}
			return logAttempt(ctx, t, a)
		}
		cur, err := getDoc[store.Delivery](ctx, t, "SELECT doc FROM webhook_deliveries WHERE webhook_id = $1 AND event_id = $2",
			d.WebhookID, d.Event.ID)
		if errNoRows(err) {
			return logAttempt(ctx, t, a)
		}
		if err != nil {
			return err
		}
		cur.Attempt, cur.Due = a.Attempt, next
		doc, err := jsonDoc(cur)
		if err != nil {
			return err
		}
		_, err = t.Exec(ctx, "UPDATE webhook_deliveries SET due = $3, doc = $4 WHERE webhook_id = $1 AND event_id = $2",
			cur.WebhookID, cur.Event.ID, next, doc)
		if err != nil {
			return err
		}
		return logAttempt(ctx, t, a)
	})
	return disabled, err
}

func (p *PG) PendingDeliveries(ctx context.Context) (int, error) {
	var n int
	err := p.view(ctx, func(t *tx) error {
		return t.QueryRow(ctx, "SELECT count(*) FROM webhook_deliveries").Scan(&n)
	})
	return n, err
}

func (p *PG) DeliveryLog(ctx context.Context, webhookID string, limit int) ([]store.DeliveryAttempt, error) {
	if err := rules.LookupIDs("webhook", webhookID); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	var out []store.DeliveryAttempt
	err := p.view(ctx, func(t *tx) error {
		if _, err := getWebhook(ctx, t, webhookID); err != nil {
			return err
		}
		var err error
		out, err = listDocs[store.DeliveryAttempt](ctx, t, `SELECT doc FROM webhook_log WHERE webhook_id = $1
			ORDER BY at DESC, event_id DESC, attempt DESC LIMIT $2`, webhookID, limit)
		return err
	})
	return out, err
}
