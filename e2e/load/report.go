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
	AgentProcesses    int
	SetupSeconds      float64

	Connected       int
	ConnectSeconds  float64
	RSSBeforeAgents int64
	RSSIdle         int64
	BytesPerAgent   float64
	IdleCPUPercent  float64

	DispatchSamples                   int
	DispatchP50, DispatchP99          time.Duration
	DispatchMax                       time.Duration
	QueueToLeaseP50, QueueToLeaseP99  time.Duration
	SmallDatasets, SmallRecords       int
	DatasetsPerSec, TransitionsPerSec float64
	BigDatasets, BigRecords           int
	RecordsPerSec                     float64
	PeakRSSRecords                    int64

	RestartReadySeconds float64
	ReconnectSeconds    float64
	ReconnectCPUPercent float64

	Baseline baseline
}

func (r *report) writeJSON(path string) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

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
		{"coordinator RSS after a restart, before the agents return / idle with them", fmt.Sprintf("%.0f MiB / %.0f MiB", float64(r.RSSBeforeAgents)/(1<<20), float64(r.RSSIdle)/(1<<20))},
		{"coordinator memory per idle agent", fmt.Sprintf("%.1f KiB", r.BytesPerAgent/1024)},
		{"coordinator CPU, idle agents heartbeating", fmt.Sprintf("%.1f%% of a core", r.IdleCPUPercent)},
		{"dispatch latency (queue answered → agent holds the lease) p50 / p99 / max", fmt.Sprintf("%s / %s / %s (%d samples)", ms(r.DispatchP50), ms(r.DispatchP99), ms(r.DispatchMax), r.DispatchSamples)},
		{"queue call sent → agent holds the lease p50 / p99", fmt.Sprintf("%s / %s", ms(r.QueueToLeaseP50), ms(r.QueueToLeaseP99))},
		{"limit: raw websocket round trip p50 / p99", fmt.Sprintf("%s / %s", ms(b.WSRoundTripP50), ms(b.WSRoundTripP99))},
		{"limit: one synced Badger write p50 / p99", fmt.Sprintf("%s / %s", ms(b.SyncWriteP50), ms(b.SyncWriteP99))},
		{"small datasets through the whole lifecycle", measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s (%d datasets of %d records)", r.DatasetsPerSec, r.SmallDatasets, r.SmallRecords))},
		{"durable transitions", measured(r.SmallDatasets, "-datasets", fmt.Sprintf("%.0f /s", r.TransitionsPerSec))},
		{"limit: synced Badger writes, 64 writers", fmt.Sprintf("%.0f /s", b.SyncWritesPerSec)},
		{"records into the cache", measured(r.BigDatasets, "-big", fmt.Sprintf("%.0f /s (%d datasets of %d records), coordinator peak RSS %.0f MiB", r.RecordsPerSec, r.BigDatasets, r.BigRecords, float64(r.PeakRSSRecords)/(1<<20)))},
		{"limit: Badger WriteBatch of the same records", fmt.Sprintf("%.0f records/s, %.1f MB/s", b.BatchRecordsPerSec, b.BatchMBPerSec)},
		{"after kill -9: coordinator ready / every agent back", fmt.Sprintf("%.1f s / %.1f s, coordinator CPU meanwhile %.0f%% of a core", r.RestartReadySeconds, r.ReconnectSeconds, r.ReconnectCPUPercent)},
	}
	fmt.Fprintf(w, "| figure | value |\n|---|---|\n")
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s |\n", row[0], row[1])
	}
}
