package node

import (
	"fmt"

	"github.com/switchyard/switchyard/api/web"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/sqlite"

	altoviz "github.com/switchyard/switchyard/plugins/altoviz/host"
	altovizsqlite "github.com/switchyard/switchyard/plugins/altoviz/store/sqlite"
	ivvy "github.com/switchyard/switchyard/plugins/ivvy/host"
	quicklysign "github.com/switchyard/switchyard/plugins/quicklysign/host"
	quicklysignsqlite "github.com/switchyard/switchyard/plugins/quicklysign/store/sqlite"
	salesking "github.com/switchyard/switchyard/plugins/salesking/host"
	saleskingsqlite "github.com/switchyard/switchyard/plugins/salesking/store/sqlite"
	upsales "github.com/switchyard/switchyard/plugins/upsales/host"
	upsalessqlite "github.com/switchyard/switchyard/plugins/upsales/store/sqlite"
)

// styles are the vendor styles a node installs, in this order: their migrations run in it, after
// the core's. Adding a style is adding its folder under plugins/ and one line here.
var styles = []styleEntry{
	stored(altovizsqlite.Migrations, altovizsqlite.New, altoviz.New),
	stateless(ivvy.New),
	stored(quicklysignsqlite.Migrations, quicklysignsqlite.New, quicklysign.New),
	stored(saleskingsqlite.Migrations, saleskingsqlite.New, salesking.New),
	stored(upsalessqlite.Migrations, upsalessqlite.New, upsales.New),
}

// styleEntry is how the node builds one style: its tables, and the style over its store.
type styleEntry struct {
	migrations *sqlite.MigrationLine
	build      func(d engine.StyleDeps, db *sqlite.Store) (engine.Style, error)
}

// stored is the entry of a style with tables of its own: open makes its store on the node's
// database, whose migrations the line holds, and build makes the style over that store.
func stored[S any, T engine.Style](line sqlite.MigrationLine, open func(*sqlite.Store) S, build func(engine.StyleDeps, S) (T, error)) styleEntry {
	return styleEntry{migrations: &line, build: func(d engine.StyleDeps, db *sqlite.Store) (engine.Style, error) {
		return build(d, open(db))
	}}
}

// stateless is the entry of a style that keeps no tables.
func stateless[T engine.Style](build func(engine.StyleDeps) (T, error)) styleEntry {
	return styleEntry{build: func(d engine.StyleDeps, _ *sqlite.Store) (engine.Style, error) { return build(d) }}
}

// styleMigrations are the styles' lines, in the registry's order.
func styleMigrations() []sqlite.MigrationLine {
	var lines []sqlite.MigrationLine
	for _, s := range styles {
		if s.migrations != nil {
			lines = append(lines, *s.migrations)
		}
	}
	return lines
}

// StyleDeps are what the node builds its styles with (tests build one of their own beside them).
func (n *Node) StyleDeps() engine.StyleDeps {
	return engine.StyleDeps{
		Engine: n.engine, Auth: n.auth, Secrets: dataDirSecrets{dir: n.cfg.DataDir}, Logger: n.logger,
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
