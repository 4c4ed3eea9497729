package postgres

import (
	"context"
	"strings"

	core "github.com/switchyard/switchyard/store/postgres"
)

// QueryPlans returns EXPLAIN of the style's queries, one line per plan node, with sequential scans
// off: the tables of a test are too small for the planner to prefer an index, so what is checked
// is that one serves each query, not the choice on a few rows.
func QueryPlans(ctx context.Context, db *core.Store) (map[string]string, error) {
	queries := map[string]struct {
		sql  string
		args []any
	}{
		"callback-log":      {callbackLogSQL, []any{"sub", "dlv", 50}},
		"callback-attempts": {callbackAttemptsSQL, []any{2004, []string{"dlv_1", "dlv_2"}}},
		"kept-log":          {keptLogSQL, []any{"sub", "dlv", 50}},
		"kept-attempts":     {keptAttemptsSQL, []any{2004, []string{"dlv_1", "dlv_2"}}},
		// The engine's ListSubscriptions, as the compatible API calls it.
		"subscriptions-by-entity": {`SELECT * FROM subscriptions WHERE app_id = $1 AND account_id = $2 AND format = $3
			AND entity_key = $4 AND id > $5 ORDER BY id LIMIT 200`, []any{"app", "acc", "quicklysign", "doc", ""}},
	}
	conn, err := db.DB().Connx(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
		return nil, err
	}
	defer conn.ExecContext(ctx, `RESET enable_seqscan`) //nolint:errcheck // the connection goes back to a test's pool
	out := map[string]string{}
	for name, q := range queries {
		var lines []string
		if err := conn.SelectContext(ctx, &lines, "EXPLAIN (COSTS OFF) "+q.sql, q.args...); err != nil {
			return nil, err
		}
		out[name] = strings.Join(lines, "; ")
	}
	return out, nil
}
