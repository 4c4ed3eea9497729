// Package sqlite is the upsales style's store on the node's SQLite database: its own tables, written
// through the core store's one writer.
package sqlite

import (
	"embed"

	core "github.com/switchyard/switchyard/store/sqlite"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations is the style's line of migrations. The Upsales style's tables had number 6 in the single sequence of
// builds before migration lines.
var Migrations = func() core.MigrationLine {
	l := core.EmbeddedLine("upsales", files, "migrations", map[int]int{1: 6})
	l.After = hashLegacyTokens
	return l
}()
