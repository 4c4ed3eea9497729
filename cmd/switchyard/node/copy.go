package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/sqlite"
)

// CopyReport says what Copy moved.
type CopyReport struct {
	// Rows are the rows copied, by table.
	Rows map[string]int64
	// Secrets are the data dir's secrets put in the database; Plugins the uploaded plugins.
	Secrets, Plugins []string
	// Released are deliveries the SQLite node had in flight, made due again at once.
	Released int64
}

// coreTables are copied first, in an order their references allow; the styles' tables follow.
var coreTables = []string{"accounts", "apps", "credentials", "grants", "subscriptions", "events", "deliveries", "attempts"}

// notCopied are tables that are not data: each driver keeps its own record of its migrations, and
// the shared secrets and plugins come from the data dir.
var notCopied = map[string]bool{"schema_versions": true, "schema_migrations": true, "shared_secrets": true, "plugins": true}

// Copy moves a single node's SQLite database and data dir into an empty PostgreSQL database, to
// grow from one node to many: every row of the engine's and the styles' tables (pending deliveries
// included; deliveries the SQLite node had in flight are due again at once), and the data dir's
// secrets (admin token, server key and certificate, the styles' keys) and uploaded plugins, which
// nodes on PostgreSQL share through the database. The SQLite node must be stopped: Copy takes the
// data dir's lock. The target must be empty; both are brought to this build's schema first.
func Copy(ctx context.Context, dataDir, from, to string) (*CopyReport, error) {
	src, err := ParseDatabase(from, dataDir)
	if err != nil || src.Driver != "sqlite" {
		return nil, fmt.Errorf("copy --from %q: want sqlite://PATH (or nothing, for the data dir's database): %v", from, err)
	}
	dst, err := ParseDatabase(to, dataDir)
	if err != nil || dst.Driver != "postgres" {
		return nil, fmt.Errorf("copy --to %q: want postgres://...: %v", to, err)
	}
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	defer lock.release()
	s, err := openStore(ctx, src, "")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	p, err := openStore(ctx, dst, "")
	if err != nil {
		return nil, err
	}
	defer p.Close()
	srcDB, dstDB := s.(*sqlite.Store).Reader(), p.(*postgres.Store).DB()
	var n int64
	if err := dstDB.GetContext(ctx, &n, `SELECT count(*) FROM accounts`); err != nil || n > 0 {
		return nil, fmt.Errorf("copy: the target database must be empty (it has %d accounts): %v", n, err)
	}
	tx, err := dstDB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	report := &CopyReport{Rows: map[string]int64{}}
	tables, err := copyOrder(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		if report.Rows[t], err = copyTable(ctx, srcDB, tx, t); err != nil {
			return nil, fmt.Errorf("copy %s: %w", t, err)
		}
	}
	// A lease of the SQLite node means nothing here: its deliveries are due again at once.
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = 'pending', lease_until = NULL, lease_owner = '', next_attempt_at = $1
		WHERE state = 'in_flight'`, time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("release leases: %w", err)
	}
	report.Released, _ = res.RowsAffected()
	if report.Secrets, err = copySecrets(ctx, tx, dataDir); err != nil {
		return nil, err
	}
	if report.Plugins, err = copyPlugins(ctx, tx, filepath.Join(dataDir, "plugins")); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("copy: commit: %w", err)
	}
	return report, nil
}

// copyOrder lists the target's tables to fill: the core's first, then the styles' by name.
func copyOrder(ctx context.Context, tx *sqlx.Tx) ([]string, error) {
	var all []string
	if err := tx.SelectContext(ctx, &all, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`); err != nil {
		return nil, fmt.Errorf("copy: list tables: %w", err)
	}
	out := slices.Clone(coreTables)
	for _, t := range all {
		if !notCopied[t] && !slices.Contains(coreTables, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

type pgColumn struct {
	Name     string `db:"column_name"`
	Type     string `db:"data_type"`
	Identity string `db:"is_identity"`
}

// copyTable copies the rows of one table, column by column where both databases have it,
// converting what SQLite stores as integers or text into the PostgreSQL column's type.
func copyTable(ctx context.Context, from *sqlx.DB, tx *sqlx.Tx, table string) (int64, error) {
	var cols []pgColumn
	if err := tx.SelectContext(ctx, &cols, `SELECT column_name, data_type, is_identity FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table); err != nil {
		return 0, err
	}
	var have []string
	if err := from.SelectContext(ctx, &have, `SELECT name FROM pragma_table_info(?)`, table); err != nil {
		return 0, err
	}
	if len(have) == 0 {
		return 0, nil // a table this SQLite database does not have
	}
	var names, marks []string
	var kept []pgColumn
	for _, c := range cols {
		if slices.Contains(have, c.Name) {
			kept = append(kept, c)
			names = append(names, `"`+c.Name+`"`)
			marks = append(marks, fmt.Sprintf("$%d", len(marks)+1))
		}
	}
	rows, err := from.QueryContext(ctx, `SELECT `+strings.Join(names, ", ")+` FROM "`+table+`"`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	insert := `INSERT INTO "` + table + `" (` + strings.Join(names, ", ") + `) VALUES (` + strings.Join(marks, ", ") + `)`
	var n int64
	vals := make([]any, len(kept))
	ptrs := make([]any, len(kept))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		args := make([]any, len(kept))
		for i, c := range kept {
			if args[i], err = convert(vals[i], c.Type); err != nil {
				return n, fmt.Errorf("column %s: %w", c.Name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, insert, args...); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	// Identity columns (Altoviz's webhook ids) go on after the highest copied value, so an id is
	// never handed out twice.
	for _, c := range kept {
		if c.Identity == "YES" && n > 0 {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), (SELECT MAX("%s") FROM "%s"))`,
				table, c.Name, c.Name, table)); err != nil {
				return n, fmt.Errorf("move the %s sequence on: %w", c.Name, err)
			}
		}
	}
	return n, nil
}

