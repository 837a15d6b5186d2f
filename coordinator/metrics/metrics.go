// Package metrics is the coordinator's Prometheus metrics: one registry per
// coordinator (never the global default, so that coordinators in one test
// binary do not collide), the instruments the hub and the API feed, and the
// /metrics handler. A nil *Metrics is valid and records nothing.
package metrics

import (
	"github.com/ferry-sync/ferry/coordinator/store"

	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-sync/ferry/shared/dataset"
)

// Metrics holds a coordinator's instruments.
type Metrics struct {
	reg             *prometheus.Registry
	dispatchLatency prometheus.Histogram
	datasetDuration *prometheus.HistogramVec
	datasetsEnded   *prometheus.CounterVec
	leaseExpiries   prometheus.Counter
	uploadBytes     prometheus.Counter
	uploadRecords   prometheus.Counter
	apiRequests     *prometheus.CounterVec
	agentEvents     *prometheus.CounterVec
	hookDeliveries  *prometheus.CounterVec
	hookLatency     prometheus.Histogram
	feedGaps        *prometheus.CounterVec
	transitions     *prometheus.CounterVec
}

// The outcomes of webhook deliveries, ferry_webhook_deliveries_total's
// outcome label: each attempt the dispatcher makes (or drop) counts once.
const (
	// WebhookDelivered: the consumer accepted the event.
	WebhookDelivered = "delivered"
	// WebhookFailed: an attempt failed; the delivery waits in the outbox
	// for its retry.
	WebhookFailed = "failed"
	// WebhookDisabled: the delivery left the outbox undelivered because
	// its consumer is disabled (by this failure or before) or deleted.
	WebhookDisabled = "disabled"
)

// New builds the instruments in a new registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		dispatchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ferry_dispatch_latency_seconds",
			Help: "Time from a dataset entering Queued to its first offer to an agent.",
			// 1 ms to about 9 h: an agent offline for hours is a real case.
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 13),
		}),
		datasetDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ferry_dataset_duration_seconds",
			Help:    "Time from a dataset's request to its terminal status, by that status.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 12),
		}, []string{"status"}),
		datasetsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_datasets_ended_total",
			Help: "Datasets that reached a terminal status, by that status.",
		}, []string{"status"}),
		leaseExpiries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_lease_expiries_total",
			Help: "Leases that expired (the agent went silent), each requeueing or failing a dataset.",
		}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_upload_bytes_total",
			Help: "Bytes of upload pages stored, as sent (compressed).",
		}),
		uploadRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_upload_records_total",
			Help: "Records in upload pages stored.",
		}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_api_requests_total",
			Help: "REST API requests, by route pattern and HTTP status.",
		}, []string{"route", "code"}),
		agentEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_agent_events_total",
			Help: "Agent connectivity events (Connected, Disconnected, CredentialRefused, ...), by type.",
		}, []string{"type"}),
		hookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_webhook_deliveries_total",
			Help: "Webhook delivery attempts, by outcome: delivered, failed (retried later), disabled (dropped: consumer disabled or deleted).",
		}, []string{"outcome"}),
		hookLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ferry_webhook_delivery_latency_seconds",
			Help: "Time from a webhook event being generated to its delivery being accepted, retries included.",
			// 10 ms to about 29 h: a consumer may fail for a day before it
			// is disabled.
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 13),
		}),
		feedGaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_change_feed_gaps_total",
			Help: "Gaps a subscriber of the store's change feed met (it fell behind, or changes were missed) and recovered from by reading the store again, by subscriber.",
		}, []string{"subscriber"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_dataset_transitions_total",
			Help: "Datasets that entered each status (a new dataset enters Queued), from the store's change feed: every writer's, other coordinators' included.",
		}, []string{"status"}),
	}
	for _, st := range dataset.Statuses {
		m.transitions.WithLabelValues(string(st))
	}
	for _, o := range []string{WebhookDelivered, WebhookFailed, WebhookDisabled} {
		m.hookDeliveries.WithLabelValues(o)
	}
	m.reg.MustRegister(m.dispatchLatency, m.datasetDuration, m.datasetsEnded, m.leaseExpiries,
		m.uploadBytes, m.uploadRecords, m.apiRequests, m.agentEvents, m.hookDeliveries, m.hookLatency, m.feedGaps,
		m.transitions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Online is what counts the agents online: the hub.
type Online interface {
	// OnlineCount is how many agents are online across the replicas.
	OnlineCount() int
	// ConnectedCount is how many agents have their channel to this
	// replica.
	ConnectedCount() int
}

// WatchAgentsOnline reports, at each scrape, how many agents are online
// across the replicas and how many are connected to this one.
func (m *Metrics) WatchAgentsOnline(agents Online) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ferry_agents_online",
		Help: "Agents with a live control channel to any replica sharing the store.",
	}, func() float64 { return float64(agents.OnlineCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ferry_agents_connected",
			Help: "Agents with a live control channel to this replica.",
		}, func() float64 { return float64(agents.ConnectedCount()) }))
}

