package sqlite

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlstore"
)

// Ordered delivery (issue 22). A delivery with an ordering key waits in the queue of its
// subscription and key, at the place its sequence number gives it. The claim takes only a queue's
// head (headSQL), so its deliveries go one at a time in sequence order; everything else about the
// claim (fair turns, caps, Skip) is as for any delivery, and a head held back by a cap or a
// circuit goes back to pending, still the head.

// headSQL is true of a pending ordered delivery d that nothing earlier in its queue holds back: no
// delivery with a smaller sequence pending or in flight, nor dead when the subscription blocks on
// dead ones. Each probe is a seek in deliveries_ordering, whatever the queue's delivered past.
const headSQL = `NOT EXISTS (SELECT 1 FROM deliveries e
			WHERE e.subscription_id = d.subscription_id AND e.state IN ('pending', 'in_flight')
				AND e.ordering_key IS NOT NULL AND e.ordering_key = d.ordering_key AND e.sequence < d.sequence)
		AND NOT ((SELECT s.on_dead FROM subscriptions s WHERE s.id = d.subscription_id) = 'block'
			AND EXISTS (SELECT 1 FROM deliveries e
				WHERE e.subscription_id = d.subscription_id AND e.state = 'dead'
					AND e.ordering_key IS NOT NULL AND e.ordering_key = d.ordering_key AND e.sequence < d.sequence))`

// assignSequences numbers ordered deliveries as sqlstore.AssignSequences does.
func assignSequences(ctx context.Context, tx *sqlx.Tx, ds []*engine.Delivery) error {
	return sqlstore.AssignSequences(ctx, tx, nil, ds)
}
