// Package metrics exports what a node does as Prometheus metrics: it implements engine.Metrics,
// observes plugin calls (runtime.Config.ObserveCall), counts the delivery queue on every scrape,
// and serves the text format. The engine knows only the engine.Metrics interface, so this is the
// one package that imports the Prometheus client.
//
// Labels are bounded sets only: formats and plugins (named by the operator, who alone loads
// plugins), outcomes, states and reasons (fixed lists). No ID of a delivery, subscription, app or
// account is ever a label, and neither is a tenant: their number has no bound.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/runtime"
	"github.com/switchyard/switchyard/sdk"
)

// Counter is what the scrape-time gauges read; engine.Store has it.
type Counter interface {
	CountDeliveries(ctx context.Context, now time.Time) (engine.DeliveryCounts, error)
}

// Buckets of the attempt durations, in seconds: from a receiver on the same network (a few ms) to
// the default 15 s delivery timeout and the longer ones a format may set.
var attemptBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30, 60}

// Buckets of plugin calls and ingest commits, in seconds: a shape takes tens of microseconds, a
// sandboxed call's deadline is 1 s; a group commit takes a millisecond or so, an fsync on a slow
// disk tens.
var fastBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Metrics is a node's Prometheus registry and the collectors in it.
type Metrics struct {
	registry *prometheus.Registry
	logger   *slog.Logger

	attempts        *prometheus.CounterVec
	attemptDuration *prometheus.HistogramVec
	deliveries      *prometheus.CounterVec
	paced           *prometheus.CounterVec
	ingestDuration  prometheus.Histogram
	ingestEvents    prometheus.Counter
	ingestFailures  prometheus.Counter
	pluginDuration  *prometheus.HistogramVec
	pluginFailures  *prometheus.CounterVec
	rateLimited     *prometheus.CounterVec
	disabled        *prometheus.CounterVec

	queue  Counter
	clock  engine.Clock
	recent minutes
}

var _ engine.Metrics = (*Metrics)(nil)

// New returns a registry with every Switchyard metric, Go's runtime and the process's. queue is
// counted on each scrape for the switchyard_deliveries gauge; clock says what "due" means.
func New(queue Counter, clock engine.Clock, logger *slog.Logger) *Metrics {
	if clock == nil {
		clock = engine.SystemClock{}
	}
	if logger == nil {
		logger = slog.Default()
	}
	m := &Metrics{registry: prometheus.NewRegistry(), logger: logger, queue: queue, clock: clock}
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_attempts_total",
		Help: "Delivery attempts recorded, by the subscription's format and the attempt's outcome (success, retry, give_up, disable, or skip: a style's rule kept the delivery from its receiver, and nothing was sent).",
	}, []string{"format", "outcome"})
	m.attemptDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchyard_attempt_duration_seconds",
		Help:    "Time one delivery attempt took: shaping, sending, reading the answer and judging it.",
		Buckets: attemptBuckets,
	}, []string{"format", "outcome"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_deliveries_total",
		Help: "Deliveries that reached an end, by format and end state (succeeded, failed, dead, skipped).",
	}, []string{"format", "outcome"})
	m.paced = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_deliveries_paced_total",
		Help: "Times a due delivery was put off, without an attempt, because its subscription's max_per_second was spent.",
	}, []string{"format"})
	m.ingestDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "switchyard_ingest_commit_duration_seconds",
		Help:    "Time one group commit of published events took in the store, failed ones included.",
		Buckets: fastBuckets,
	})
	m.ingestEvents = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchyard_ingested_events_total",
		Help: "Published events in committed groups (duplicates by idempotency key included).",
	})
	m.ingestFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchyard_ingest_commit_failures_total",
		Help: "Group commits of published events that failed; their publishers got an error.",
	})
	m.pluginDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchyard_plugin_call_duration_seconds",
		Help:    "Time one plugin call took, waiting for a free instance included, by plugin and export (shape, on_subscribe, on_response).",
		Buckets: fastBuckets,
	}, []string{"plugin", "export"})
	m.pluginFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_plugin_call_failures_total",
		Help: "Plugin calls that failed, by plugin, export and reason: error (the plugin refused), a trap's reason (timeout, out_of_memory, panic, trap, output_too_large, bad_output, exit), or other.",
	}, []string{"plugin", "export", "reason"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_rate_limited_total",
		Help: "Requests refused with 429 by a rate limit, by limit (credential: the per-credential limit).",
	}, []string{"limit"})
	m.disabled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchyard_subscriptions_disabled_total",
		Help: "Subscriptions disabled by the engine, by reason: receiver (an answer such as 410 Gone said so) or failing (failing longer than --disable-after).",
	}, []string{"reason"})
	m.registry.MustRegister(
		m.attempts, m.attemptDuration, m.deliveries, m.paced,
		m.ingestDuration, m.ingestEvents, m.ingestFailures,
		m.pluginDuration, m.pluginFailures, m.rateLimited, m.disabled,
		&queueCollector{queue: queue, clock: clock, logger: logger},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Series that exist from the start read 0 rather than missing, so rate() and alerts on them
	// work before the first event.
	m.ingestFailures.Add(0)
	m.rateLimited.WithLabelValues("credential")
	for _, r := range []string{engine.DisabledByReceiver, engine.DisabledFailing} {
		m.disabled.WithLabelValues(r)
	}
	return m
}

