package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/api/compat/altoviz"
)

var _ altoviz.Store = (*Store)(nil)

// altovizWebhookRow is a row of altoviz_webhooks (migration 0002).
type altovizWebhookRow struct {
	ID             int64  `db:"id"`
	SubscriptionID string `db:"subscription_id"`
	AppID          string `db:"app_id"`
	AccountID      string `db:"account_id"`
	Name           string `db:"name"`
	CreatedAt      int64  `db:"created_at"`
}

func (r *altovizWebhookRow) webhook() *altoviz.Webhook {
	return &altoviz.Webhook{
		ID: r.ID, SubscriptionID: r.SubscriptionID, AppID: r.AppID, AccountID: r.AccountID,
		Name: r.Name, CreatedAt: FromMS(r.CreatedAt),
	}
}

const altovizWebhookCols = `w.id, w.subscription_id, w.app_id, w.account_id, w.name, w.created_at`

func (s *Store) CreateAltovizWebhook(ctx context.Context, p altoviz.CreateWebhookParams) error {
	w := p.Webhook
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		// Checked in the writing transaction, so two registrations racing cannot both pass.
		var taken bool
		if err := tx.GetContext(ctx, &taken, `SELECT EXISTS (SELECT 1 FROM altoviz_webhooks w
			JOIN subscriptions s ON s.id = w.subscription_id
			WHERE w.app_id = ? AND w.account_id = ? AND s.url = ?)`, w.AppID, w.AccountID, p.URL); err != nil {
			return err
		}
		if taken {
			return altoviz.ErrURLTaken
		}
		if p.Max > 0 {
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM altoviz_webhooks WHERE app_id = ? AND account_id = ?`,
				w.AppID, w.AccountID); err != nil {
				return err
			}
			if n >= p.Max {
				return altoviz.ErrTooMany
			}
		}
		return tx.GetContext(ctx, &w.ID, `INSERT INTO altoviz_webhooks (subscription_id, app_id, account_id, name, created_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, w.SubscriptionID, w.AppID, w.AccountID, w.Name, ToMS(w.CreatedAt))
	})
	if err != nil {
		return fmt.Errorf("create altoviz webhook for subscription %q: %w", w.SubscriptionID, MapError(err))
	}
	return nil
}

func (s *Store) ListAltovizWebhooks(ctx context.Context, appID, accountID string) ([]*altoviz.Webhook, error) {
	var rows []altovizWebhookRow
	if err := s.r.SelectContext(ctx, &rows, `SELECT `+altovizWebhookCols+` FROM altoviz_webhooks w
		WHERE w.app_id = ? AND w.account_id = ? ORDER BY w.id`, appID, accountID); err != nil {
		return nil, fmt.Errorf("list altoviz webhooks: %w", MapError(err))
	}
	out := make([]*altoviz.Webhook, len(rows))
	for i := range rows {
		out[i] = rows[i].webhook()
	}
	return out, nil
}

func (s *Store) FindAltovizWebhook(ctx context.Context, q altoviz.WebhookQuery) (*altoviz.Webhook, error) {
	where := []string{"w.app_id = ?", "w.account_id = ?"}
	args := []any{q.AppID, q.AccountID}
	from := `altoviz_webhooks w`
	if q.ID != 0 {
		where = append(where, "w.id = ?")
		args = append(args, q.ID)
	}
	if q.URL != "" {
		from += ` JOIN subscriptions s ON s.id = w.subscription_id`
		where = append(where, "s.url = ?")
		args = append(args, q.URL)
	}
	var r altovizWebhookRow
	err := s.r.GetContext(ctx, &r, `SELECT `+altovizWebhookCols+` FROM `+from+` WHERE `+strings.Join(where, " AND ")+
		` ORDER BY w.id LIMIT 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("find altoviz webhook: %w", MapError(err))
	}
	return r.webhook(), nil
}
