package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// maxRowsPerStatement bounds the rows one multiRow statement carries: 32 deliveries are 512
// parameters, well under SQLite's 32,766 and PostgreSQL's 65,535.
const maxRowsPerStatement = 32

// multiRow writes many rows with a few statements, each carrying a power of two of rows in a
// VALUES list (up to maxRowsPerStatement), so a node uses six texts per statement and SQLite's and
// pgx's statement caches keep them all prepared. One statement per row cost a trip through
// database/sql, the driver and sqlite3_step for each: an ingest of 20 events, one delivery each,
// ran 40 statements where it now runs 4 (PostgreSQL: 40 round trips where it now makes 4).
type multiRow struct {
	width int
	// texts[k] carries 1<<k rows, rebound to the driver's placeholders.
	texts []string
}

// newMultiRow builds the statements "head VALUES row, row, ... tail", row holding a row's
// placeholders.
func newMultiRow(rebind func(string) string, head, row, tail string) *multiRow {
	m := &multiRow{width: strings.Count(row, "?")}
	for n := 1; n <= maxRowsPerStatement; n *= 2 {
		q := head + " VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + " " + tail
		m.texts = append(m.texts, rebound(rebind, q))
	}
	return m
}

// newMultiRowInsert builds the statements "INSERT INTO table (cols) VALUES (?, ...), ... tail".
func newMultiRowInsert(rebind func(string) string, table, cols, tail string) *multiRow {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", strings.Count(cols, ",")+1), ", ") + ")"
	return newMultiRow(rebind, "INSERT INTO "+table+" ("+cols+")", row, tail)
}

// exec writes rows (each width values) in order. After each statement, stored (when not nil)
// hears which rows, rows[lo:hi], it carried and how many it stored: fewer than hi-lo where the
// statement's conflict clause passed over some.
func (m *multiRow) exec(ctx context.Context, tx *sqlx.Tx, rows [][]any, stored func(lo, hi int, n int64) error) error {
	args := make([]any, 0, m.width*min(len(rows), maxRowsPerStatement))
	for lo := 0; lo < len(rows); {
		k := 0
		for k+1 < len(m.texts) && 1<<(k+1) <= len(rows)-lo {
			k++
		}
		hi := lo + 1<<k
		args = args[:0]
		for _, r := range rows[lo:hi] {
			if len(r) != m.width {
				return fmt.Errorf("a row of %d values where the statement takes %d", len(r), m.width)
			}
			args = append(args, r...)
		}
		res, err := tx.ExecContext(ctx, m.texts[k], args...)
		if err != nil {
			return err
		}
		if stored != nil {
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if err := stored(lo, hi, n); err != nil {
				return err
			}
		}
		lo = hi
	}
	return nil
}
