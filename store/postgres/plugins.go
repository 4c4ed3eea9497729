package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

var _ engine.PluginStore = (*Store)(nil)

type pluginRow struct {
	Name       string `db:"name"`
	Hash       string `db:"hash"`
	Trusted    bool   `db:"trusted"`
	Wasm       []byte `db:"wasm"`
	UploadedAt int64  `db:"uploaded_at"`
}

func (r *pluginRow) plugin() *engine.StoredPlugin {
	return &engine.StoredPlugin{Name: r.Name, Hash: r.Hash, Trusted: r.Trusted, Wasm: r.Wasm, UploadedAt: FromMS(r.UploadedAt)}
}

func (s *Store) SavePlugin(ctx context.Context, p *engine.StoredPlugin) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO plugins (name, hash, trusted, wasm, uploaded_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET hash = EXCLUDED.hash, trusted = EXCLUDED.trusted, wasm = EXCLUDED.wasm,
			uploaded_at = EXCLUDED.uploaded_at`,
		p.Name, p.Hash, p.Trusted, p.Wasm, ToMS(p.UploadedAt))
	if err != nil {
		return fmt.Errorf("save plugin %s: %w", p.Name, MapError(err))
	}
	return nil
}

func (s *Store) DeletePlugin(ctx context.Context, name string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM plugins WHERE name = $1`, name); err != nil {
		return fmt.Errorf("delete plugin %s: %w", name, MapError(err))
	}
	return nil
}

func (s *Store) ListPlugins(ctx context.Context) ([]*engine.StoredPlugin, error) {
	var rows []pluginRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT name, hash, trusted, ''::bytea AS wasm, uploaded_at FROM plugins ORDER BY name`); err != nil {
		return nil, fmt.Errorf("list plugins: %w", MapError(err))
	}
	out := make([]*engine.StoredPlugin, len(rows))
	for i := range rows {
		out[i] = rows[i].plugin()
	}
	return out, nil
}

func (s *Store) GetPlugin(ctx context.Context, name string) (*engine.StoredPlugin, error) {
	var r pluginRow
	if err := s.db.GetContext(ctx, &r, `SELECT name, hash, trusted, wasm, uploaded_at FROM plugins WHERE name = $1`, name); err != nil {
		if err = MapError(err); errors.Is(err, engine.ErrNotFound) {
			return nil, sqlrow.NotFound("plugin", name)
		}
		return nil, fmt.Errorf("get plugin %s: %w", name, err)
	}
	return r.plugin(), nil
}
