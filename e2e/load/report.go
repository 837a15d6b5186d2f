package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// report is one run's figures.
type report struct {
	Started, Finished time.Time
	Agents            int
	Store             string
	Replicas          int
	AgentProcesses    int
	SetupSeconds      float64

	// Phases are the phases the run finished (setup, connect, restart,
	// idle, dispatch, datasets, records, kill-replica, baseline): a
	// figure of a phase not among them was not measured, whatever its
	// zero value says.
	Phases []string

	Connected       int
	ConnectSeconds  float64
	RSSBeforeAgents int64
	RSSIdle         int64
	BytesPerAgent   float64
	IdleCPUPercent  float64
	// IdleAgentsCPUPercent is the agent processes' CPU over the same
	// idle time: what their heartbeats take, apart from any dataset.
	IdleAgentsCPUPercent float64
	// Cores is how many CPUs the machine has (runtime.NumCPU): what the
	// coordinator and the agent processes share.
	Cores int
	// BareBytesPerConn is the limit BytesPerAgent is held against: RSS
	// per idle bare websocket (bare.go), as many as the agents.
	BareBytesPerConn float64
	// BareRSSBefore and BareRSSIdle are the bare server's RSS before its
	// connections and with them idle: the absolute figures RSSBeforeAgents
	// and RSSIdle are set beside.
	BareRSSBefore, BareRSSIdle int64

	DispatchSamples                  int
	DispatchVia                      string // where the datasets were queued
	DispatchP50, DispatchP99         time.Duration
	DispatchMax                      time.Duration
	QueueToLeaseP50, QueueToLeaseP99 time.Duration
	// The dispatch split where the coordinator reads the agent's claim:
	// the offer leg (queue answered → claim read: the change feed, the
	// offer, the agent's claim) and the claim leg (claim read → Fetch:
	// the synced claim, the claimed message, the agent's read starting).
	OfferLegP50, OfferLegP99, OfferLegMax time.Duration
	ClaimLegP50, ClaimLegP99, ClaimLegMax time.Duration
	DispatchUse                           use
	// The machine's own round trip beside the dispatch: a websocket
	// between the tool and the bare server (another process), one small
	// message there and back every 10 ms, as the dispatch paces its
	// samples, for as long as the dispatch phase ran. Where its p99 is
	// near the dispatch's, the machine's scheduling is the tail, not the
	// coordinator.
	ProbeRoundTrips                   int
	ProbeP50, ProbeP99, ProbeMax      time.Duration
	SmallDatasets, SmallRecords       int
	DatasetsPerSec, TransitionsPerSec float64
	// The small datasets' path split: how long the queue calls took
	// (the first Queued to the last, by the timelines), and each
	// dataset's Queued → Fetching (the feed, the offer, the claim) and
	// Fetching → Complete (the agent's read, its upload, the end).
	DatasetsQueueSeconds                 float64
	QueueCallers                         int
	DatasetsClaimP50, DatasetsClaimP99   time.Duration
	DatasetsFinishP50, DatasetsFinishP99 time.Duration
	BigDatasets, BigRecords              int
	// BatchRecordsPerSecBefore is the WriteBatch limit measured just
	// before the records phase (Baseline's is measured after the run).
	BatchRecordsPerSecBefore float64
	RecordsPerSec            float64
	// The big datasets' Fetching → Validating (their upload) and
	// Validating → Complete (validation, the snapshot's write, the swap).
	RecordsUploadP50, RecordsUploadMax   time.Duration
	RecordsProcessP50, RecordsProcessMax time.Duration
	PeakRSSRecords                       int64
	DatasetsUse, RecordsUse              use
	// DispatchLSM and DatasetsLSM are what Badger did during the dispatch
	// and the small datasets (lsmUse): whether it compacted then, and
	// how many table seeks a point read cost, which say why two runs of
	// one fleet differ.
	DispatchLSM, DatasetsLSM lsmUse

	AgentsPerReplica       []int
	KilledAgents           int
	KillReplicaBackSeconds float64

	RestartReadySeconds float64
	// RSSSettleSeconds is how long the restarted coordinator took to
	// settle (its RSS still and its CPU low for longer than memlimit's
	// quiet return), the agents paused, before RSSBeforeAgents was read;
	// RSSSettled is false when it had not settled by the deadline.
	RSSSettleSeconds float64
	RSSSettled       bool
	// ReconnectSeconds is from the agents' resumption to every agent back.
	ReconnectSeconds    float64
	ReconnectCPUPercent float64

	Baseline   baseline
	PGBaseline pgBaseline // on PostgreSQL only
}

