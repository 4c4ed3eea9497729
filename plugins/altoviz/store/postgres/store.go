package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/altoviz/store"
	core "github.com/switchyard/switchyard/store/postgres"
)

// webhooks is the style's store on the node's database. Its queries join the engine's
// subscriptions table for the URL, which lives only there: copying it would let the two disagree
// after a native PATCH changes it.
type webhooks struct{ db *core.Store }

// New returns the style's store over the node's database, whose migrations must include Migrations.
func New(db *core.Store) store.Store { return &webhooks{db: db} }

// webhookRow is a row of altoviz_webhooks (this line's migration 1).
type webhookRow struct {
	ID             int64  `db:"id"`
	SubscriptionID string `db:"subscription_id"`
	AppID          string `db:"app_id"`
	AccountID      string `db:"account_id"`
	Name           string `db:"name"`
	CreatedAt      int64  `db:"created_at"`
}

func (r *webhookRow) webhook() *store.Webhook {
	return &store.Webhook{
		ID: r.ID, SubscriptionID: r.SubscriptionID, AppID: r.AppID, AccountID: r.AccountID,
		Name: r.Name, CreatedAt: core.FromMS(r.CreatedAt),
	}
}

const webhookCols = `w.id, w.subscription_id, w.app_id, w.account_id, w.name, w.created_at`

// ownerLockClass is the first key of the advisory lock that serialises one owner's registrations:
// the two-key lock space, apart from the core's one-key locks (migrations), with a class of its
// own ("avz" in bytes) so that no other style's owner lock shares its keys.
const ownerLockClass = 0x61767a

func (s *webhooks) CreateWebhook(ctx context.Context, p store.CreateWebhookParams) error {
	w := p.Webhook
	err := s.db.Write(ctx, func(tx *sqlx.Tx) error {
		// At READ COMMITTED two registrations racing would both see the URL free and the count under
		// the maximum (where SQLite's one writer runs them one after the other): the owner's lock
		// makes the second wait for the first to commit and then see its webhook. A lock of the
		// owner, not of the accounts row, so that nothing else on the account waits for it.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2 || ' ' || $3))`,
			ownerLockClass, w.AppID, w.AccountID); err != nil {
			return err
		}
		// The subscription's own webhook does not count: another request listing the owner's
		// webhooks may have given it one (adopt) between its creation and this call.
		var taken bool
		if err := tx.GetContext(ctx, &taken, `SELECT EXISTS (SELECT 1 FROM altoviz_webhooks w
			JOIN subscriptions s ON s.id = w.subscription_id
			WHERE w.app_id = $1 AND w.account_id = $2 AND s.url = $3 AND w.subscription_id <> $4)`,
			w.AppID, w.AccountID, p.URL, w.SubscriptionID); err != nil {
			return err
		}
		if taken {
			return store.ErrURLTaken
		}
		if p.Max > 0 {
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM altoviz_webhooks WHERE app_id = $1 AND account_id = $2
				AND subscription_id <> $3`, w.AppID, w.AccountID, w.SubscriptionID); err != nil {
				return err
			}
			if n >= p.Max {
				return store.ErrTooMany
			}
		}
		// An adopted webhook keeps its id and takes the registration's name.
		return tx.GetContext(ctx, &w.ID, `INSERT INTO altoviz_webhooks (subscription_id, app_id, account_id, name, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id) DO UPDATE SET name = excluded.name RETURNING id`,
			w.SubscriptionID, w.AppID, w.AccountID, w.Name, core.ToMS(w.CreatedAt))
	})
	if err != nil {
		return fmt.Errorf("create altoviz webhook for subscription %q: %w", w.SubscriptionID, core.MapError(err))
	}
	return nil
}

func (s *webhooks) ListWebhooks(ctx context.Context, appID, accountID string) ([]*store.Webhook, error) {
	var rows []webhookRow
	if err := s.db.DB().SelectContext(ctx, &rows, `SELECT `+webhookCols+` FROM altoviz_webhooks w
		WHERE w.app_id = $1 AND w.account_id = $2 ORDER BY w.id`, appID, accountID); err != nil {
		return nil, fmt.Errorf("list altoviz webhooks: %w", core.MapError(err))
	}
	out := make([]*store.Webhook, len(rows))
	for i := range rows {
		out[i] = rows[i].webhook()
	}
	return out, nil
}

func (s *webhooks) FindWebhook(ctx context.Context, q store.WebhookQuery) (*store.Webhook, error) {
	args := []any{q.AppID, q.AccountID}
	where := []string{"w.app_id = $1", "w.account_id = $2"}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	from := `altoviz_webhooks w`
	if q.ID != 0 {
		where = append(where, "w.id = "+arg(q.ID))
	}
	if q.URL != "" {
		from += ` JOIN subscriptions s ON s.id = w.subscription_id`
		where = append(where, "s.url = "+arg(q.URL))
	}
	var r webhookRow
	err := s.db.DB().GetContext(ctx, &r, `SELECT `+webhookCols+` FROM `+from+` WHERE `+strings.Join(where, " AND ")+
		` ORDER BY w.id LIMIT 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("find altoviz webhook: %w", core.MapError(err))
	}
	return r.webhook(), nil
}

func (s *webhooks) WebhookOf(ctx context.Context, sub *engine.Subscription) (*store.Webhook, error) {
	var r webhookRow
	err := s.db.DB().GetContext(ctx, &r, `SELECT `+webhookCols+` FROM altoviz_webhooks w WHERE w.subscription_id = $1`, sub.ID)
	if err == nil {
		return r.webhook(), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("find the altoviz webhook of subscription %q: %w", sub.ID, core.MapError(err))
	}
	err = s.db.Write(ctx, func(tx *sqlx.Tx) error {
		// Another caller may make it at the same moment: the unique subscription_id keeps one, and
		// both read it back.
		var exists bool
		if err := tx.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM subscriptions WHERE id = $1)`, sub.ID); err != nil {
			return err
		}
		if !exists {
			return engine.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO altoviz_webhooks (subscription_id, app_id, account_id, name, created_at)
			VALUES ($1, $2, $3, '', $4) ON CONFLICT (subscription_id) DO NOTHING`,
			sub.ID, sub.AppID, sub.AccountID, core.ToMS(sub.CreatedAt)); err != nil {
			return err
		}
		return tx.GetContext(ctx, &r, `SELECT `+webhookCols+` FROM altoviz_webhooks w WHERE w.subscription_id = $1`, sub.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("give subscription %q an altoviz webhook: %w", sub.ID, core.MapError(err))
	}
	return r.webhook(), nil
}
