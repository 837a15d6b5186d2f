package pgstore_test

import (
	"testing"
)

// BenchmarkChannelCount: counting 15,000 held channels (what the hub does
// for the agents online, at most once per claim or release it hears of),
// beside reading one agent's channel, the cost of a one-row read.
//
//	go test -run '^$' -bench ChannelCount -benchtime 200x ./coordinator/store/pgstore/
func BenchmarkChannelCount(b *testing.B) {
	const agents = 15000
	url, p := benchDB(b, 1)
	raw := rawPool(b, url, 1)
	for _, q := range []string{
		`INSERT INTO agents (id, credential_hash, created, doc)
			SELECT 'agent-' || n, decode(md5(n::text), 'hex'), now(), '{}' FROM generate_series(1, $1) n`,
		`INSERT INTO channels (agent_id, replica, epoch) SELECT 'agent-' || n, 'r' || n % 3, 1 FROM generate_series(1, $1) n`,
	} {
		if _, err := raw.Exec(b.Context(), q, agents); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := raw.Exec(b.Context(), "VACUUM ANALYZE channels"); err != nil {
		b.Fatal(err)
	}
	b.Run("Count15000", func(b *testing.B) {
		for b.Loop() {
			n, err := p.ChannelCount(b.Context())
			if err != nil || n != agents {
				b.Fatalf("ChannelCount = %d, %v", n, err)
			}
		}
	})
	b.Run("OneChannel", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Channel(b.Context(), "agent-7"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
