package engine

import "time"

// Metrics is told what the engine does, for whoever counts it (package engine/metrics exports it
// to Prometheus). It is an interface so that the engine imports no metrics library, and so that a
// test or another exporter can take its place. Every method is called on a hot path: it must be
// quick and must not block. Labels an implementation derives from the arguments must stay bounded:
// formats and plugins are named by the operator, outcomes and states are fixed sets; no delivery,
// subscription, app or account ID is ever passed.
type Metrics interface {
	// AttemptFinished is called once per recorded attempt: the subscription's format, the attempt's
	// outcome (sdk.Outcome*), the delivery's next state, and how long the attempt took.
	AttemptFinished(format, outcome string, next DeliveryState, took time.Duration)
	// IngestCommitted is called once per group commit of published events, failed or not.
	IngestCommitted(events int, took time.Duration, err error)
	// SubscriptionDisabled is called when a subscription is disabled by the engine: reason is
	// "receiver" (a verdict of the receiver's response, e.g. 410 Gone) or "failing" (failing for
	// longer than DisableAfter).
	SubscriptionDisabled(reason string)
	// DeliveryPaced is called when a delivery is held back by its subscription's MaxPerSecond.
	DeliveryPaced(format string)
	// RateLimited is called when a request is refused by a rate limit; limit names which one.
	RateLimited(limit string)
}

// NopMetrics counts nothing: the engine's default.
type NopMetrics struct{}

var _ Metrics = NopMetrics{}

func (NopMetrics) AttemptFinished(string, string, DeliveryState, time.Duration) {}
func (NopMetrics) IngestCommitted(int, time.Duration, error)                    {}
func (NopMetrics) SubscriptionDisabled(string)                                  {}
func (NopMetrics) DeliveryPaced(string)                                         {}
func (NopMetrics) RateLimited(string)                                           {}

// Reasons passed to Metrics.SubscriptionDisabled.
const (
	DisabledByReceiver = "receiver"
	DisabledFailing    = "failing"
)

// observe tells the metrics what became of one delivery's turn: an attempt recorded, or a delivery
// held back by its subscription's rate. Work given back for other reasons (shutdown, a replaced
// plugin) made no attempt and is not counted.
func (d *dispatcher) observe(w *Work, res result, started time.Time) {
	m := d.metrics
	if m == nil {
		return
	}
	switch o := res.outcome; {
	case o != nil:
		m.AttemptFinished(w.Subscription.Format, o.Attempt.Outcome, o.State, time.Since(started))
		if o.Disable != "" {
			m.SubscriptionDisabled(DisabledByReceiver)
		}
	case !res.releaseAt.IsZero():
		m.DeliveryPaced(w.Subscription.Format)
	}
}
