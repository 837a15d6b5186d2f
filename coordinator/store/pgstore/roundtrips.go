package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// roundTripBatch is how many samples one transaction puts.
const roundTripBatch = 1000

// roundTripKey is a ring slot: agent, resolution in seconds, slot.
type roundTripKey struct {
	agent     string
	res, slot int64
}

func (p *PG) PutRoundTrips(ctx context.Context, samples []store.RoundTrip) error {
	for _, s := range samples {
		if err := rules.LookupIDs("agent", s.AgentID); err != nil {
			return err
		}
	}
	for len(samples) > 0 {
		batch := samples[:min(len(samples), roundTripBatch)]
		samples = samples[len(batch):]
		if err := p.update(ctx, func(t *tx) error { return putRoundTrips(ctx, t, batch) }); err != nil {
			return fmt.Errorf("put round trips: %w", err)
		}
	}
	return nil
}

// putRoundTrips reads the slots the batch goes to (those alone, not the
// agents' rings), merges each sample by rules.MergeRoundTrip and writes
// the slots back.
func putRoundTrips(ctx context.Context, t *tx, batch []store.RoundTrip) error {
	var (
		ag     []string
		rs, sl []int64
	)
	for _, s := range batch {
		for _, res := range []time.Duration{store.RoundTripMinute, store.RoundTripHour} {
			slot, _ := store.RoundTripSlot(res, s.At)
			ag, rs, sl = append(ag, s.AgentID), append(rs, int64(res/time.Second)), append(sl, slot)
		}
	}
	rows, err := t.Query(ctx, `SELECT r.agent_id, r.resolution, r.slot, r.at, r.millis FROM round_trips r
		JOIN unnest($1::text[], $2::integer[], $3::integer[]) AS k (agent_id, resolution, slot)
		ON r.agent_id = k.agent_id AND r.resolution = k.resolution AND r.slot = k.slot`, ag, rs, sl)
	if err != nil {
		return err
	}
	held := map[roundTripKey]store.RoundTrip{}
	var k roundTripKey
	var rt store.RoundTrip
	_, err = pgx.ForEachRow(rows, []any{&k.agent, &k.res, &k.slot, &rt.At, &rt.Millis}, func() error {
		held[k] = store.RoundTrip{AgentID: k.agent, Resolution: time.Duration(k.res) * time.Second, At: rt.At.UTC(), Millis: rt.Millis}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range batch {
		for _, res := range []time.Duration{store.RoundTripMinute, store.RoundTripHour} {
			slot, _ := store.RoundTripSlot(res, s.At)
			k := roundTripKey{s.AgentID, int64(res / time.Second), slot}
			old, had := held[k]
			held[k] = rules.MergeRoundTrip(res, old, had, s)
		}
	}
	ag, rs, sl = ag[:0], rs[:0], sl[:0]
	var (
		ms []int64
		at []time.Time
	)
	for k, v := range held {
		ag, rs, sl, at, ms = append(ag, k.agent), append(rs, k.res), append(sl, k.slot), append(at, v.At), append(ms, v.Millis)
	}
	_, err = t.Exec(ctx, `INSERT INTO round_trips (agent_id, resolution, slot, at, millis)
		SELECT * FROM unnest($1::text[], $2::integer[], $3::integer[], $4::timestamptz[], $5::bigint[])
		ON CONFLICT (agent_id, resolution, slot) DO UPDATE SET at = EXCLUDED.at, millis = EXCLUDED.millis`, ag, rs, sl, at, ms)
	return err
}

func (p *PG) RoundTrips(ctx context.Context, agentID string, res time.Duration, from, to time.Time) ([]store.RoundTrip, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return nil, err
	}
	out := []store.RoundTrip{}
	err := p.view(ctx, func(t *tx) error {
		rows, err := t.Query(ctx, `SELECT at, millis FROM round_trips WHERE agent_id = $1 AND resolution = $2
			AND at >= $3 AND at < $4 ORDER BY at`, agentID, int64(res/time.Second), from.UTC(), to.UTC())
		if err != nil {
			return err
		}
		var s store.RoundTrip
		_, err = pgx.ForEachRow(rows, []any{&s.At, &s.Millis}, func() error {
			out = append(out, store.RoundTrip{AgentID: agentID, Resolution: res, At: s.At.UTC(), Millis: s.Millis})
			return nil
		})
		return err
	})
	return out, err
}
