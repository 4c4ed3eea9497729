package postgres

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlstore"
)

// Ordered delivery (issue 22), as in store/sqlite/ordering.go. Claims on many nodes keep the order
// too: a claim's NOT EXISTS sees an earlier delivery another claim is leasing at that moment as
// still pending (not yet committed), and the queue's next one only once that delivery has ended. A delivery with an ordering key waits in the queue of its
// subscription and key, at the place its sequence number gives it. The claim takes only a queue's
// head (sqlstore.HeadSQL), so its deliveries go one at a time in sequence order; everything else about the
// claim (fair turns, caps, Skip) is as for any delivery, and a head held back by a cap or a
// circuit goes back to pending, still the head.

// assignSequences numbers ordered deliveries as sqlstore.AssignSequences does.
func assignSequences(ctx context.Context, tx *sqlx.Tx, ds []*engine.Delivery) error {
	return sqlstore.AssignSequences(ctx, tx, rebind, ds)
}
