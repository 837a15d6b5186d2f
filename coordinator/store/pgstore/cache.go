package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/ndjson"
	"github.com/ferry-sync/ferry/shared/protocol"
)

// The cache of synced records. A snapshot is the records of one dataset,
// rows of records under its dataset id, listed in cache_snapshots;
// cache_current points at the current snapshot of each (company, type).
// PublishCache writes a snapshot with COPY, a page at a time, in a
// transaction of its own, out of every reader's sight until it commits;
// then in one short transaction it points cache_current at it and
// completes the dataset. A reader reads the pointer once and then the
// records of the snapshot it names, which never change, a page at a
// time, holding the snapshot against deletion (CachedRecords): no reader
// sees a mix, and one reading a snapshot that is replaced meanwhile still
// reads all of it.
//
// A snapshot that is neither current nor of a Processing dataset is an
// orphan: the one the pointer left, or one whose swap failed. Every
// PublishCache deletes the orphans of its company and type once its own
// swap is done.

// publishLock is the first key of the advisory locks of snapshot writers;
// the second is a hash of the dataset id ("cach" in ASCII).
const publishLock = 0x63616368

// holdLock is the first key of the advisory locks between a reader taking
// its hold on a snapshot (shared) and a deletion of that snapshot
// (exclusive), the second a hash of the snapshot's dataset id ("hold"):
// a deletion's check for holds then sees every hold taken before it,
// and a reader whose snapshot is being deleted waits and finds it gone,
// before it reads a record. Without it, a deletion that checked for holds
// before a reader's hold committed went on deleting while the reader read
// its first page.
const holdLock = 0x686f6c64

// deleteUnheld deletes snapshot id unless a reader holds it (and, when
// bound is positive, only if it has fewer than bound records), in t.
func deleteUnheld(ctx context.Context, t pgx.Tx, id string, bound int) error {
	if _, err := t.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", holdLock, id); err != nil {
		return err
	}
	_, err := t.Exec(ctx, `DELETE FROM cache_snapshots s WHERE dataset_id = $1
		AND NOT EXISTS (SELECT 1 FROM snapshot_readers r WHERE r.dataset_id = s.dataset_id AND r.until > now())
		AND ($2 <= 0 OR (SELECT count(*) FROM (SELECT 1 FROM records WHERE dataset_id = $1 LIMIT $2) r) < $2)`, id, bound)
	return err
}

func (p *PG) PublishCache(ctx context.Context, companyID, datasetID string, now time.Time) (store.Dataset, error) {
	if err := rules.LookupIDs("company", companyID, "dataset", datasetID); err != nil {
		return store.Dataset{}, err
	}
	if now.IsZero() {
		return store.Dataset{}, errors.New("publish cache: time is zero")
	}
	now = now.UTC()
	d, published, err := p.publishable(ctx, companyID, datasetID)
	if err != nil {
		return d, err
	}
	if !published {
		if d, err = p.publish(ctx, d, now); err != nil {
			return d, err
		}
	}
	// The dataset is Complete and its records current: what is left to do
	// reclaims space, and a later call does it if this one cannot.
	if err := p.dropOrphanSnapshots(ctx, companyID, string(d.DataType)); err != nil && ctx.Err() == nil {
		p.log.Warn("old cached records left; the next publish deletes them", "company", companyID,
			"dataset", d.ID, "err", err)
	}
	if err := p.dropEndedPages(ctx); err != nil && ctx.Err() == nil {
		p.log.Warn("staged pages of ended datasets left; the next publish deletes them", "dataset", d.ID, "err", err)
	}
	return d, nil
}

// publishable loads a dataset to publish; published reports that it is
// Complete and its records current already.
func (p *PG) publishable(ctx context.Context, companyID, id string) (d store.Dataset, published bool, err error) {
	err = p.view(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, companyID); err != nil {
			return err
		}
		if d, err = getDataset(ctx, t, companyID, id); err != nil {
			return err
		}
		cur, err := currentSnapshot(ctx, t, companyID, string(d.DataType))
		if err != nil {
			return err
		}
		published = d.Status == dataset.Complete && cur == d.ID
		if !published && d.Status != dataset.Processing {
			return fmt.Errorf("publish dataset %s (%s): %w", id, d.Status, store.ErrTransition)
		}
		return nil
	})
	return d, published, err
}