// convert turns a value as the SQLite driver read it into one for a PostgreSQL column of typ.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "boolean":
		switch b := v.(type) {
		case int64:
			return b != 0, nil
		case bool:
			return b, nil
		}
		return nil, fmt.Errorf("%T is not a boolean", v)
	case "bytea":
		switch b := v.(type) {
		case []byte:
			return b, nil
		case string:
			return []byte(b), nil
		}
	case "text", "character varying":
		switch b := v.(type) {
		case []byte:
			return strings.ReplaceAll(string(b), "\x00", ""), nil
		case string:
			return strings.ReplaceAll(b, "\x00", ""), nil
		}
	}
	return v, nil
}

// copySecrets puts the data dir's secrets where nodes on PostgreSQL read them.
func copySecrets(ctx context.Context, tx *sqlx.Tx, dataDir string) ([]string, error) {
	var copied []string
	put := func(name string, value []byte) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value, time.Now().UnixMilli())
		if err == nil {
			copied = append(copied, name)
		}
		return err
	}
	read := func(file string) ([]byte, bool, error) {
		b, err := os.ReadFile(filepath.Join(dataDir, file))
		if errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return b, err == nil, err
	}
	for file, name := range map[string]string{adminTokenFile: sharedAdminToken, serverKeyFile: sharedServerKey, serverCertFile: sharedServerCert} {
		b, ok, err := read(file)
		if err != nil {
			return nil, err
		}
		if ok {
			if file == adminTokenFile {
				b = []byte(strings.TrimSpace(string(b)))
			}
			if err := put(name, b); err != nil {
				return nil, fmt.Errorf("copy %s: %w", file, err)
			}
		}
	}
	// The styles' keys (and the confirmation tokens'), hex in their files, raw in the database.
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, "-key") || name == serverKeyFile {
			continue
		}
		b, _, err := read(name)
		if err != nil {
			return nil, err
		}
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			continue // not a key this node wrote
		}
		if err := put(sharedStylePrefix+name, key); err != nil {
			return nil, fmt.Errorf("copy %s: %w", name, err)
		}
	}
	slices.Sort(copied)
	return copied, nil
}

// copyPlugins puts the uploaded plugins (NAME.wasm with NAME.json in the data dir) in the database.
func copyPlugins(ctx context.Context, tx *sqlx.Tx, dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var copied []string
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		if !ok {
			continue
		}
		wasm, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var meta struct {
			Trusted    bool      `json:"trusted"`
			Hash       string    `json:"hash"`
			UploadedAt time.Time `json:"uploaded_at"`
		}
		if b, err := os.ReadFile(filepath.Join(dir, name+".json")); err == nil {
			_ = json.Unmarshal(b, &meta)
		}
		if meta.UploadedAt.IsZero() {
			meta.UploadedAt = time.Now()
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO plugins (name, hash, trusted, wasm, uploaded_at) VALUES ($1, $2, $3, $4, $5)`,
			name, meta.Hash, meta.Trusted, wasm, meta.UploadedAt.UnixMilli()); err != nil {
			return nil, fmt.Errorf("copy plugin %s: %w", name, err)
		}
		copied = append(copied, name)
	}
	return copied, nil
}