// Handler serves the registry in Prometheus's text format (or OpenMetrics, when asked). A metric
// that cannot be gathered (the store is unavailable) is left out and logged; the rest are served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
		// Scrapes are rare and cheap, but a stuck one must not pile up.
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Registry returns the registry, for tests and for exporters of other parts.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

func (m *Metrics) AttemptFinished(format, outcome string, next engine.DeliveryState, took time.Duration) {
	outcome = bounded(outcome, sdk.OutcomeSuccess, sdk.OutcomeRetry, sdk.OutcomeGiveUp, sdk.OutcomeDisable, engine.OutcomeSkip)
	m.attempts.WithLabelValues(format, outcome).Inc()
	m.attemptDuration.WithLabelValues(format, outcome).Observe(took.Seconds())
	m.recent.attempt(m.clock.Now(), outcome, next)
	switch next {
	case engine.DeliverySucceeded, engine.DeliveryFailed, engine.DeliveryDead, engine.DeliverySkipped:
		m.deliveries.WithLabelValues(format, string(next)).Inc()
	}
}

func (m *Metrics) IngestCommitted(events int, took time.Duration, err error) {
	m.ingestDuration.Observe(took.Seconds())
	if err != nil {
		m.ingestFailures.Inc()
		return
	}
	m.ingestEvents.Add(float64(events))
	m.recent.add(m.clock.Now(), func(c *Minute) { c.Published += int64(events) })
}

func (m *Metrics) SubscriptionDisabled(reason string) {
	m.disabled.WithLabelValues(bounded(reason, engine.DisabledByReceiver, engine.DisabledFailing)).Inc()
}

func (m *Metrics) DeliveryPaced(format string) { m.paced.WithLabelValues(format).Inc() }

func (m *Metrics) RateLimited(limit string) { m.rateLimited.WithLabelValues(limit).Inc() }

// PluginCall observes one plugin call: give it to runtime.Config.ObserveCall.
func (m *Metrics) PluginCall(plugin, export string, took time.Duration, err error) {
	export = bounded(export, sdk.ExportShape, sdk.ExportOnSubscribe, sdk.ExportOnResponse)
	m.pluginDuration.WithLabelValues(plugin, export).Observe(took.Seconds())
	if err != nil {
		m.pluginFailures.WithLabelValues(plugin, export, failureReason(err)).Inc()
	}
}

// failureReason names why a plugin call failed, from a fixed list.
func failureReason(err error) string {
	var trap *runtime.TrapError
	var refused *runtime.PluginError
	switch {
	case errors.As(err, &trap):
		return string(bounded(trap.Reason, runtime.ReasonTimeout, runtime.ReasonOutOfMemory, runtime.ReasonPanic,
			runtime.ReasonTrap, runtime.ReasonOutputTooLarge, runtime.ReasonBadOutput, runtime.ReasonExit))
	case errors.As(err, &refused):
		return "error"
	}
	return "other"
}

// bounded returns v if it is one of allowed, else "other": a label value must come from a fixed
// list even if a caller passes something new.
func bounded[T ~string](v T, allowed ...T) T {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return "other"
}

// queueCollector reads the delivery queue's size from the store on each scrape: a gauge kept in
// memory would drift from the truth across restarts, retries by hand and replays.
type queueCollector struct {
	queue  Counter
	clock  engine.Clock
	logger *slog.Logger
}

var queueDesc = prometheus.NewDesc("switchyard_deliveries",
	"Deliveries not yet ended, by state: due (pending, due now: the backlog), scheduled (pending, due later), in_flight (being attempted). Read from the store on each scrape.",
	[]string{"state"}, nil)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDesc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.queue.CountDeliveries(ctx, c.clock.Now())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		return
	}
	for state, n := range map[string]int64{"due": counts.Due, "scheduled": counts.Scheduled, "in_flight": counts.InFlight} {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), state)
	}
}
