// Package sqlite is the salesking style's store on the node's SQLite database: its own tables, written
// through the core store's one writer.
package sqlite

import (
	"embed"

	core "github.com/switchyard/switchyard/store/sqlite"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations is the style's line of migrations. The SalesKing style's tables had number 4 in the single sequence of
// builds before migration lines.
var Migrations = core.EmbeddedLine("salesking", files, "migrations", map[int]int{1: 4})
