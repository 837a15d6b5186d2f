package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
)

var _ store.DumpStore = (*PG)(nil)

// Export reads the whole database in one REPEATABLE READ transaction, so
// what it yields is one snapshot whatever commits meanwhile. It yields
// one table after another, parents before children.
func (p *PG) Export(ctx context.Context, fn func(store.Item) error) error {
	return p.view(ctx, func(t *tx) error {
		err := eachRow(ctx, t, "SELECT name, value FROM secrets ORDER BY name", func(r pgx.Rows) error {
			var s store.Secret
			if err := r.Scan(&s.Name, &s.Value); err != nil {
				return err
			}
			return fn(s)
		})
		if err != nil {
			return err
		}
		err = eachDoc(ctx, t,
			docQuery{"SELECT doc FROM api_keys ORDER BY created, id", decodeTo[store.APIKey](fn)},
			docQuery{"SELECT doc FROM agents ORDER BY created, id", decodeTo[store.Agent](fn)},
			docQuery{"SELECT doc FROM settings WHERE name = 'profile'", func(doc []byte) error {
				var ps store.ProfileSettings
				if err := json.Unmarshal(doc, &ps.Settings); err != nil {
					return fmt.Errorf("decode profile settings: %w", err)
				}
				return fn(ps)
			}},
			docQuery{"SELECT doc FROM settings WHERE name = 'syncWindow'", func(doc []byte) error {
				var pw store.ProfileWindow
				if err := json.Unmarshal(doc, &pw.Window); err != nil {
					return fmt.Errorf("decode profile sync window: %w", err)
				}
				return fn(pw)
			}},
			docQuery{"SELECT doc FROM settings WHERE name = 'profileDoc'", decodeTo[store.Profile](fn)},
			docQuery{"SELECT doc FROM webhooks ORDER BY id", decodeTo[store.Webhook](fn)},
			docQuery{"SELECT doc FROM companies ORDER BY created, id", decodeTo[store.Company](fn)},
			docQuery{"SELECT doc FROM company_settings ORDER BY company_id", decodeTo[store.CompanySyncSettings](fn)},
			docQuery{"SELECT doc FROM connections ORDER BY company_id, created, id", decodeTo[store.Connection](fn)},
			docQuery{"SELECT doc FROM link_codes ORDER BY connection_id, hash", decodeTo[store.LinkCode](fn)},
			docQuery{"SELECT doc FROM schedules ORDER BY connection_id, data_type", decodeTo[store.ScheduledSync](fn)},
			docQuery{"SELECT doc FROM datasets ORDER BY company_id, requested, id", decodeTo[store.Dataset](fn)},
		)
		if err != nil {
			return err
		}
		if err := exportDatasetData(ctx, t, fn); err != nil {
			return err
		}
		return eachDoc(ctx, t,
			docQuery{"SELECT doc FROM webhook_deliveries ORDER BY webhook_id, event_id", decodeTo[store.Delivery](fn)},
			docQuery{"SELECT doc FROM webhook_log ORDER BY webhook_id, at, event_id, attempt", decodeTo[store.DeliveryAttempt](fn)},
			docQuery{"SELECT doc FROM agent_events ORDER BY agent_id, at, id", decodeTo[store.AgentEvent](fn)},
		)
	})
}

