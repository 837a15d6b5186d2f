package main

import (
	"strings"
	"testing"
	"time"
)

// allPhases are the phases of a run on Badger that finished them all.
var allPhases = []string{"setup", "connect", "restart", "idle", "dispatch", "datasets", "records", "baseline"}

// A run whose agents never all came online measured nothing after the
// connect: each of those figures says so, where it would print 0, and the
// limits measured after the failure are printed.
func TestReportUnfinishedPhases(t *testing.T) {
	var b strings.Builder
	(&report{Agents: 2000, Connected: 1894, AgentProcesses: 1, ConnectSeconds: 360, SetupSeconds: 80,
		Phases: []string{"setup", "baseline"}, BareBytesPerConn: 10 << 10, BareRSSBefore: 14 << 20, BareRSSIdle: 35 << 20,
		Baseline: baseline{SyncWritesPerSec: 3000, BatchRecordsPerSec: 90000, BatchMBPerSec: 30, WSRoundTripP50: 100 * time.Microsecond, WSRoundTripP99: 300 * time.Microsecond, SyncWriteP50: time.Millisecond, SyncWriteP99: 2 * time.Millisecond}}).print(&b)
	out := b.String()
	for _, want := range []string{
		"| agents connected | 1894 of 2000 (1 agent processes), 360.0 s from the first connect |",
		"| coordinator RSS after a restart, before the agents return / idle with them | not measured (the run did not finish its restart phase) / not measured (the run did not finish its idle phase) |",
		"| limit: bare server's RSS before its connections / idle with them | 14 MiB / 35 MiB; idle coordinator not measured (the run did not finish its idle phase) the idle bare server |",
		"| coordinator memory per idle agent | not measured (the run did not finish its restart phase) |",
		"| coordinator CPU, idle agents heartbeating | not measured (the run did not finish its idle phase) |",
		"| dispatch latency (queue answered → agent holds the lease) p50 / p99 / max | not measured (the run did not finish its dispatch phase) |",
		"| queue call sent → agent holds the lease p50 / p99 | not measured (the run did not finish its dispatch phase) |",
		"| small datasets through the whole lifecycle | not measured (the run did not finish its datasets phase) |",
		"| records into the cache | not measured (the run did not finish its records phase) |",
		"| after kill -9: coordinator ready / every agent back (from their resumption) | not measured (the run did not finish its restart phase) |",
		"| limit: synced Badger writes, 64 writers | 3000 /s |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, zero := range []string{"| 0 MiB", "| 0.0 KiB", " 0.00 ms", "| 0.0% of a core", "| 0.0 s /"} {
		if strings.Contains(out, zero) {
			t.Errorf("report prints %q for a figure not measured:\n%s", zero, out)
		}
	}
}

// A run with -datasets 0 and -big 0 says those phases were not measured,
// not NaN or 0 /s.
func TestReportSkippedPhases(t *testing.T) {
	var b strings.Builder
	(&report{Agents: 10, Connected: 10, Phases: allPhases}).print(&b)
	out := b.String()
	for _, want := range []string{"| small datasets through the whole lifecycle | not measured (-datasets 0) |",
		"| durable transitions | not measured (-datasets 0) |", "| records into the cache | not measured (-big 0) |"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NaN") {
		t.Errorf("report holds NaN:\n%s", out)
	}
}

// A run on PostgreSQL prints each figure beside its limit with the ratio,
// says where dispatch was queued, and says when the limit is missing
// rather than dividing by 0.
func TestReportPostgres(t *testing.T) {
	var b strings.Builder
	(&report{Store: "postgres", Replicas: 3, Phases: allPhases, Agents: 10, DispatchVia: "a replica other than the agent's",
		DispatchSamples: 5, DispatchP99: 20 * time.Millisecond, SmallDatasets: 4, TransitionsPerSec: 300,
		BigDatasets: 1, RecordsPerSec: 50000, KillReplicaBackSeconds: 2.5, KilledAgents: 4, AgentsPerReplica: []int{4, 3, 3},
		PGBaseline: pgBaseline{Writers: 32, CommitP99: 5 * time.Millisecond, CommitsPerSec: 3000}}).print(&b)
	out := b.String()
	for _, want := range []string{"queued on a replica other than the agent's", "p99 4.00× the raw commit p99",
		"300 /s, 0.10× the raw commit rate", "n/a the raw COPY", "2.5 s (4 agents were on it; per replica [4 3 3])"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
		t.Errorf("report holds NaN or Inf:\n%s", out)
	}
	if strings.Contains(out, "Badger") {
		t.Errorf("a PostgreSQL run's report has a Badger row:\n%s", out)
	}
}

