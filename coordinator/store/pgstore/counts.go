package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/shared/dataset"
)

// The datasets by status are counted in two tables: dataset_counts holds
// the count of each status as of the last fold, dataset_count_deltas one
// row per status a dataset write moved, not folded yet. A write adds its
// delta rows and reads no count, so concurrent transitions never contend
// on a shared counter; DatasetCounts folds the deltas into the counts, so
// a read costs the transitions since the last one. The datasets a
// company's deletion takes with it by cascade add their deltas by a
// trigger (0002_datasets.sql).

// foldBatch is how many deltas one fold transaction takes.
const foldBatch = 2000

// queueCountChange queues on b the record that a dataset left status from
// (none when "") and entered status to (none when "").
func queueCountChange(b *pgx.Batch, from, to dataset.Status) {
	delta := rules.CountChange(from, to)
	if delta == nil {
		return
	}
	statuses := make([]string, 0, len(delta))
	deltas := make([]int32, 0, len(delta))
	for s, n := range delta {
		statuses, deltas = append(statuses, string(s)), append(deltas, int32(n))
	}
	b.Queue("INSERT INTO dataset_count_deltas (status, delta) SELECT * FROM unnest($1::text[], $2::int[])",
		statuses, deltas)
}

// DatasetCounts folds in READ COMMITTED transactions that take turns (a
// lock on dataset_counts, which no writer of datasets takes), each
// statement seeing what the folds before it committed. A SERIALIZABLE
// fold, which reads the table every writer of a dataset adds to, would
// conflict with them all.
func (p *PG) DatasetCounts(ctx context.Context) (map[dataset.Status]int, error) {
	for {
		var (
			counts map[dataset.Status]int
			folded int
		)
		err := pgx.BeginFunc(ctx, p.pool, func(t pgx.Tx) error {
			if _, err := t.Exec(ctx, "LOCK TABLE dataset_counts IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return err
			}
			err := t.QueryRow(ctx, `WITH folded AS (
					DELETE FROM dataset_count_deltas WHERE id IN
						(SELECT id FROM dataset_count_deltas ORDER BY id LIMIT $1)
					RETURNING status, delta),
				added AS (
					INSERT INTO dataset_counts (status, n) SELECT status, sum(delta) FROM folded GROUP BY status
					ON CONFLICT (status) DO UPDATE SET n = dataset_counts.n + EXCLUDED.n)
				SELECT count(*) FROM folded`, foldBatch).Scan(&folded)
			if err != nil {
				return err
			}
			counts = make(map[dataset.Status]int, len(dataset.Statuses))
			for _, s := range dataset.Statuses {
				counts[s] = 0
			}
			rows, err := t.Query(ctx, "SELECT status, n FROM dataset_counts")
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var (
					s string
					n int
				)
				if err := rows.Scan(&s, &n); err != nil {
					return err
				}
				counts[dataset.Status(s)] = n
			}
			return rows.Err()
		})
		if err != nil || folded < foldBatch {
			return counts, err
		}
	}
}