func (r *report) writeJSON(path string) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// ratio is x over its limit, or n/a when the limit was not measured.
func ratio(x, limit float64) string {
	if limit == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", x/limit)
}

// maxDispatch is the target for the slowest dispatch (issue #15).
const maxDispatch = 20 * time.Millisecond

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// badger is u as a run on Badger reads it.
func (u use) badger() string {
	return fmt.Sprintf("CPU: coordinator %.0f%%, agent processes %.0f%% (of a core); machine %.0f%% busy (both cores, every process)",
		u.CoordinatorCPUPercent, u.AgentsCPUPercent, u.MachineCPUPercent)
}

// recordsSplit is the row of the big datasets' two halves: where a
// records run's time goes.
func (r *report) recordsSplit() [2]string {
	return [2]string{"records split: Fetching → Validating (the upload) / Validating → Complete (validation, the snapshot's write, the swap), p50 / max",
		r.in(measured(r.BigDatasets, "-big", fmt.Sprintf("%s, %s / %s, %s", ms(r.RecordsUploadP50), ms(r.RecordsUploadMax),
			ms(r.RecordsProcessP50), ms(r.RecordsProcessMax))), "records")}
}

// measured is figure, or says the phase was skipped when it measured n = 0
// (its flag was 0).
func measured(n int, flag, figure string) string {
	if n == 0 {
		return "not measured (" + flag + " 0)"
	}
	return figure
}

// in is figure when the run finished every one of phases, or says which
// it did not finish: a phase never reached leaves its figures at 0.
func (r *report) in(figure string, phases ...string) string {
	for _, p := range phases {
		if !r.reached(p) {
			return "not measured (the run did not finish its " + p + " phase)"
		}
	}
	return figure
}

// reached says whether the run finished phase.
func (r *report) reached(phase string) bool { return slices.Contains(r.Phases, phase) }

// mib is n bytes in MiB, or not measured when phase was not finished.
func (r *report) mib(n int64, phase string) string {
	return r.in(fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)), phase)
}