// currentSnapshot is the id of the current snapshot of the type; "" if none.
func currentSnapshot(ctx context.Context, t pgx.Tx, companyID, dt string) (string, error) {
	var id string
	err := t.QueryRow(ctx, "SELECT dataset_id FROM cache_current WHERE company_id = $1 AND data_type = $2",
		companyID, dt).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// publish writes d's snapshot and swaps it in. A snapshot it fails to swap
// in is left to dropOrphanSnapshots, which deletes it at once when the
// dataset is past Processing already.
func (p *PG) publish(ctx context.Context, d store.Dataset, now time.Time) (store.Dataset, error) {
	err := snapshotErr(d, pgx.BeginFunc(ctx, p.pool, func(t pgx.Tx) error { return writeSnapshot(ctx, t, d, nil) }))
	if err == nil {
		var out store.Dataset
		if out, err = p.swapSnapshot(ctx, d, now); err == nil {
			return out, nil
		}
	}
	if derr := p.dropOrphanSnapshots(ctx, d.CompanyID, string(d.DataType)); derr != nil && ctx.Err() == nil {
		p.log.Warn("cached records of a failed publish left", "company", d.CompanyID, "dataset", d.ID, "err", derr)
	}
	return d, err
}

// writeSnapshot writes the records of d's staged pages as its snapshot, in
// transaction t, one COPY per page, so that memory holds one page at a
// time, calling check (unless nil) with each record first. Writers of one
// dataset take turns (an advisory lock until t ends), and a snapshot is
// written whole or not at all, so a writer that finds d's snapshot written
// already (by WriteSnapshot, by a publish whose swap failed, or that
// another replica is swapping in) leaves it as it is, and only checks its
// records. When d is no longer Validating or Processing it writes nothing:
// the swap says what happened (ErrTransition with a check).
func writeSnapshot(ctx context.Context, t pgx.Tx, d store.Dataset, check func([]byte) error) error {
	if _, err := t.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", publishLock, d.ID); err != nil {
		return err
	}
	var (
		status  dataset.Status
		written bool
	)
	err := t.QueryRow(ctx, `SELECT status, EXISTS (SELECT 1 FROM cache_snapshots WHERE dataset_id = $1)
		FROM datasets WHERE id = $1`, d.ID).Scan(&status, &written)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	switch {
	case status != dataset.Processing && status != dataset.Validating && check != nil:
		return fmt.Errorf("write the snapshot of dataset %s (%s): %w", d.ID, status, store.ErrTransition)
	case status != dataset.Processing && status != dataset.Validating, written && check == nil:
		return nil
	case written:
		return eachStagedPage(ctx, t, d, func(_ int, _, data []byte) error { return ndjson.Each(data, check) })
	}
	if _, err := t.Exec(ctx, "INSERT INTO cache_snapshots (dataset_id, company_id, data_type) VALUES ($1, $2, $3)",
		d.ID, d.CompanyID, d.DataType); err != nil {
		return err
	}
	src := &recordSource{dataset: d.ID, check: check}
	return eachStagedPage(ctx, t, d, func(n int, lines, data []byte) error {
		if err := src.page(n, lines, data); err != nil {
			return err
		}
		if _, err := t.CopyFrom(ctx, pgx.Identifier{"records"}, recordColumns, src); err != nil {
			return fmt.Errorf("page %d: %w", n, err)
		}
		return nil
	})
}

// eachStagedPage calls fn with the number, line index and data of each
// page of d staged under its live or committed lease, in page order, one
// page in memory at a time.
func eachStagedPage(ctx context.Context, t pgx.Tx, d store.Dataset, fn func(n int, lines, data []byte) error) error {
	lease := pagesLease(d)
	rows, err := t.Query(ctx, "SELECT n FROM pages WHERE dataset_id = $1 AND lease_id = $2 ORDER BY n", d.ID, lease)
	if err != nil {
		return err
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return err
	}
	for _, n := range ns {
		var lines, data []byte
		err := t.QueryRow(ctx, "SELECT lines, data FROM pages WHERE dataset_id = $1 AND lease_id = $2 AND n = $3",
			d.ID, lease, n).Scan(&lines, &data)
		if err != nil {
			return fmt.Errorf("page %d: %w", n, err)
		}
		if err := fn(n, lines, data); err != nil {
			return err
		}
	}
	return nil
}

