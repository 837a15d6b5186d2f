package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ferry-sync/ferry/coordinator/store/pgstore/pgtest"
	"github.com/ferry-sync/ferry/e2e/sim"
)

// live is the replicas not killed by the kill-replica phase.
func (l *loadRun) live() []*sim.Coordinator {
	var out []*sim.Coordinator
	for i, c := range l.replicas {
		if i != l.killed {
			out = append(out, c)
		}
	}
	return out
}

// rss is the resident memory of the live coordinator processes, summed.
func (l *loadRun) rss() (int64, error) {
	var sum int64
	for _, c := range l.live() {
		n, err := c.RSS()
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// cpu is the CPU time of the live coordinator processes so far, summed.
func (l *loadRun) cpu() (time.Duration, error) {
	var sum time.Duration
	for _, c := range l.live() {
		n, err := c.CPU()
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// agentReplica is the index of the replica holding agent i's channel, by
// GET /agents/{id}.
func (l *loadRun) agentReplica(ctx context.Context, i int) (int, error) {
	var a struct{ Status, ReplicaID string }
	s, err := l.c.Call(ctx, "GET", "/agents/"+l.agents[i].AgentID, nil, &a)
	if err != nil || s != 200 {
		return 0, fmt.Errorf("GET /agents/%s: status %d, %v", l.agents[i].AgentID, s, err)
	}
	var r int
	if _, err := fmt.Sscanf(a.ReplicaID, "r%d", &r); err != nil || r < 0 || r >= len(l.replicas) {
		return 0, fmt.Errorf("agent %d is %s on replica %q", i, a.Status, a.ReplicaID)
	}
	return r, nil
}

// measureKillReplica kills -9 the replica holding the most agents' channels
// and times every agent's return, through HAProxy, to the others. The
// killed replica stays down for the rest of the run.
func (l *loadRun) measureKillReplica(ctx context.Context) error {
	count := make([]int, len(l.replicas))
	var mu sync.Mutex
	err := sim.Parallel(ctx, len(l.agents), 16, func(i int) error {
		r, err := l.agentReplica(ctx, i)
		if err != nil {
			return err
		}
		mu.Lock()
		count[r]++
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	victim := 0
	for i, n := range count {
		if n > count[victim] {
			victim = i
		}
	}
	l.r.AgentsPerReplica, l.r.KilledAgents = count, count[victim]
	logf("kill-replica: agents per replica %v; kill -9 r%d", count, victim)
	l.replicas[victim].Kill()
	l.killed = victim
	start := time.Now()
	if err := waitUntil(ctx, 30*time.Second, func() bool { return l.g.Online() < l.o.agents }); err != nil {
		return fmt.Errorf("agents did not notice the kill: %w", err)
	}
	err = waitUntil(ctx, 5*time.Minute, func() bool { return l.g.Online() >= l.o.agents })
	l.r.KillReplicaBackSeconds = time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("%d of %d agents back: %w", l.g.Online(), l.o.agents, err)
	}
	logf("kill-replica: all %d agents back in %.1fs", l.o.agents, l.r.KillReplicaBackSeconds)
	return nil
}

// use is what a phase used of the machine: the coordinators' CPU, the
// PostgreSQL server's, the whole machine's, and what PostgreSQL's active
// client backends were waiting on.
type use struct {
	CoordinatorCPUPercent float64 // % of one core, the live coordinators summed
	PostgresCPUPercent    float64 // % of one core, the postmaster and its children
	AgentsCPUPercent      float64 // % of one core, the agent processes
	MachineCPUPercent     float64 // % of every core together
	Seconds               float64 // how long it was sampled
	ActiveBackends        float64 // active client backends, on average
	Waits                 string  // the commonest wait events of active backends, with their share
}

// sampleUse measures use until the returned function is called, which
// returns it.
func (l *loadRun) sampleUse(ctx context.Context) func() use {
	start := time.Now()
	c0, _ := l.cpu()
	p0, a0 := l.postgresCPU(), l.agentsCPU()
	m0busy, m0all := machineCPU()
	done := make(chan struct{})
	var wg sync.WaitGroup
	waits := map[string]int{}
	var samples, active int
	if l.db != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, l.db.URL("postgres"))
			if err != nil {
				logf("pg_stat_activity: %v", err)
				return
			}
			defer conn.Close(context.Background())
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				rows, err := conn.Query(ctx, `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity
					WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
				if err == nil {
					evs, err := pgx.CollectRows(rows, pgx.RowTo[string])
					if err == nil {
						samples++
						active += len(evs)
						for _, e := range evs {
							waits[e]++
						}
					}
				}
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	return func() use {
		close(done)
		wg.Wait()
		secs := time.Since(start).Seconds()
		c1, _ := l.cpu()
		m1busy, m1all := machineCPU()
		u := use{CoordinatorCPUPercent: 100 * (c1 - c0).Seconds() / secs, AgentsCPUPercent: 100 * (l.agentsCPU() - a0).Seconds() / secs, Seconds: secs}
		if m1all > m0all {
			u.MachineCPUPercent = 100 * float64(m1busy-m0busy) / float64(m1all-m0all)
		}
		if l.db != nil {
			u.PostgresCPUPercent = 100 * (l.postgresCPU() - p0).Seconds() / secs
		}
		if samples > 0 {
			u.ActiveBackends = float64(active) / float64(samples)
			names := make([]string, 0, len(waits))
			for k := range waits {
				names = append(names, k)
			}
			slices.SortFunc(names, func(a, b string) int { return waits[b] - waits[a] })
			var parts []string
			for _, k := range names[:min(4, len(names))] {
				parts = append(parts, fmt.Sprintf("%s %.0f%%", k, 100*float64(waits[k])/float64(active)))
			}
			u.Waits = strings.Join(parts, ", ")
		}
		return u
	}
}

// postgresCPU is the CPU time so far of the postmaster and its children
// (the backends, the WAL writer, the checkpointer), from /proc; 0 on
// Badger.
func (l *loadRun) postgresCPU() time.Duration {
	if l.db == nil {
		return 0
	}
	raw, err := os.ReadFile(filepath.Join(l.db.Dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pm, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	ents, _ := os.ReadDir("/proc")
	var sum time.Duration
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, cpu, ok := procStat(pid); ok && (pid == pm || ppid == pm) {
			sum += cpu
		}
	}
	return sum
}

// agentsCPU is the CPU time so far of the agent processes.
func (l *loadRun) agentsCPU() time.Duration {
	var sum time.Duration
	for _, pid := range l.g.Pids() {
		if _, cpu, ok := procStat(pid); ok {
			sum += cpu
		}
	}
	return sum
}

// procStat reads a process's parent and its user and system time from
// /proc/pid/stat (fields 4, 14 and 15; times in ticks of 1/100 s).
func procStat(pid int) (ppid int, cpu time.Duration, ok bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, time.Duration(u+st) * 10 * time.Millisecond, true
}

// machineCPU is the machine's busy and total CPU ticks so far, from the
// first line of /proc/stat (idle and iowait count as not busy).
func machineCPU() (busy, total int64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0])
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total
}

// pgBaseline is what the same PostgreSQL server does without Ferry, in a
// database of its own, measured in the same run.
type pgBaseline struct {
	CommitP50, CommitP99 time.Duration // one single-row INSERT committed, alone
	Writers              int
	CommitsPerSec        float64 // single-row INSERT commits from Writers at once
	CopyRecordsPerSec    float64 // the records phase's record bodies by COPY, one transaction, into a table of the records table's shape
	CopyMBPerSec         float64
}

func measurePGBaseline(ctx context.Context, srv *pgtest.Server, writers, records int) (pgBaseline, error) {
	b := pgBaseline{Writers: writers}
	url, err := srv.CreateDatabase(ctx)
	if err != nil {
		return b, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return b, err
	}
	cfg.MaxConns = int32(writers)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return b, err
	}
	defer pool.Close()
	_, err = pool.Exec(ctx, `CREATE TABLE commits (id bigint PRIMARY KEY, body text NOT NULL);
		CREATE TABLE records (dataset_id text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, seq bigint NOT NULL, body bytea NOT NULL);
		CREATE UNIQUE INDEX records_id ON records (dataset_id, id, seq DESC)`)
	if err != nil {
		return b, err
	}
	body := strings.Repeat("x", 300) // about a dataset row with its timeline
	var lat []time.Duration
	for i := range 300 {
		start := time.Now()
		if _, err := pool.Exec(ctx, "INSERT INTO commits VALUES ($1, $2)", i, body); err != nil {
			return b, err
		}
		lat = append(lat, time.Since(start))
	}
	b.CommitP50, b.CommitP99, _ = sim.Percentiles(lat)
	const each = 100
	start := time.Now()
	err = sim.Parallel(ctx, writers*each, writers, func(i int) error {
		_, err := pool.Exec(ctx, "INSERT INTO commits VALUES ($1, $2)", 1000+i, body)
		return err
	})
	if err != nil {
		return b, err
	}
	b.CommitsPerSec = float64(writers*each) / time.Since(start).Seconds()

	rows := make([][]any, records)
	bytes := 0
	for i := range rows {
		raw := fmt.Appendf(nil, `{"id":"C%07d","customerName":"Customer %d of 0 Ltd","emailAddress":"accounts%d@example.com","status":"Active","modifiedDate":"2026-01-01T00:00:00Z"}`, i, i, i)
		bytes += len(raw)
		rows[i] = []any{"ds", fmt.Sprintf("C%07d", i), int64(i + 1), raw}
	}
	start = time.Now()
	err = pgx.BeginFunc(ctx, pool, func(t pgx.Tx) error {
		_, err := t.CopyFrom(ctx, pgx.Identifier{"records"}, []string{"dataset_id", "id", "seq", "body"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return b, err
	}
	secs := time.Since(start).Seconds()
	b.CopyRecordsPerSec, b.CopyMBPerSec = float64(records)/secs, float64(bytes)/secs/1e6
	return b, nil
}
