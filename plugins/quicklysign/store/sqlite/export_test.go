package sqlite

import (
	"context"
	"strings"

	core "github.com/switchyard/switchyard/store/sqlite"
)

// QueryPlans returns EXPLAIN QUERY PLAN of the style's queries, one line per step.
func QueryPlans(ctx context.Context, db *core.Store) (map[string]string, error) {
	queries := map[string]struct {
		sql  string
		args []any
	}{
		"callback-log":      {callbackLogSQL, []any{"sub", "dlv", 50}},
		"callback-attempts": {strings.Replace(callbackAttemptsSQL, "(?)", "(?, ?)", 1), []any{500, 500, "dlv_1", "dlv_2"}},
		"kept-log":          {keptLogSQL, []any{"sub", "dlv", 50}},
		"kept-attempts":     {strings.Replace(keptAttemptsSQL, "(?)", "(?, ?)", 1), []any{500, 500, "dlv_1", "dlv_2"}},
		// The engine's ListSubscriptions, as the compatible API calls it; every column, as the
		// engine reads, so that the plan is not a covering index's.
		"subscriptions-by-entity": {`SELECT * FROM subscriptions WHERE app_id = ? AND account_id = ? AND format = ?
			AND entity_key = ? AND id > ? ORDER BY id LIMIT 200`, []any{"app", "acc", "quicklysign", "doc", ""}},
	}
	out := map[string]string{}
	for name, q := range queries {
		var lines []string
		rows, err := db.Reader().QueryxContext(ctx, "EXPLAIN QUERY PLAN "+q.sql, q.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				rows.Close()
				return nil, err
			}
			lines = append(lines, detail)
		}
		rows.Close()
		out[name] = strings.Join(lines, "; ")
	}
	return out, nil
}
