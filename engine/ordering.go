package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/sdk"
)

// Ordering says whether a subscription's deliveries go one at a time, and per what.
type Ordering string

const (
	OrderingNone         Ordering = "none"
	OrderingEntity       Ordering = "entity"
	OrderingSubscription Ordering = "subscription"
)

// OrNone is o, or OrderingNone when unset: what the stores write.
func (o Ordering) OrNone() string {
	if o == "" {
		return string(OrderingNone)
	}
	return string(o)
}

// OnDead says what a dead delivery of an ordered subscription does to the deliveries behind it.
type OnDead string

const (
	// OnDeadContinue releases them: the dead one can still be retried by hand, out of order.
	OnDeadContinue OnDead = "continue"
	// OnDeadBlock holds them until an operator retries the dead delivery or skips it.
	OnDeadBlock OnDead = "block"
)

// OrContinue is d, or OnDeadContinue when unset: what the stores write.
func (d OnDead) OrContinue() string {
	if d == "" {
		return string(OnDeadContinue)
	}
	return string(d)
}

// SequenceHeader carries an ordered delivery's place in its queue to the receiver.
const SequenceHeader = "Switchyard-Sequence"

// subscriptionOrderingKey is the one queue of a subscription ordered as a whole. Entity keys
// always hold a colon, so they never equal it.
const subscriptionOrderingKey = "*"

// orderingKey is the queue a delivery of ev to s waits in, or "" when it is not ordered. An event
// without an entity is not ordered under OrderingEntity: there is nothing to order it with.
// Entity types and IDs that run together ("a:b" + "c", "a" + "b:c") share a queue: that only
// orders more than asked, never less.
func orderingKey(s *Subscription, ev *Event) string {
	switch s.Ordering {
	case OrderingSubscription:
		return subscriptionOrderingKey
	case OrderingEntity:
		if ev == nil || ev.Entity.ID == "" {
			return ""
		}
		return ev.Entity.Type + ":" + ev.Entity.ID
	}
	return ""
}

// validateOrdering checks a subscription's ordering and on_dead, filling in their defaults.
func validateOrdering(s *Subscription) error {
	switch s.Ordering {
	case "":
		s.Ordering = OrderingNone
	case OrderingNone, OrderingEntity, OrderingSubscription:
	default:
		return invalidf("ordering", "%q is not one of none, entity, subscription", s.Ordering)
	}
	switch s.OnDead {
	case "":
		s.OnDead = OnDeadContinue
	case OnDeadContinue, OnDeadBlock:
	default:
		return invalidf("on_dead", "%q is not one of continue, block", s.OnDead)
	}
	return nil
}

// Held is what waits in a subscription's ordered queues.
type Held struct {
	// Deliveries is how many pending deliveries wait behind an earlier one of their queue.
	Deliveries int64 `json:"deliveries"`
	// Behind are the heads that hold the most back, most first (at most heldHeads of them).
	Behind []HeldQueue `json:"behind,omitempty"`
}

// HeldQueue is one ordered queue with deliveries waiting: its head, and how many wait behind it.
type HeldQueue struct {
	OrderingKey string        `json:"ordering_key"`
	DeliveryID  string        `json:"delivery_id"`
	Sequence    int64         `json:"sequence"`
	State       DeliveryState `json:"state"`
	Attempts    int           `json:"attempts"`
	// NextAttemptAt is when the head is tried again, when it is pending.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	Held          int64      `json:"held"`
}

// heldHeads is how many of the heads holding deliveries back a subscription shows.
const heldHeads = 10

// held fills in s.Held for an ordered subscription, or one that was ordered and may still have
// deliveries waiting in order.
func (e *Engine) held(ctx context.Context, s *Subscription) error {
	h, err := e.store.HeldDeliveries(ctx, s.ID, heldHeads)
	if err != nil {
		return fmt.Errorf("held deliveries of subscription %s: %w", s.ID, err)
	}
	if h.Deliveries > 0 || s.Ordering.OrNone() != string(OrderingNone) {
		s.Held = h
	}
	return nil
}

// withSequence returns hs with the Switchyard-Sequence header of an ordered delivery, set by the
// host whatever the format, so that a plugin can neither forget it nor forge it. hs is not
// changed: it may be the request both sent and recorded.
func withSequence(hs []sdk.Header, d *Delivery) []sdk.Header {
	if d.Sequence <= 0 {
		return hs
	}
	out := make([]sdk.Header, 0, len(hs)+1)
	for _, h := range hs {
		if !strings.EqualFold(h.Name, SequenceHeader) {
			out = append(out, h)
		}
	}
	return append(out, sdk.Header{Name: SequenceHeader, Value: strconv.FormatInt(d.Sequence, 10)})
}
