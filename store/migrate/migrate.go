// Package migrate holds what the drivers' migration runners share: a component's line of numbered
// SQL files and how it is read. Each driver (store/sqlite, store/postgres) applies lines in its own
// dialect and records them in its own schema_versions table; a component keeps one line per driver,
// since the SQL differs.
package migrate

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// A Line is one component's numbered migrations: the core's, or a vendor style's. Each line counts
// from 1 on its own, so a new style or a new migration of one never renumbers another. Lines run in
// the order given, the core's first, each migration in its own transaction.
type Line struct {
	// Component names the line in schema_versions: "core", or a style's name.
	Component string
	// Files holds the line's migrations at its root, named NNNN_what.sql.
	Files fs.FS
	// Legacy maps the line's versions to the numbers they had in the single sequence of builds
	// before migration lines, so that a database those builds wrote is not migrated twice. Only
	// SQLite databases predate lines; a PostgreSQL line leaves it nil.
	Legacy map[int]int
	// After, when set, runs in a write transaction after the line's migrations, at every
	// migration: work SQL alone cannot do in a driver's dialect (SQLite has no SHA-256). It must
	// change nothing when there is nothing left to do.
	After func(ctx context.Context, tx *sql.Tx) error
}

// A Migration is one file of a line.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations reads the line's files, in version order, and refuses a misnamed file or a gap.
func (l Line) Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(l.Files, ".")
	if err != nil {
		return nil, fmt.Errorf("%s migrations: %w", l.Component, err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || !strings.HasSuffix(name, ".sql") || err != nil || v <= 0 {
			return nil, fmt.Errorf("%s migration %s: want a name such as 0001_init.sql", l.Component, name)
		}
		b, err := fs.ReadFile(l.Files, name)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		// Numbered without gaps, so that a migration merged out of order shows up here.
		if m.Version != i+1 {
			return nil, fmt.Errorf("%s migration %s: want version %d", l.Component, m.Name, i+1)
		}
	}
	return out, nil
}

// CheckLines refuses a line given twice or unnamed.
func CheckLines(lines []Line) error {
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l.Component] || l.Component == "" {
			return fmt.Errorf("migrate: migration line %q given twice or unnamed", l.Component)
		}
		seen[l.Component] = true
	}
	return nil
}

// Embedded is the line of a component whose migrations are embedded in dir of files.
func Embedded(component string, files embed.FS, dir string, legacy map[int]int) Line {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // a folder embedded at build time: cannot fail
	}
	return Line{Component: component, Files: sub, Legacy: legacy}
}
