package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/sqlite"
)

// Database is where a node keeps its data, parsed from --database.
type Database struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// Path is the SQLite file; URL the PostgreSQL connection URL, as given.
	Path, URL string
}

// ParseDatabase reads a database URL: sqlite://PATH (a relative PATH is from the working folder),
// or postgres://... / postgresql://... (pgx's URL, with its parameters). Empty means the data dir's
// SQLite file.
func ParseDatabase(url, dataDir string) (Database, error) {
	switch {
	case url == "":
		return Database{Driver: "sqlite", Path: filepath.Join(dataDir, dbFile)}, nil
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if path == "" {
			return Database{}, fmt.Errorf("--database %q: give the file's path, as sqlite:///var/lib/switchyard/switchyard.db", url)
		}
		return Database{Driver: "sqlite", Path: path}, nil
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return Database{Driver: "postgres", URL: url}, nil
	}
	return Database{}, fmt.Errorf("--database %q: want sqlite://PATH or postgres://...", postgres.Redact(url))
}

// String names the database for messages, without a password.
func (d Database) String() string {
	if d.Driver == "sqlite" {
		return "sqlite://" + d.Path
	}
	return postgres.Redact(d.URL)
}

// coreStore is the engine.Store a node runs on, either driver.
type coreStore interface {
	engine.Store
	Close() error
}

// openStore opens the database, with the core's migrations and the styles' run at once.
func openStore(ctx context.Context, db Database, synchronous string) (coreStore, error) {
	switch db.Driver {
	case "sqlite":
		s, err := sqlite.Open(ctx, db.Path, sqlite.Options{Synchronous: synchronous, Migrations: styleMigrations()})
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", db, err)
		}
		return s, nil
	case "postgres":
		if missing := stylesWithoutPostgres(); len(missing) > 0 {
			return nil, fmt.Errorf("database %s: the vendor styles %s have no PostgreSQL store yet; run on SQLite (--database sqlite://PATH, the default) until they do",
				db, strings.Join(missing, ", "))
		}
		s, err := postgres.Open(ctx, db.URL, postgres.Options{Migrations: stylePostgresMigrations()})
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", db, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("database %s: unknown driver %q", db, db.Driver)
}
