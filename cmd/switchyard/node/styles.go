package node

import (
	"fmt"

	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/migrate"
	"github.com/switchyard/switchyard/store/postgres"
	"github.com/switchyard/switchyard/store/sqlite"

	altoviz "github.com/switchyard/switchyard/plugins/altoviz/host"
	altovizpostgres "github.com/switchyard/switchyard/plugins/altoviz/store/postgres"
	altovizsqlite "github.com/switchyard/switchyard/plugins/altoviz/store/sqlite"
	ivvy "github.com/switchyard/switchyard/plugins/ivvy/host"
	quicklysign "github.com/switchyard/switchyard/plugins/quicklysign/host"
	quicklysignpostgres "github.com/switchyard/switchyard/plugins/quicklysign/store/postgres"
	quicklysignsqlite "github.com/switchyard/switchyard/plugins/quicklysign/store/sqlite"
	salesking "github.com/switchyard/switchyard/plugins/salesking/host"
	saleskingpostgres "github.com/switchyard/switchyard/plugins/salesking/store/postgres"
	saleskingsqlite "github.com/switchyard/switchyard/plugins/salesking/store/sqlite"
	upsales "github.com/switchyard/switchyard/plugins/upsales/host"
	upsalespostgres "github.com/switchyard/switchyard/plugins/upsales/store/postgres"
	upsalessqlite "github.com/switchyard/switchyard/plugins/upsales/store/sqlite"
)

// styles are the vendor styles a node installs, in this order: their migrations run in it, after
// the core's. Adding a style is adding its folder under plugins/ and one line here.
var styles = []styleEntry{
	withPostgres(stored(altovizsqlite.Migrations, altovizsqlite.New, altoviz.New), altovizpostgres.Migrations, altovizpostgres.New, altoviz.New),
	stateless(ivvy.New),
	withPostgres(stored(quicklysignsqlite.Migrations, quicklysignsqlite.New, quicklysign.New), quicklysignpostgres.Migrations, quicklysignpostgres.New, quicklysign.New),
	withPostgres(stored(saleskingsqlite.Migrations, saleskingsqlite.New, salesking.New), saleskingpostgres.Migrations, saleskingpostgres.New, salesking.New),
	withPostgres(stored(upsalessqlite.Migrations, upsalessqlite.New, upsales.New), upsalespostgres.Migrations, upsalespostgres.New, upsales.New),
}

// styleEntry is how the node builds one style, on either driver: its tables, and the style over
// its store. A style with tables has a line and a build per driver; until it has its PostgreSQL
// store (postgres nil), a node on PostgreSQL refuses to start and names it.
type styleEntry struct {
	name     string
	sqlite   *sqliteStyle
	postgres *postgresStyle
	// stateless builds a style that keeps no tables, on any driver.
	stateless func(d engine.StyleDeps) (engine.Style, error)
}

type sqliteStyle struct {
	migrations sqlite.MigrationLine
	build      func(d engine.StyleDeps, db *sqlite.Store) (engine.Style, error)
}

type postgresStyle struct {
	migrations migrate.Line
	build      func(d engine.StyleDeps, db *postgres.Store) (engine.Style, error)
}

// stored is the entry of a style with tables of its own: open makes its store on the node's
// SQLite database, whose migrations the line holds, and build makes the style over that store.
// The line's component names the style.
func stored[S any, T engine.Style](line sqlite.MigrationLine, open func(*sqlite.Store) S, build func(engine.StyleDeps, S) (T, error)) styleEntry {
	return styleEntry{name: line.Component, sqlite: &sqliteStyle{migrations: line, build: func(d engine.StyleDeps, db *sqlite.Store) (engine.Style, error) {
		return build(d, open(db))
	}}}
}

// withPostgres gives a stored style its PostgreSQL store: line holds its PostgreSQL migrations,
// open makes its store on the node's PostgreSQL database.
func withPostgres[S any, T engine.Style](e styleEntry, line migrate.Line, open func(*postgres.Store) S, build func(engine.StyleDeps, S) (T, error)) styleEntry {
	e.postgres = &postgresStyle{migrations: line, build: func(d engine.StyleDeps, db *postgres.Store) (engine.Style, error) {
		return build(d, open(db))
	}}
	return e
}

// stateless is the entry of a style that keeps no tables.
func stateless[T engine.Style](build func(engine.StyleDeps) (T, error)) styleEntry {
	return styleEntry{stateless: func(d engine.StyleDeps) (engine.Style, error) { return build(d) }}
}

// styleMigrations are the styles' SQLite lines, in the registry's order.
func styleMigrations() []sqlite.MigrationLine {
	var lines []sqlite.MigrationLine
	for _, s := range styles {
		if s.sqlite != nil {
			lines = append(lines, s.sqlite.migrations)
		}
	}
	return lines
}

// stylePostgresMigrations are the styles' PostgreSQL lines, in the registry's order.
func stylePostgresMigrations() []migrate.Line {
	var lines []migrate.Line
	for _, s := range styles {
		if s.postgres != nil {
			lines = append(lines, s.postgres.migrations)
		}
	}
	return lines
}

// stylesWithoutPostgres names the styles with tables that have no PostgreSQL store.
func stylesWithoutPostgres() []string {
	var names []string
	for _, s := range styles {
		if s.sqlite != nil && s.postgres == nil {
			names = append(names, s.name)
		}
	}
	return names
}

// build makes the style over the node's store, whichever driver it is.
func (e styleEntry) build(d engine.StyleDeps, db coreStore) (engine.Style, error) {
	if e.stateless != nil {
		return e.stateless(d)
	}
	switch db := db.(type) {
	case *sqlite.Store:
		if e.sqlite != nil {
			return e.sqlite.build(d, db)
		}
	case *postgres.Store:
		if e.postgres != nil {
			return e.postgres.build(d, db)
		}
	}
	return nil, fmt.Errorf("vendor style %s has no store on %T", e.name, db)
}

// secrets are the keys the node keeps for itself and its styles: files in the data dir, or, on
// PostgreSQL, rows every node shares, so that every node signs and checks tokens with the same key.
func (n *Node) secrets() engine.Secrets {
	if pg, ok := n.store.(*postgres.Store); ok {
		return dbSecrets{db: pg}
	}
	return dataDirSecrets{dir: n.cfg.DataDir}
}

// StyleDeps are what the node builds its styles with (tests build one of their own beside them).
func (n *Node) StyleDeps() engine.StyleDeps {
	return engine.StyleDeps{
		Engine: n.engine, Auth: n.auth, Secrets: n.secrets(), Logger: n.logger,
		PublicURL: n.cfg.PublicURL, Settings: n.cfg.StyleSettings,
	}
}

// addStyles builds every style and gives it its place: hooks and jobs in the engine, routes on
// the HTTP server.
func (n *Node) addStyles() error {
	for _, entry := range styles {
		s, err := entry.build(n.StyleDeps(), n.store)
		if err != nil {
			return fmt.Errorf("vendor style: %w", err)
		}
		if err := n.engine.AddStyle(s); err != nil {
			return err
		}
		if r, ok := s.(web.Routed); ok {
			r.Routes(n.server.Echo())
		}
	}
	return nil
}