// print writes the figures as a Markdown table.
func (r *report) print(w io.Writer) {
	b := r.Baseline
	settled := ""
	if r.reached("restart") {
		settled = fmt.Sprintf(" (settled %.1f s, the agents paused, before the first reading)", r.RSSSettleSeconds)
		if !r.RSSSettled {
			settled = fmt.Sprintf(" (not settled: read after %.1f s, the agents paused, its RSS or CPU still moving)", r.RSSSettleSeconds)
		}
	}
	rows := [][2]string{
		{"agents connected", fmt.Sprintf("%d of %d (%d agent processes), %.1f s from the first connect", r.Connected, r.Agents, r.AgentProcesses, r.ConnectSeconds)},
		{"setup through the API (company, connection, link each)", r.in(fmt.Sprintf("%.1f s, %.0f agents/s", r.SetupSeconds, float64(r.Agents)/max(r.SetupSeconds, 1e-9)), "setup")},
		{"coordinator RSS after a restart, before the agents return / idle with them", fmt.Sprintf("%s / %s%s", r.mib(r.RSSBeforeAgents, "restart"), r.mib(r.RSSIdle, "idle"), settled)},
		{"limit: bare server's RSS before its connections / idle with them", r.in(fmt.Sprintf("%.0f MiB / %.0f MiB; idle coordinator %s the idle bare server", float64(r.BareRSSBefore)/(1<<20), float64(r.BareRSSIdle)/(1<<20), r.in(ratio(float64(r.RSSIdle), float64(r.BareRSSIdle)), "idle")), "baseline")},
		{"coordinator memory per idle agent", r.in(fmt.Sprintf("%.1f KiB, %s the bare connection", r.BytesPerAgent/1024, ratio(r.BytesPerAgent, r.BareBytesPerConn)), "restart", "idle")},
		{"limit: RSS per idle bare websocket (gorilla, a goroutine, 1 KiB buffers)", r.in(fmt.Sprintf("%.1f KiB", r.BareBytesPerConn/1024), "baseline")},
		{"coordinator CPU, idle agents heartbeating", r.in(fmt.Sprintf("%.1f%% of a core", r.IdleCPUPercent), "idle")},
		{"dispatch latency (queue answered → agent holds the lease) p50 / p99 / max", r.in(measured(r.DispatchSamples, "-dispatch", fmt.Sprintf("%s / %s / %s (%d samples); p99 %s its limit (target ≤ 2×), max %s 20 ms (target ≤ 1×)",
			ms(r.DispatchP50), ms(r.DispatchP99), ms(r.DispatchMax), r.DispatchSamples, ratio(float64(r.DispatchP99), float64(b.DispatchLimit())), ratio(float64(r.DispatchMax), float64(maxDispatch)))), "dispatch")},
		{"dispatch split where the coordinator reads the claim: answered → claim read / claim read → agent's Fetch, p50 / p99 / max", r.in(measured(r.DispatchSamples, "-dispatch", fmt.Sprintf("%s / %s / %s; %s / %s / %s",
			ms(r.OfferLegP50), ms(r.OfferLegP99), ms(r.OfferLegMax), ms(r.ClaimLegP50), ms(r.ClaimLegP99), ms(r.ClaimLegMax))), "dispatch")},
		{"machine during the dispatch", r.in(measured(r.DispatchSamples, "-dispatch", r.DispatchUse.badger()), "dispatch")},
		{"meanwhile: a websocket round trip between two processes (the tool and the bare server), one every 10 ms, p50 / p99 / max", r.in(measured(r.ProbeRoundTrips, "-dispatch", fmt.Sprintf("%s / %s / %s (%d round trips); the dispatch p99 is %s this p99",
			ms(r.ProbeP50), ms(r.ProbeP99), ms(r.ProbeMax), r.ProbeRoundTrips, ratio(float64(r.DispatchP99), float64(r.ProbeP99)))), "dispatch")},
		{"Badger during the dispatch (its counters)", r.in(measured(r.DispatchSamples, "-dispatch", r.DispatchLSM.String()), "dispatch")},
		{"queue call sent → agent holds the lease p50 / p99", r.in(measured(r.DispatchSamples, "-dispatch", fmt.Sprintf("%s / %s", ms(r.QueueToLeaseP50), ms(r.QueueToLeaseP99))), "dispatch")},
		{"limit: raw websocket round trip p50 / p99", r.in(fmt.Sprintf("%s / %s", ms(b.WSRoundTripP50), ms(b.WSRoundTripP99)), "baseline")},
		{"limit: one synced Badger write p50 / p99", r.in(fmt.Sprintf("%s / %s", ms(b.SyncWriteP50), ms(b.SyncWriteP99)), "baseline")},
		{"limit of the dispatch p99: websocket round trip p99 + synced write p99", r.in(ms(b.DispatchLimit()), "baseline")},
		{"small datasets through the whole lifecycle", r.in(measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s (%d datasets of %d records, queued by %d API callers), %s the synced-write limit", r.DatasetsPerSec, r.SmallDatasets, r.SmallRecords, r.QueueCallers, ratio(r.DatasetsPerSec, b.SyncWritesPerSec))), "datasets")},
		{"durable transitions", r.in(measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s", r.TransitionsPerSec)), "datasets")},
		{"small datasets split: queue calls (first → last Queued) / Queued → Fetching p50, p99 / Fetching → Complete p50, p99", r.in(measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.2f s / %s, %s / %s, %s",
			r.DatasetsQueueSeconds, ms(r.DatasetsClaimP50), ms(r.DatasetsClaimP99), ms(r.DatasetsFinishP50), ms(r.DatasetsFinishP99))), "datasets")},
		{"machine during the small datasets", r.in(measured(r.SmallDatasets, "-datasets", r.DatasetsUse.badger()), "datasets")},
		{"Badger during the small datasets (its counters)", r.in(measured(r.SmallDatasets, "-datasets", r.DatasetsLSM.String()), "datasets")},
		{"CPU a small dataset above the idle coordinator's and agent processes' / the most the machine's cores allow at that cost", r.in(measured(r.SmallDatasets, "-datasets", r.datasetsCeiling()), "idle", "datasets")},
		{"limit: synced Badger writes, 64 writers", r.in(fmt.Sprintf("%.0f /s", b.SyncWritesPerSec), "baseline")},
		{"records into the cache", r.in(measured(r.BigDatasets, "-big", fmt.Sprintf("%.0f /s (%d datasets of %d records), %s the WriteBatch limit after the run, %s the one just before the phase (target ≥ 0.7×), coordinator peak RSS %.0f MiB", r.RecordsPerSec, r.BigDatasets, r.BigRecords, ratio(r.RecordsPerSec, b.BatchRecordsPerSec), ratio(r.RecordsPerSec, r.BatchRecordsPerSecBefore), float64(r.PeakRSSRecords)/(1<<20))), "records")},
		r.recordsSplit(),
		{"machine during the records", r.in(measured(r.BigDatasets, "-big", r.RecordsUse.badger()), "records")},
		{"limit: Badger WriteBatch of the same records, after the run / just before the records phase", r.in(fmt.Sprintf("%.0f / %.0f records/s, %.1f MB/s after", b.BatchRecordsPerSec, r.BatchRecordsPerSecBefore, b.BatchMBPerSec), "baseline")},
		{"after kill -9: coordinator ready / every agent back (from their resumption)", r.in(fmt.Sprintf("%.1f s / %.1f s, coordinator CPU meanwhile %.0f%% of a core", r.RestartReadySeconds, r.ReconnectSeconds, r.ReconnectCPUPercent), "restart")},
	}
	if r.Store == "postgres" {
		rows = r.postgresRows()
	}
	fmt.Fprintf(w, "| figure | value |\n|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s |\n", row[0], row[1])
	}
}

// postgresRows are the figures of a run on PostgreSQL replicas, each
// beside the limit it is held against, with the ratio.
func (r *report) postgresRows() [][2]string {
	b, pb := r.Baseline, r.PGBaseline
	useRow := func(u use) string {
		return fmt.Sprintf("CPU: replicas %.0f%%, PostgreSQL %.0f%%, agents %.0f%% (of a core); machine %.0f%% busy (both cores, every process); PostgreSQL's active backends %.1f on average: %s",
			u.CoordinatorCPUPercent, u.PostgresCPUPercent, u.AgentsCPUPercent, u.MachineCPUPercent, u.ActiveBackends, u.Waits)
	}
	rows := [][2]string{
		{"store", fmt.Sprintf("PostgreSQL (fsync on), %d replica(s) behind HAProxy", r.Replicas)},
		{"agents connected", fmt.Sprintf("%d of %d (%d agent processes), %.1f s from the first connect", r.Connected, r.Agents, r.AgentProcesses, r.ConnectSeconds)},
		{"setup through the API (company, connection, link each)", r.in(fmt.Sprintf("%.1f s, %.0f agents/s", r.SetupSeconds, float64(r.Agents)/max(r.SetupSeconds, 1e-9)), "setup")},
		{"replicas' RSS before the agents connect / idle with them (summed)", r.in(fmt.Sprintf("%.0f MiB / %.0f MiB (%.1f KiB per agent)", float64(r.RSSBeforeAgents)/(1<<20), float64(r.RSSIdle)/(1<<20), r.BytesPerAgent/1024), "idle")},
		{"replicas' CPU, idle agents heartbeating (summed)", r.in(fmt.Sprintf("%.1f%% of a core", r.IdleCPUPercent), "idle")},
		{"dispatch latency, queued on " + r.DispatchVia + " (answered → agent holds the lease) p50 / p99 / max",
			r.in(measured(r.DispatchSamples, "-dispatch", fmt.Sprintf("%s / %s / %s (%d samples); p99 %s the raw commit p99", ms(r.DispatchP50), ms(r.DispatchP99), ms(r.DispatchMax), r.DispatchSamples, ratio(float64(r.DispatchP99), float64(pb.CommitP99)))), "dispatch")},
		{"queue call sent → agent holds the lease p50 / p99", r.in(measured(r.DispatchSamples, "-dispatch", fmt.Sprintf("%s / %s", ms(r.QueueToLeaseP50), ms(r.QueueToLeaseP99))), "dispatch")},
		{"limit: one single-row INSERT commit, alone, p50 / p99", r.in(fmt.Sprintf("%s / %s", ms(pb.CommitP50), ms(pb.CommitP99)), "baseline")},
		{"limit: raw websocket round trip p50 / p99", r.in(fmt.Sprintf("%s / %s", ms(b.WSRoundTripP50), ms(b.WSRoundTripP99)), "baseline")},
		{"small datasets through the whole lifecycle", r.in(measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s (%d datasets of %d records)", r.DatasetsPerSec, r.SmallDatasets, r.SmallRecords)), "datasets")},
		{"durable transitions", r.in(measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s, %s the raw commit rate", r.TransitionsPerSec, ratio(r.TransitionsPerSec, pb.CommitsPerSec))), "datasets")},
		{"limit: single-row INSERT commits, " + fmt.Sprint(pb.Writers) + " writers", r.in(fmt.Sprintf("%.0f /s", pb.CommitsPerSec), "baseline")},
		{"machine during the small datasets", r.in(measured(r.SmallDatasets, "-datasets", useRow(r.DatasetsUse)), "datasets")},
		{"records into the cache", r.in(measured(r.BigDatasets, "-big", fmt.Sprintf("%.0f /s (%d datasets of %d records), %s the raw COPY, replicas' peak RSS %.0f MiB", r.RecordsPerSec, r.BigDatasets, r.BigRecords, ratio(r.RecordsPerSec, pb.CopyRecordsPerSec), float64(r.PeakRSSRecords)/(1<<20))), "records")},
		r.recordsSplit(),
		{"limit: COPY of the same record bodies, one transaction", r.in(fmt.Sprintf("%.0f records/s, %.1f MB/s", pb.CopyRecordsPerSec, pb.CopyMBPerSec), "baseline")},
		{"machine during the records", r.in(measured(r.BigDatasets, "-big", useRow(r.RecordsUse)), "records")},
	}
	if r.KillReplicaBackSeconds > 0 {
		rows = append(rows, [2]string{"after kill -9 of the replica holding the most agents: every agent back",
			fmt.Sprintf("%.1f s (%d agents were on it; per replica %v)", r.KillReplicaBackSeconds, r.KilledAgents, r.AgentsPerReplica)})
	} else {
		rows = append(rows, [2]string{"after kill -9 of a replica", "not measured (-kill-replica not given)"})
	}
	return rows
}

// cpuPerDataset is the CPU in ms a small dataset took of a process (the
// coordinator or the agent processes) above what it takes idle: its
// share of a core in the datasets phase less its idle share, over the
// phase, per dataset. It is 0 when the phase took no more than idle.
func (r *report) cpuPerDataset(phasePercent, idlePercent float64) float64 {
	if r.SmallDatasets == 0 || phasePercent <= idlePercent {
		return 0
	}
	return (phasePercent - idlePercent) / 100 * r.DatasetsUse.Seconds * 1000 / float64(r.SmallDatasets)
}

// datasetsCeiling is the CPU a small dataset took of the coordinator and
// of the agent processes, and the most small datasets a second the
// machine's cores could take at that cost once the idle coordinator and
// agents have theirs: with the agents beside the coordinator, as in the
// run, and with the coordinator alone (real agents are on their own
// machines). Each is set beside the synced-write limit: a ceiling below
// the target says the CPU a dataset, not the disk, bounds the figure.
func (r *report) datasetsCeiling() string {
	coord := r.cpuPerDataset(r.DatasetsUse.CoordinatorCPUPercent, r.IdleCPUPercent)
	agents := r.cpuPerDataset(r.DatasetsUse.AgentsCPUPercent, r.IdleAgentsCPUPercent)
	if coord == 0 || r.Cores == 0 {
		return "n/a (the coordinator took no more CPU than idle)"
	}
	free := float64(r.Cores) - r.IdleCPUPercent/100
	alone := free / (coord / 1000)
	both := (free - r.IdleAgentsCPUPercent/100) / ((coord + agents) / 1000)
	return fmt.Sprintf("coordinator %.2f ms, agent processes %.2f ms / %.0f /s on %d cores with the agents beside it (%s the synced-write limit), %.0f /s with the coordinator alone (%s)",
		coord, agents, both, r.Cores, ratio(both, r.Baseline.SyncWritesPerSec), alone, ratio(alone, r.Baseline.SyncWritesPerSec))
}