func (p *PG) WriteSnapshot(ctx context.Context, companyID, datasetID string, check func(record []byte) error) error {
	if err := rules.LookupIDs("company", companyID, "dataset", datasetID); err != nil {
		return err
	}
	var d store.Dataset
	err := p.view(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, companyID); err != nil {
			return err
		}
		var err error
		if d, err = getDataset(ctx, t, companyID, datasetID); err != nil {
			return err
		}
		if d.Status != dataset.Validating && d.Status != dataset.Processing {
			return fmt.Errorf("write the snapshot of dataset %s (%s): %w", datasetID, d.Status, store.ErrTransition)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return snapshotErr(d, pgx.BeginFunc(ctx, p.pool, func(t pgx.Tx) error { return writeSnapshot(ctx, t, d, check) }))
}

// snapshotErr is the error of writing d's snapshot, err, for the caller.
func snapshotErr(d store.Dataset, err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23503": // the company was deleted meanwhile
		return fmt.Errorf("publish dataset %s: company %s: %w", d.ID, d.CompanyID, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("publish dataset %s: %w", d.ID, err)
	}
	return nil
}

// recordColumns are the columns of records that COPY writes.
var recordColumns = []string{"dataset_id", "id", "seq", "body"}

// recordSource gives COPY the records of one page after another, numbered
// in the order of the snapshot's lines.
type recordSource struct {
	dataset string
	// check, unless nil, is called with each record as its page is read.
	check func([]byte) error
	ids   []string
	recs  [][]byte
	i     int
	seq   int64
	row   []any
}

// page makes the records of page n the rows to copy; their ids and JSON
// share data.
func (s *recordSource) page(n int, lines, data []byte) error {
	s.ids, s.recs, s.i = s.ids[:0], s.recs[:0], -1
	add := func(id string, rec []byte) error {
		if s.check != nil {
			if err := s.check(rec); err != nil {
				return err
			}
		}
		s.ids, s.recs = append(s.ids, id), append(s.recs, rec)
		return nil
	}
	if lines != nil {
		return store.EachIndexed(lines, data, func(id, rec []byte) error { return add(string(id), rec) })
	}
	for line, rec := range ndjson.Lines(data) {
		id, err := protocol.RecordID(rec)
		if err != nil {
			return fmt.Errorf("page %d line %d: %w", n, line, err)
		}
		if err := add(id, rec); err != nil {
			return err
		}
	}
	return nil
}

func (s *recordSource) Next() bool {
	s.i++
	return s.i < len(s.ids)
}

func (s *recordSource) Values() ([]any, error) {
	s.seq++
	s.row = append(s.row[:0], s.dataset, s.ids[s.i], s.seq, s.recs[s.i])
	return s.row, nil
}

func (s *recordSource) Err() error { return nil }

// swapSnapshot makes d's snapshot current and d Complete, in one
// transaction.
func (p *PG) swapSnapshot(ctx context.Context, d store.Dataset, now time.Time) (store.Dataset, error) {
	var out store.Dataset
	dt := string(d.DataType)
	err := p.update(ctx, func(t *tx) error {
		cur, err := getDataset(ctx, t, d.CompanyID, d.ID)
		if err != nil {
			return err
		}
		out = cur
		ptr, err := currentSnapshot(ctx, t, d.CompanyID, dt)
		if err != nil {
			return err
		}
		if cur.Status == dataset.Complete && ptr == cur.ID {
			return nil // a concurrent call published it
		}
		old := cur
		if err := rules.End(&cur, dataset.Complete, now, ""); err != nil {
			return err
		}
		_, err = t.Exec(ctx, `INSERT INTO cache_current (company_id, data_type, dataset_id) VALUES ($1, $2, $3)
			ON CONFLICT (company_id, data_type) DO UPDATE SET dataset_id = EXCLUDED.dataset_id`, d.CompanyID, dt, cur.ID)
		if err != nil {
			return err
		}
		out = cur
		return putDataset(ctx, t, &old, &cur)
	})
	return out, err
}

// dropOrphanSnapshots deletes the snapshots of the type that are neither
// current nor of a Validating or Processing dataset (WriteSnapshot writes
// one while its dataset is Validating) nor held by a reader, each in a
// statement of its own. Such a snapshot can never become current (only a
// Processing dataset's swap makes one current), so deleting it in sight
// of readers is safe: a reader that reads it holds it, and the last to
// stop deletes it (stopReading).
func (p *PG) dropOrphanSnapshots(ctx context.Context, companyID, dt string) error {
	rows, err := p.pool.Query(ctx, `SELECT s.dataset_id FROM cache_snapshots s
		LEFT JOIN cache_current c ON c.company_id = s.company_id AND c.data_type = s.data_type
		LEFT JOIN datasets d ON d.id = s.dataset_id
		WHERE s.company_id = $1 AND s.data_type = $2 AND s.dataset_id IS DISTINCT FROM c.dataset_id
			AND (d.status IS NULL OR d.status NOT IN ('Validating', 'Processing'))
			AND NOT EXISTS (SELECT 1 FROM snapshot_readers r WHERE r.dataset_id = s.dataset_id AND r.until > now())`, companyID, dt)
	if err != nil {
		return err
	}
	orphans, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range orphans {
		if err := p.readCommitted(ctx, func(t *tx) error { return deleteUnheld(ctx, t, id, 0) }); err != nil {
			return err
		}
	}
	return nil
}

// recordsPage is how many records CachedRecords reads at a time.
const recordsPage = 1000

// readerHold is how long a reader's hold on the snapshot it reads lasts
// from its last page: the snapshot is not deleted before. A reader that
// pauses longer between two pages may find it gone, and fails rather
// than read a part of it.
const readerHold = 10 * time.Minute

// CachedRecords reads the snapshot in keyset pages of recordsPage
// records, in id order, each page in a statement of its own: between two
// pages, while fn takes the records (a slow HTTP client), it holds none
// of the pool's connections. The reader reads one snapshot, named by its
// id when the read starts: its records never change, and a hold in
// snapshot_readers keeps it from being deleted as an orphan while the
// read lasts (renewed with each page). Each page also checks, in its own
// statement, that the snapshot still exists (its records go in the same
// transaction as its row), so a reader never sees part of one: one
// that paused past its hold fails instead.
func (p *PG) CachedRecords(ctx context.Context, companyID string, dt string, fn func(id string, record []byte) error) error {
	if err := rules.LookupIDs("company", companyID, "data type", dt); err != nil {
		return err
	}
	for try := 0; ; try++ {
		cur, token, err := p.startReading(ctx, companyID, dt)
		if err != nil || cur == "" {
			return err
		}
		read, err := p.readSnapshot(ctx, cur, token, fn)
		p.stopReading(companyID, dt, cur, token)
		// A snapshot deleted between its pointer's read and the hold's
		// commit is found gone before any record is read: read the new one.
		if errors.Is(err, errSnapshotGone) && read == 0 && try < 10 {
			continue
		}
		return err
	}
}

// errSnapshotGone: the snapshot a reader reads was deleted.
var errSnapshotGone = errors.New("the records were replaced while being read (the read paused too long); read them again")

// startReading returns the current snapshot of the company's type ("" for
// none) and the token of the hold taken on it; store.ErrNotFound for a
// missing company.
func (p *PG) startReading(ctx context.Context, companyID, dt string) (cur, token string, err error) {
	token = uuid.NewString()
	err = p.held(ctx, func(t *tx) error {
		if _, err := getCompany(ctx, t, companyID); err != nil {
			return err
		}
		if cur, err = currentSnapshot(ctx, t, companyID, dt); err != nil || cur == "" {
			return err
		}
		// Held against its deletion until this commits (holdLock); a
		// deletion under way ends first, and the read then finds the
		// snapshot gone before its first record and reads the new one.
		if _, err := t.Exec(ctx, "SELECT pg_advisory_xact_lock_shared($1, hashtext($2))", holdLock, cur); err != nil {
			return err
		}
		_, err := t.Exec(ctx, "INSERT INTO snapshot_readers (token, dataset_id, until) VALUES ($1, $2, now() + $3 * interval '1 microsecond')",
			token, cur, readerHold.Microseconds())
		return err
	})
	return cur, token, err
}

// readSnapshot calls fn with each record of snapshot cur, a page at a
// time, renewing the hold token with each; it returns how many it read.
func (p *PG) readSnapshot(ctx context.Context, cur, token string, fn func(id string, record []byte) error) (int, error) {
	var (
		ids  []string
		recs [][]byte
		read int
	)
	for after := ""; ; {
		ids, recs = ids[:0], recs[:0]
		var b pgx.Batch
		b.Queue("UPDATE snapshot_readers SET until = now() + $2 * interval '1 microsecond' WHERE token = $1",
			token, readerHold.Microseconds())
		b.Queue(`SELECT s.ok, r.id, r.body
			FROM (SELECT EXISTS (SELECT 1 FROM cache_snapshots WHERE dataset_id = $1) AS ok) s
			LEFT JOIN LATERAL (SELECT DISTINCT ON (id) id, body FROM records
				WHERE dataset_id = $1 AND id > $2 ORDER BY id, seq DESC LIMIT $3) r ON true`, cur, after, recordsPage)
		ok, err := p.readPage(ctx, &b, &ids, &recs)
		if err != nil {
			return read, unavailable(err)
		}
		if !ok {
			return read, fmt.Errorf("snapshot %s: %w", cur, errSnapshotGone)
		}
		for i := range ids {
			if err := fn(ids[i], recs[i]); err != nil {
				return read, err
			}
			read++
		}
		if len(ids) < recordsPage {
			return read, nil
		}
		after = ids[len(ids)-1]
	}
}

// readPage sends b (the hold's renewal, then the page's query) and
// appends the page's records to ids and recs; ok is false when the
// snapshot no longer exists.
func (p *PG) readPage(ctx context.Context, b *pgx.Batch, ids *[]string, recs *[][]byte) (ok bool, err error) {
	br := p.pool.SendBatch(ctx, b)
	defer func() { err = errors.Join(err, br.Close()) }()
	if _, err := br.Exec(); err != nil {
		return false, err
	}
	rows, err := br.Query()
	if err != nil {
		return false, err
	}
	var (
		id  *string
		rec []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&ok, &id, &rec}, func() error {
		if id != nil {
			*ids, *recs = append(*ids, *id), append(*recs, rec)
		}
		return nil
	})
	return ok, err
}