// Feed is the store's change feed, as the sequence gauge reads it.
type Feed interface {
	Head() uint64
}

// WatchFeed reports, at each scrape, the sequence number of the store's
// last published change: its rate is the commits' rate.
func (m *Metrics) WatchFeed(f Feed) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ferry_change_feed_sequence",
		Help: "Sequence number of the last change the store published on its change feed.",
	}, func() float64 { return float64(f.Head()) }))
}

// Follow counts the datasets' transitions the store's change feed brings
// on sub, until ctx ends. Changes lost in a gap are not counted (the gap
// is).
func (m *Metrics) Follow(ctx context.Context, sub *store.Subscription) {
	sub.Follow(ctx, nil, func(c store.Change) {
		for _, d := range c.Datasets {
			m.transitions.WithLabelValues(string(d.To)).Inc()
		}
	}, func(*store.GapError) { m.FeedGap("metrics") })
}

// FeedGap counts a gap a subscriber of the change feed met.
func (m *Metrics) FeedGap(subscriber string) {
	if m != nil {
		m.feedGaps.WithLabelValues(subscriber).Inc()
	}
}

// Datasets is the part of the store the datasets gauge reads.
type Datasets interface {
	DatasetCounts(ctx context.Context) (map[dataset.Status]int, error)
}

// WatchDatasets reports, at each scrape, how many datasets the store holds
// in each status (bounded by a 10 s timeout). The store keeps the counts
// with each transition: a scrape costs the transitions since the last one,
// not the history.
func (m *Metrics) WatchDatasets(st Datasets) {
	m.reg.MustRegister(&datasetsCollector{count: func(ctx context.Context) (map[string]int, error) {
		counts, err := st.DatasetCounts(ctx)
		out := make(map[string]int, len(counts))
		for s, n := range counts {
			out[string(s)] = n
		}
		return out, err
	}, desc: prometheus.NewDesc("ferry_datasets", "Datasets stored, by status (history included).", []string{"status"}, nil)})
}

type datasetsCollector struct {
	count func(ctx context.Context) (map[string]int, error)
	desc  *prometheus.Desc
}

func (c *datasetsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *datasetsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
	}
}

// Dispatched records the time from a dataset entering Queued to its first
// offer.
func (m *Metrics) Dispatched(d time.Duration) {
	if m != nil {
		m.dispatchLatency.Observe(max(d, 0).Seconds())
	}
}

// DatasetEnded records a dataset reaching a terminal status after d.
func (m *Metrics) DatasetEnded(status string, d time.Duration) {
	if m != nil {
		m.datasetDuration.WithLabelValues(status).Observe(max(d, 0).Seconds())
		m.datasetsEnded.WithLabelValues(status).Inc()
	}
}

// LeaseExpired counts an expired lease.
func (m *Metrics) LeaseExpired() {
	if m != nil {
		m.leaseExpiries.Inc()
	}
}

// Uploaded counts one stored upload page.
func (m *Metrics) Uploaded(bytes int64, records int) {
	if m != nil {
		m.uploadBytes.Add(float64(bytes))
		m.uploadRecords.Add(float64(records))
	}
}

// APIRequest counts one REST API request by its route pattern
// ("GET /agents/{agentId}") and status.
func (m *Metrics) APIRequest(route string, status int) {
	if m != nil {
		m.apiRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	}
}

// AgentEvent counts one agent event by type.
func (m *Metrics) AgentEvent(typ string) {
	if m != nil {
		m.agentEvents.WithLabelValues(typ).Inc()
	}
}

// WebhookDelivery counts one webhook delivery attempt by outcome (one of
// the Webhook* constants); a delivered one also records the time since its
// event was generated.
func (m *Metrics) WebhookDelivery(outcome string, sinceGenerated time.Duration) {
	if m == nil {
		return
	}
	// The latency first: a scrape that counts the delivery sees its
	// latency too.
	if outcome == WebhookDelivered {
		m.hookLatency.Observe(max(sinceGenerated, 0).Seconds())
	}
	m.hookDeliveries.WithLabelValues(outcome).Inc()
}

// Outbox is the part of the store the webhook backlog gauge reads.
type Outbox interface {
	PendingDeliveries(ctx context.Context) (int, error)
}

// WatchWebhookOutbox reports, at each scrape, how many deliveries wait in
// the webhook outbox (bounded by a 10 s timeout).
func (m *Metrics) WatchWebhookOutbox(st Outbox) {
	desc := prometheus.NewDesc("ferry_webhook_outbox_pending",
		"Webhook deliveries in the outbox (one per event and consumer), due or waiting for a retry.", nil, nil)
	m.reg.MustRegister(&gaugeCollector{desc: desc, read: st.PendingDeliveries})
}

// gaugeCollector reports one number read at scrape time.
type gaugeCollector struct {
	desc *prometheus.Desc
	read func(ctx context.Context) (int, error)
}

func (c *gaugeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}