// exportDatasetData yields the validations, the current snapshots'
// records and the committed pages of the datasets the coordinator has
// still to finish.
func exportDatasetData(ctx context.Context, t *tx, fn func(store.Item) error) error {
	err := eachRow(ctx, t, `SELECT d.company_id, v.dataset_id, v.doc FROM validations v
		JOIN datasets d ON d.id = v.dataset_id ORDER BY v.dataset_id`, func(r pgx.Rows) error {
		var (
			v   store.Validation
			doc []byte
		)
		if err := r.Scan(&v.CompanyID, &v.DatasetID, &doc); err != nil {
			return err
		}
		if err := json.Unmarshal(doc, &v.Result); err != nil {
			return fmt.Errorf("decode validation of dataset %s: %w", v.DatasetID, err)
		}
		return fn(v)
	})
	if err != nil {
		return err
	}
	err = eachRow(ctx, t, `SELECT c.company_id, c.data_type, c.dataset_id, r.id, r.body FROM cache_current c
		CROSS JOIN LATERAL (SELECT DISTINCT ON (id) id, body FROM records
			WHERE dataset_id = c.dataset_id ORDER BY id, seq DESC) r
		ORDER BY c.company_id, c.data_type, r.id`, func(r pgx.Rows) error {
		var rec store.CachedRecord
		if err := r.Scan(&rec.CompanyID, &rec.DataType, &rec.DatasetID, &rec.ID, &rec.Data); err != nil {
			return err
		}
		return fn(rec)
	})
	if err != nil {
		return err
	}
	// The datasets to finish are few: their committed leases are read
	// first, then their pages under those leases.
	var leases [][2]string
	err = eachRow(ctx, t, `SELECT d.doc FROM dataset_unprocessed u JOIN datasets d ON d.id = u.dataset_id
		ORDER BY u.dataset_id`, func(r pgx.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		var d store.Dataset
		if err := json.Unmarshal(doc, &d); err != nil {
			return fmt.Errorf("decode dataset: %w", err)
		}
		leases = append(leases, [2]string{d.ID, d.CommittedLease})
		return nil
	})
	if err != nil {
		return err
	}
	for _, l := range leases {
		err := eachRow(ctx, t, `SELECT dataset_id, lease_id, n, agent_id, records, data FROM pages
			WHERE dataset_id = $1 AND lease_id = $2 ORDER BY n`, func(r pgx.Rows) error {
			var pg store.Page
			if err := r.Scan(&pg.DatasetID, &pg.LeaseID, &pg.N, &pg.AgentID, &pg.Records, &pg.Data); err != nil {
				return err
			}
			return fn(pg)
		}, l[0], l[1])
		if err != nil {
			return err
		}
	}
	return nil
}

