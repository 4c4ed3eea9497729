package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SharedSecret returns the secret stored under name, storing the value make returns when there
// is none yet. Nodes asking at once all get the value of the first to store it: make's value is
// written only if the name is still free, and what is stored is read back. created reports that
// this call's value was stored.
func (s *Store) SharedSecret(ctx context.Context, name string, make func() ([]byte, error)) (value []byte, created bool, err error) {
	err = s.db.GetContext(ctx, &value, `SELECT value FROM shared_secrets WHERE name = $1`, name)
	if err == nil {
		return value, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("read shared secret %s: %w", name, MapError(err))
	}
	fresh, err := make()
	if err != nil {
		return nil, false, fmt.Errorf("make shared secret %s: %w", name, err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, fresh, time.Now().UnixMilli())
	if err != nil {
		return nil, false, fmt.Errorf("store shared secret %s: %w", name, MapError(err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return fresh, true, nil
	}
	// Another node stored one first: theirs is everyone's.
	if err := s.db.GetContext(ctx, &value, `SELECT value FROM shared_secrets WHERE name = $1`, name); err != nil {
		return nil, false, fmt.Errorf("read shared secret %s: %w", name, MapError(err))
	}
	return value, false, nil
}