// currentOf returns the current snapshot of the company's type; "" for
// none.
func (p *PG) currentOf(ctx context.Context, companyID, dt string) (string, error) {
	var cur string
	err := p.view(ctx, func(t *tx) error {
		var err error
		cur, err = currentSnapshot(ctx, t, companyID, dt)
		return err
	})
	return cur, err
}

// stopReading ends the hold token (and any hold past its end) and, when
// cur is no longer current, deletes the orphans it may have kept.
func (p *PG) stopReading(companyID, dt, cur, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := p.held(ctx, func(t *tx) error {
		_, err := t.Exec(ctx, "DELETE FROM snapshot_readers WHERE token = $1 OR until <= now()", token)
		return err
	})
	if err == nil {
		var now string
		if now, err = p.currentOf(ctx, companyID, dt); err == nil && now != cur {
			err = p.dropOrphanSnapshots(ctx, companyID, dt)
		}
	}
	if err != nil {
		p.log.Warn("end a read of cached records", "company", companyID, "dataType", dt, "err", err)
	}
}

// cachedSnapshot is the current snapshot of (company, data type) that
// could hold a record with id: "" when there is none, or id cannot be a
// record's (no stored id holds a NUL or invalid UTF-8, which a text
// parameter cannot); ErrNotFound if the company is missing.
func cachedSnapshot(ctx context.Context, t *tx, companyID, dt, id string) (string, error) {
	if _, err := getCompany(ctx, t, companyID); err != nil {
		return "", err
	}
	cur, err := currentSnapshot(ctx, t, companyID, dt)
	if err != nil || id == "" || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return "", err
	}
	return cur, nil
}

