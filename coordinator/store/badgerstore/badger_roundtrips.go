package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// Round-trip samples live in one ring per agent and resolution:
//
//	rt/<agent>/<res>/<slot>   RoundTrip
func roundTripKey(agent string, res time.Duration, slot int64) []byte {
	return key("rt", agent, roundTripRes(res), fmt.Sprintf("%04x", slot))
}

func roundTripRes(res time.Duration) string {
	if res == store.RoundTripHour {
		return "h"
	}
	return "m"
}

// roundTripBatch is how many samples one transaction puts.
const roundTripBatch = 500

func (b *Badger) PutRoundTrips(ctx context.Context, samples []store.RoundTrip) error {
	for _, s := range samples {
		if err := rules.LookupIDs("agent", s.AgentID); err != nil {
			return err
		}
	}
	for len(samples) > 0 {
		batch := samples[:min(len(samples), roundTripBatch)]
		samples = samples[len(batch):]
		err := b.update(ctx, func(txn *tx) error {
			for _, s := range batch {
				for _, res := range []time.Duration{store.RoundTripMinute, store.RoundTripHour} {
					slot, _ := store.RoundTripSlot(res, s.At)
					k := roundTripKey(s.AgentID, res, slot)
					var old store.RoundTrip
					err := getJSON(txn, k, &old)
					if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
						return err
					}
					if err := setJSON(txn, k, rules.MergeRoundTrip(res, old, err == nil, s)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("put round trips: %w", err)
		}
	}
	return nil
}

func (b *Badger) RoundTrips(ctx context.Context, agentID string, res time.Duration, from, to time.Time) ([]store.RoundTrip, error) {
	if err := rules.LookupIDs("agent", agentID); err != nil {
		return nil, err
	}
	var all []store.RoundTrip
	err := b.view(ctx, func(txn *tx) (err error) {
		all, err = listValues[store.RoundTrip](txn, prefix("rt", agentID, roundTripRes(res)))
		return err
	})
	if err != nil {
		return nil, err
	}
	return rules.RoundTripsBetween(all, from, to), nil
}
