package engine

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// SystemAccount is the account the engine publishes its own events into: delivery.dead,
// subscription.disabled, subscription.backoff and plugin.quarantined. Operators receive them as any
// account's events, in any format: they grant an app this account's events and subscribe it. The
// engine makes the account when it starts; no one else may make an account whose id begins with
// "switchyard.".
const SystemAccount = "switchyard.system"

// reservedAccountPrefix marks account ids only the engine makes.
const reservedAccountPrefix = "switchyard."

// Operational event types.
const (
	EventDeliveryDead         = "delivery.dead"
	EventSubscriptionDisabled = "subscription.disabled"
	EventSubscriptionBackoff  = "subscription.backoff"
	EventPluginQuarantined    = "plugin.quarantined"
)

// maxQueuedOperational bounds the operational events waiting to be published: they are reports,
// and a storm of them (every delivery of a broken receiver dying) must not grow memory without end.
const maxQueuedOperational = 4096

// operational publishes the engine's own events, apart from the path that produced them: a
// delivery's outcome is recorded without waiting for its report to commit.
type operational struct {
	engine *Engine
	queue  chan *Event
	Loop
}

func newOperational(e *Engine) *operational {
	o := &operational{engine: e, queue: make(chan *Event, maxQueuedOperational)}
	o.Run = o.run
	return o
}

// report queues an operational event; when the queue is full it is logged instead.
func (o *operational) report(typ, entityType, entityID string, data map[string]any) {
	raw, err := json.Marshal(data)
	if err != nil {
		return
	}
	now := o.engine.now()
	ev := &Event{ID: NewID("evt"), AccountID: SystemAccount, Type: typ, Entity: Entity{Type: entityType, ID: entityID},
		Data: raw, OccurredAt: now, CreatedAt: now}
	select {
	case o.queue <- ev:
	default:
		o.engine.logger.Error("operational event dropped: too many waiting", "type", typ, entityType, entityID)
	}
}

func (o *operational) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-o.queue:
			batch := []*Event{ev}
		more:
			for len(batch) < MaxPublishBatch {
				select {
				case ev := <-o.queue:
					batch = append(batch, ev)
				default:
					break more
				}
			}
			// Not the loop's context: a report taken off the queue is committed even while stopping.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if _, err := o.engine.ingester.submit(wctx, batch); err != nil {
				o.engine.logger.Error("publish operational events", "events", len(batch), "err", err)
			}
			cancel()
		}
	}
}

// ensureSystemAccount makes the system account if it is not there yet.
func (e *Engine) ensureSystemAccount(ctx context.Context) error {
	if _, err := e.store.GetAccount(ctx, SystemAccount); err == nil {
		return nil
	}
	err := e.store.CreateAccount(ctx, &Account{ID: SystemAccount, Name: "Switchyard (operational events)", CreatedAt: e.now()})
	if err != nil && !strings.Contains(err.Error(), ErrConflict.Error()) {
		return err
	}
	return nil
}

// ReportPluginQuarantined publishes plugin.quarantined; the runtime calls it when a plugin's
// quarantine begins.
func (e *Engine) ReportPluginQuarantined(plugin string, until time.Time, trapsInARow int, lastTrap string) {
	e.operational.report(EventPluginQuarantined, "plugin", plugin, map[string]any{
		"plugin": plugin, "until": until.UTC(), "traps_in_a_row": trapsInARow, "last_trap": lastTrap})
}