// eachRow calls each with every row of the query, in its order.
func eachRow(ctx context.Context, t *tx, sql string, each func(pgx.Rows) error, args ...any) error {
	rows, err := t.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// docQuery is a query of one doc column, and what to do with each doc.
type docQuery struct {
	sql  string
	each func(doc []byte) error
}

// eachDoc runs the queries in turn, calling each query's each with the
// docs it returns, in its order.
func eachDoc(ctx context.Context, t *tx, qs ...docQuery) error {
	for _, q := range qs {
		err := eachRow(ctx, t, q.sql, func(r pgx.Rows) error {
			var doc []byte
			if err := r.Scan(&doc); err != nil {
				return err
			}
			return q.each(doc)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeTo decodes a doc as T and yields it to fn.
func decodeTo[T store.Item](fn func(store.Item) error) func(doc []byte) error {
	return func(doc []byte) error {
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return fmt.Errorf("decode %s: %w", v.Kind(), err)
		}
		return fn(v)
	}
}

// Import writes the whole dump in one transaction, with COPY, table by
// table in batches: an import that fails leaves the database as it was.
// It fills the columns as the store's own writes do, the cache's
// snapshot pointers and the dataset counts.
func (p *PG) Import(ctx context.Context, items func(yield func(store.Item) error) error) error {
	err := pgx.BeginFunc(ctx, p.pool, func(t pgx.Tx) error {
		im := &importer{ctx: ctx, tx: t, rows: make([][][]any, len(importTables)),
			snapshots: map[[2]string]string{}, counts: map[dataset.Status]int{}}
		if err := items(im.put); err != nil {
			return err
		}
		return im.finish()
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

// importTable is a table an import copies rows into.
type importTable struct {
	name string
	cols []string
}

// The tables of an import, in the order their foreign keys need: rows
// are copied into each in turn. Their columns are the schema's
// (migrations/), filled as the store's writes fill them: a change to
// either must change them too, or TestCopyRoundTrip fails.
const (
	tSecrets = iota
	tAPIKeys
	tAgents
	tSettings
	tWebhooks
	tCompanies
	tCompanySettings
	tConnections
	tLinkCodes
	tSchedules
	tDatasets
	tActive
	tQueue
	tLeases
	tUnprocessed
	tComplete
	tValidations
	tRecords
	tPages
	tDeliveries
	tLog
	tAgentEvents
)

var importTables = []importTable{
	tSecrets:         {"secrets", []string{"name", "value"}},
	tAPIKeys:         {"api_keys", []string{"id", "hash", "created", "doc"}},
	tAgents:          {"agents", []string{"id", "credential_hash", "created", "doc"}},
	tSettings:        {"settings", []string{"name", "doc"}},
	tWebhooks:        {"webhooks", []string{"id", "doc"}},
	tCompanies:       {"companies", []string{"id", "created", "doc"}},
	tCompanySettings: {"company_settings", []string{"company_id", "doc"}},
	tConnections:     {"connections", []string{"id", "company_id", "agent_id", "created", "doc"}},
	tLinkCodes:       {"link_codes", []string{"hash", "connection_id", "doc"}},
	tSchedules:       {"schedules", []string{"connection_id", "data_type", "due", "doc"}},
	tDatasets:        {"datasets", []string{"id", "company_id", "connection_id", "data_type", "requested", "status", "doc"}},
	tActive:          {"dataset_active", []string{"connection_id", "data_type", "dataset_id"}},
	tQueue:           {"dataset_queue", []string{"dataset_id", "connection_id", "sync_order", "requested"}},
	tLeases:          {"dataset_leases", []string{"dataset_id", "expires", "agent_id"}},
	tUnprocessed:     {"dataset_unprocessed", []string{"dataset_id"}},
	tComplete:        {"dataset_complete", []string{"dataset_id", "company_id", "data_type", "requested"}},
	tValidations:     {"validations", []string{"dataset_id", "doc"}},
	tRecords:         {"records", []string{"dataset_id", "id", "seq", "body"}},
	tPages:           {"pages", []string{"dataset_id", "lease_id", "n", "agent_id", "records", "data"}},
	tDeliveries:      {"webhook_deliveries", []string{"webhook_id", "event_id", "due", "doc"}},
	tLog:             {"webhook_log", []string{"webhook_id", "at", "event_id", "attempt", "doc"}},
	tAgentEvents:     {"agent_events", []string{"id", "agent_id", "at", "doc"}},
}

// copyBatch bounds what an import holds before it copies: so many rows,
// or so many bytes of records and pages.
const (
	copyBatchRows  = 5000
	copyBatchBytes = 32 << 20
)

// importer is one Import: its transaction, the rows waiting to be copied
// (by table) and what it writes at the end.
type importer struct {
	ctx    context.Context
	tx     pgx.Tx
	rows   [][][]any
	held   int // rows held
	bytes  int // bytes of records and pages held
	seq    int64
	counts map[dataset.Status]int
	// snapshots are the current snapshots: dataset id by company and type.
	snapshots map[[2]string]string
}

// add holds a row for table; size is its bulk, if any.
func (im *importer) add(table int, size int, row ...any) error {
	im.rows[table] = append(im.rows[table], row)
	im.held++
	im.bytes += size
	if im.held >= copyBatchRows || im.bytes >= copyBatchBytes {
		return im.flush()
	}
	return nil
}

// addDoc holds a row whose last column is v's JSON.
func (im *importer) addDoc(table int, v any, cols ...any) error {
	doc, err := jsonDoc(v)
	if err != nil {
		return err
	}
	return im.add(table, 0, append(cols, doc)...)
}

// flush copies the rows held, table by table in importTables' order, so
// that every row's parents are in before it.
func (im *importer) flush() error {
	for i, rows := range im.rows {
		if len(rows) == 0 {
			continue
		}
		tb := importTables[i]
		if _, err := im.tx.CopyFrom(im.ctx, pgx.Identifier{tb.name}, tb.cols, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy into %s: %w", tb.name, err)
		}
		im.rows[i] = rows[:0]
	}
	im.held, im.bytes = 0, 0
	return nil
}

// nullTime is t, or NULL when t is zero.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// nullString is s, or NULL when s is empty.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (im *importer) put(it store.Item) error {
	if err := im.ctx.Err(); err != nil {
		return err
	}
	switch v := it.(type) {
	case store.Secret:
		return im.add(tSecrets, 0, v.Name, v.Value)
	case store.APIKey:
		return im.addDoc(tAPIKeys, v, v.ID, v.Hash, v.Created.UTC())
	case store.Agent:
		return im.addDoc(tAgents, v, v.ID, v.CredentialHash, v.Created.UTC())
	case store.ProfileSettings:
		return im.addDoc(tSettings, v.Settings, "profile")
	case store.ProfileWindow:
		return im.addDoc(tSettings, v.Window, "syncWindow")
	case store.Profile:
		return im.addDoc(tSettings, v, "profileDoc")
	case store.Webhook:
		return im.addDoc(tWebhooks, v, v.ID)
	case store.Company:
		return im.addDoc(tCompanies, v, v.ID, v.Created.UTC())
	case store.CompanySyncSettings:
		return im.addDoc(tCompanySettings, v, v.CompanyID)
	case store.Connection:
		return im.addDoc(tConnections, v, v.ID, v.CompanyID, nullString(v.AgentID), v.Created.UTC())
	case store.LinkCode:
		return im.addDoc(tLinkCodes, v, v.Hash, v.ConnectionID)
	case store.ScheduledSync:
		return im.addDoc(tSchedules, v, v.ConnectionID, string(v.DataType), nullTime(v.Due))
	case store.Dataset:
		return im.dataset(v)
	case store.Validation:
		return im.addDoc(tValidations, v.Result, v.DatasetID)
	case store.CachedRecord:
		im.snapshots[[2]string{v.CompanyID, string(v.DataType)}] = v.DatasetID
		im.seq++
		return im.add(tRecords, len(v.Data), v.DatasetID, v.ID, im.seq, v.Data)
	case store.Page:
		return im.add(tPages, len(v.Data), v.DatasetID, v.LeaseID, v.N, v.AgentID, v.Records, v.Data)
	case store.Delivery:
		return im.addDoc(tDeliveries, v, v.WebhookID, v.Event.ID, v.Due.UTC())
	case store.DeliveryAttempt:
		return im.addDoc(tLog, v, v.WebhookID, v.At.UTC(), v.EventID, v.Attempt)
	case store.AgentEvent:
		return im.addDoc(tAgentEvents, v, v.ID, v.AgentID, v.At.UTC())
	}
	return fmt.Errorf("a dump item of type %T, unknown to the store", it)
}

// dataset holds a dataset's row and its rows in the lookup tables its
// state puts it in (lookupsOf, as putDataset writes them), and counts it.
func (im *importer) dataset(d store.Dataset) error {
	im.counts[d.Status]++
	requested, dt := d.Requested.UTC(), string(d.DataType)
	err := im.addDoc(tDatasets, d, d.ID, d.CompanyID, d.ConnectionID, dt, requested, string(d.Status))
	if err != nil {
		return err
	}
	l := lookupsOf(&d)
	rows := []struct {
		in    bool
		table int
		row   []any
	}{
		{l.active, tActive, []any{d.ConnectionID, dt, d.ID}},
		{l.queued, tQueue, []any{d.ID, d.ConnectionID, d.SyncOrder, requested}},
		{l.inFlight, tLeases, []any{d.ID, l.expires, nullString(l.agent)}},
		{l.unprocessed, tUnprocessed, []any{d.ID}},
		{d.Status == dataset.Complete, tComplete, []any{d.ID, d.CompanyID, dt, requested}},
	}
	for _, r := range rows {
		if !r.in {
			continue
		}
		if err := im.add(r.table, 0, r.row...); err != nil {
			return err
		}
	}
	return nil
}

// finish copies the rows still held, then points each company's data
// types at their current snapshots and writes the dataset counts.
func (im *importer) finish() error {
	if err := im.flush(); err != nil {
		return err
	}
	for k, ds := range im.snapshots {
		_, err := im.tx.Exec(im.ctx, `INSERT INTO cache_snapshots (dataset_id, company_id, data_type) VALUES ($1, $2, $3)`,
			ds, k[0], k[1])
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", ds, err)
		}
		_, err = im.tx.Exec(im.ctx, `INSERT INTO cache_current (company_id, data_type, dataset_id) VALUES ($1, $2, $3)`,
			k[0], k[1], ds)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", ds, err)
		}
	}
	for s, n := range im.counts {
		if _, err := im.tx.Exec(im.ctx, `INSERT INTO dataset_counts (status, n) VALUES ($1, $2)
			ON CONFLICT (status) DO UPDATE SET n = EXCLUDED.n`, string(s), n); err != nil {
			return fmt.Errorf("dataset counts: %w", err)
		}
	}
	return nil
}