// Memory per idle agent is printed beside the bare connection of the same
// run, with the ratio; n/a when the bare connection was not measured.
func TestReportMemoryRatio(t *testing.T) {
	for _, tc := range []struct {
		bare float64
		want string
	}{
		{20 << 10, "| coordinator memory per idle agent | 30.0 KiB, 1.50× the bare connection |"},
		{0, "| coordinator memory per idle agent | 30.0 KiB, n/a the bare connection |"},
	} {
		var b strings.Builder
		(&report{Agents: 10, Phases: allPhases, BytesPerAgent: 30 << 10, BareBytesPerConn: tc.bare}).print(&b)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("report lacks %q:\n%s", tc.want, b.String())
		}
	}
}

// The idle coordinator's RSS is printed beside the idle bare server's, with
// the ratio, and the settling before the first reading.
func TestReportIdleRSS(t *testing.T) {
	var b strings.Builder
	(&report{Agents: 10, Phases: allPhases, RSSBeforeAgents: 40 << 20, RSSIdle: 90 << 20, RSSSettleSeconds: 7.5, RSSSettled: true, BareRSSBefore: 10 << 20, BareRSSIdle: 30 << 20}).print(&b)
	for _, want := range []string{
		"| coordinator RSS after a restart, before the agents return / idle with them | 40 MiB / 90 MiB (settled 7.5 s, the agents paused, before the first reading) |",
		"| limit: bare server's RSS before its connections / idle with them | 10 MiB / 30 MiB; idle coordinator 3.00× the idle bare server |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

// The small datasets' CPU is printed per dataset above each process's
// idle share, with the most the machine's cores allow at that cost, with
// the agents beside the coordinator and without them, each beside the
// synced-write limit; n/a when the phase took no more than idle.
func TestReportDatasetsCeiling(t *testing.T) {
	r := report{Agents: 10, Phases: allPhases, Cores: 2, IdleCPUPercent: 20, IdleAgentsCPUPercent: 30, SmallDatasets: 2000,
		DatasetsUse: use{CoordinatorCPUPercent: 120, AgentsCPUPercent: 70, Seconds: 10}, Baseline: baseline{SyncWritesPerSec: 5000}}
	var b strings.Builder
	r.print(&b)
	want := "| CPU a small dataset above the idle coordinator's and agent processes' / the most the machine's cores allow at that cost | coordinator 5.00 ms, agent processes 2.00 ms / 214 /s on 2 cores with the agents beside it (0.04× the synced-write limit), 360 /s with the coordinator alone (0.07×) |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
	r.DatasetsUse.CoordinatorCPUPercent = 15
	b.Reset()
	r.print(&b)
	if want := "n/a (the coordinator took no more CPU than idle)"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
	if strings.Contains(b.String(), "NaN") || strings.Contains(b.String(), "Inf") {
		t.Errorf("report holds NaN or Inf:\n%s", b.String())
	}
}

// The round trip between two processes beside the dispatch is printed
// with the dispatch p99 over its p99.
func TestReportDispatchProbe(t *testing.T) {
	var b strings.Builder
	(&report{Agents: 10, Phases: allPhases, DispatchSamples: 300, DispatchP99: 20 * time.Millisecond,
		ProbeRoundTrips: 900, ProbeP50: 250 * time.Microsecond, ProbeP99: 4 * time.Millisecond, ProbeMax: 20 * time.Millisecond}).print(&b)
	want := "| meanwhile: a websocket round trip between two processes (the tool and the bare server), one every 10 ms, p50 / p99 / max | 0.25 ms / 4.00 ms / 20.00 ms (900 round trips); the dispatch p99 is 5.00× this p99 |"
	if !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
}

// The records phase says where its time went: the big datasets' upload
// and their Validating → Complete, and the machine meanwhile; a run
// with -big 0 says it measured neither.
func TestReportRecordsSplit(t *testing.T) {
	var b strings.Builder
	(&report{Agents: 10, Phases: allPhases, BigDatasets: 4, BigRecords: 50000, RecordsPerSec: 80000,
		RecordsUploadP50: 900 * time.Millisecond, RecordsUploadMax: 1100 * time.Millisecond,
		RecordsProcessP50: 1300 * time.Millisecond, RecordsProcessMax: 1700 * time.Millisecond,
		RecordsUse: use{CoordinatorCPUPercent: 120, AgentsCPUPercent: 20, MachineCPUPercent: 75}}).print(&b)
	for _, want := range []string{
		"| records split: Fetching → Validating (the upload) / Validating → Complete (validation, the snapshot's write, the swap), p50 / max | 900.00 ms, 1100.00 ms / 1300.00 ms, 1700.00 ms |",
		"| machine during the records | CPU: coordinator 120%, agent processes 20% (of a core); machine 75% busy (both cores, every process) |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	(&report{Agents: 10, Phases: allPhases}).print(&b)
	if want := "| records split: Fetching → Validating (the upload) / Validating → Complete (validation, the snapshot's write, the swap), p50 / max | not measured (-big 0) |"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
}
