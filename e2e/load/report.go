package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
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

	Connected       int
	ConnectSeconds  float64
	RSSBeforeAgents int64
	RSSIdle         int64
	BytesPerAgent   float64
	IdleCPUPercent  float64
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
	SmallDatasets, SmallRecords           int
	DatasetsPerSec, TransitionsPerSec     float64
	BigDatasets, BigRecords               int
	RecordsPerSec                         float64
	PeakRSSRecords                        int64
	DatasetsUse, RecordsUse               use

	AgentsPerReplica       []int
	KilledAgents           int
	KillReplicaBackSeconds float64

	RestartReadySeconds float64
	// RSSSettleSeconds is how long the restarted coordinator took to hold
	// its RSS still, the agents paused, before RSSBeforeAgents was read.
	RSSSettleSeconds float64
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

// measured is figure, or says the phase was skipped when it measured n = 0
// (its flag was 0).
func measured(n int, flag, figure string) string {
	if n == 0 {
		return "not measured (" + flag + " 0)"
	}
	return figure
}

// print writes the figures as a Markdown table.
func (r *report) print(w io.Writer) {
	b := r.Baseline
	rows := [][2]string{
		{"agents connected", fmt.Sprintf("%d of %d (%d agent processes), %.1f s from the first connect", r.Connected, r.Agents, r.AgentProcesses, r.ConnectSeconds)},
		{"setup through the API (company, connection, link each)", fmt.Sprintf("%.1f s, %.0f agents/s", r.SetupSeconds, float64(r.Agents)/max(r.SetupSeconds, 1e-9))},
		{"coordinator RSS after a restart, before the agents return / idle with them", fmt.Sprintf("%.0f MiB / %.0f MiB (settled %.1f s, the agents paused, before the first reading)", float64(r.RSSBeforeAgents)/(1<<20), float64(r.RSSIdle)/(1<<20), r.RSSSettleSeconds)},
		{"limit: bare server's RSS before its connections / idle with them", fmt.Sprintf("%.0f MiB / %.0f MiB; idle coordinator %s the idle bare server", float64(r.BareRSSBefore)/(1<<20), float64(r.BareRSSIdle)/(1<<20), ratio(float64(r.RSSIdle), float64(r.BareRSSIdle)))},
		{"coordinator memory per idle agent", fmt.Sprintf("%.1f KiB, %s the bare connection", r.BytesPerAgent/1024, ratio(r.BytesPerAgent, r.BareBytesPerConn))},
		{"limit: RSS per idle bare websocket (gorilla, a goroutine, 1 KiB buffers)", fmt.Sprintf("%.1f KiB", r.BareBytesPerConn/1024)},
		{"coordinator CPU, idle agents heartbeating", fmt.Sprintf("%.1f%% of a core", r.IdleCPUPercent)},
		{"dispatch latency (queue answered → agent holds the lease) p50 / p99 / max", measured(r.DispatchSamples, "-dispatch", fmt.Sprintf("%s / %s / %s (%d samples); p99 %s its limit (target ≤ 2×), max %s 20 ms (target ≤ 1×)",
			ms(r.DispatchP50), ms(r.DispatchP99), ms(r.DispatchMax), r.DispatchSamples, ratio(float64(r.DispatchP99), float64(b.DispatchLimit())), ratio(float64(r.DispatchMax), float64(maxDispatch))))},
		{"dispatch split where the coordinator reads the claim: answered → claim read / claim read → agent's Fetch, p50 / p99 / max", measured(r.DispatchSamples, "-dispatch", fmt.Sprintf("%s / %s / %s; %s / %s / %s",
			ms(r.OfferLegP50), ms(r.OfferLegP99), ms(r.OfferLegMax), ms(r.ClaimLegP50), ms(r.ClaimLegP99), ms(r.ClaimLegMax)))},
		{"machine during the dispatch", measured(r.DispatchSamples, "-dispatch", fmt.Sprintf("CPU: coordinator %.0f%%, agent processes %.0f%% (of a core); machine %.0f%% busy (both cores, every process)",
			r.DispatchUse.CoordinatorCPUPercent, r.DispatchUse.AgentsCPUPercent, r.DispatchUse.MachineCPUPercent))},
		{"queue call sent → agent holds the lease p50 / p99", fmt.Sprintf("%s / %s", ms(r.QueueToLeaseP50), ms(r.QueueToLeaseP99))},
		{"limit: raw websocket round trip p50 / p99", fmt.Sprintf("%s / %s", ms(b.WSRoundTripP50), ms(b.WSRoundTripP99))},
		{"limit: one synced Badger write p50 / p99", fmt.Sprintf("%s / %s", ms(b.SyncWriteP50), ms(b.SyncWriteP99))},
		{"limit of the dispatch p99: websocket round trip p99 + synced write p99", ms(b.DispatchLimit())},
		{"small datasets through the whole lifecycle", measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s (%d datasets of %d records), %s the synced-write limit", r.DatasetsPerSec, r.SmallDatasets, r.SmallRecords, ratio(r.DatasetsPerSec, b.SyncWritesPerSec)))},
		{"durable transitions", measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s", r.TransitionsPerSec))},
		{"limit: synced Badger writes, 64 writers", fmt.Sprintf("%.0f /s", b.SyncWritesPerSec)},
		{"records into the cache", measured(r.BigDatasets, "-big", fmt.Sprintf("%.0f /s (%d datasets of %d records), %s the WriteBatch limit (target ≥ 0.7×), coordinator peak RSS %.0f MiB", r.RecordsPerSec, r.BigDatasets, r.BigRecords, ratio(r.RecordsPerSec, b.BatchRecordsPerSec), float64(r.PeakRSSRecords)/(1<<20)))},
		{"limit: Badger WriteBatch of the same records", fmt.Sprintf("%.0f records/s, %.1f MB/s", b.BatchRecordsPerSec, b.BatchMBPerSec)},
		{"after kill -9: coordinator ready / every agent back (from their resumption)", fmt.Sprintf("%.1f s / %.1f s, coordinator CPU meanwhile %.0f%% of a core", r.RestartReadySeconds, r.ReconnectSeconds, r.ReconnectCPUPercent)},
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
		{"setup through the API (company, connection, link each)", fmt.Sprintf("%.1f s, %.0f agents/s", r.SetupSeconds, float64(r.Agents)/max(r.SetupSeconds, 1e-9))},
		{"replicas' RSS before the agents connect / idle with them (summed)", fmt.Sprintf("%.0f MiB / %.0f MiB (%.1f KiB per agent)", float64(r.RSSBeforeAgents)/(1<<20), float64(r.RSSIdle)/(1<<20), r.BytesPerAgent/1024)},
		{"replicas' CPU, idle agents heartbeating (summed)", fmt.Sprintf("%.1f%% of a core", r.IdleCPUPercent)},
		{"dispatch latency, queued on " + r.DispatchVia + " (answered → agent holds the lease) p50 / p99 / max",
			fmt.Sprintf("%s / %s / %s (%d samples); p99 %s the raw commit p99", ms(r.DispatchP50), ms(r.DispatchP99), ms(r.DispatchMax), r.DispatchSamples, ratio(float64(r.DispatchP99), float64(pb.CommitP99)))},
		{"queue call sent → agent holds the lease p50 / p99", fmt.Sprintf("%s / %s", ms(r.QueueToLeaseP50), ms(r.QueueToLeaseP99))},
		{"limit: one single-row INSERT commit, alone, p50 / p99", fmt.Sprintf("%s / %s", ms(pb.CommitP50), ms(pb.CommitP99))},
		{"limit: raw websocket round trip p50 / p99", fmt.Sprintf("%s / %s", ms(b.WSRoundTripP50), ms(b.WSRoundTripP99))},
		{"small datasets through the whole lifecycle", measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s (%d datasets of %d records)", r.DatasetsPerSec, r.SmallDatasets, r.SmallRecords))},
		{"durable transitions", measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s, %s the raw commit rate", r.TransitionsPerSec, ratio(r.TransitionsPerSec, pb.CommitsPerSec)))},
		{"limit: single-row INSERT commits, " + fmt.Sprint(pb.Writers) + " writers", fmt.Sprintf("%.0f /s", pb.CommitsPerSec)},
		{"machine during the small datasets", measured(r.SmallDatasets, "-datasets", useRow(r.DatasetsUse))},
		{"records into the cache", measured(r.BigDatasets, "-big", fmt.Sprintf("%.0f /s (%d datasets of %d records), %s the raw COPY, replicas' peak RSS %.0f MiB", r.RecordsPerSec, r.BigDatasets, r.BigRecords, ratio(r.RecordsPerSec, pb.CopyRecordsPerSec), float64(r.PeakRSSRecords)/(1<<20)))},
		{"limit: COPY of the same record bodies, one transaction", fmt.Sprintf("%.0f records/s, %.1f MB/s", pb.CopyRecordsPerSec, pb.CopyMBPerSec)},
		{"machine during the records", measured(r.BigDatasets, "-big", useRow(r.RecordsUse))},
	}
	if r.KillReplicaBackSeconds > 0 {
		rows = append(rows, [2]string{"after kill -9 of the replica holding the most agents: every agent back",
			fmt.Sprintf("%.1f s (%d agents were on it; per replica %v)", r.KillReplicaBackSeconds, r.KilledAgents, r.AgentsPerReplica)})
	} else {
		rows = append(rows, [2]string{"after kill -9 of a replica", "not measured (-kill-replica not given)"})
	}
	return rows
}