func (p *PG) CachedRecord(ctx context.Context, companyID string, dt string, id string) ([]byte, error) {
	if err := rules.LookupIDs("company", companyID, "data type", dt); err != nil {
		return nil, err
	}
	var rec []byte
	err := p.view(ctx, func(t *tx) error {
		cur, err := cachedSnapshot(ctx, t, companyID, dt, id)
		if err != nil {
			return err
		}
		if cur == "" {
			return fmt.Errorf("%s record %q: %w", dt, id, store.ErrNotFound)
		}
		err = t.QueryRow(ctx, "SELECT body FROM records WHERE dataset_id = $1 AND id = $2 ORDER BY seq DESC LIMIT 1",
			cur, id).Scan(&rec)
		return notFound(err, dt+" record", fmt.Sprintf("%q", id))
	})
	return rec, err
}

func (p *PG) CachedRecordExists(ctx context.Context, companyID string, dt string, id string) (bool, error) {
	if err := rules.LookupIDs("company", companyID, "data type", dt); err != nil {
		return false, err
	}
	var found bool
	err := p.view(ctx, func(t *tx) error {
		cur, err := cachedSnapshot(ctx, t, companyID, dt, id)
		if err != nil || cur == "" {
			return err
		}
		return t.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM records WHERE dataset_id = $1 AND id = $2)", cur, id).Scan(&found)
	})
	return found, err
}
