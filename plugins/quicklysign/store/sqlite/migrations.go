package sqlite

import (
	"embed"

	core "github.com/switchyard/switchyard/store/sqlite"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations is the style's line of migrations. The QuicklySign style's index on the engine's subscriptions had number 3 in the single sequence of
// builds before migration lines.
var Migrations = core.EmbeddedLine("quicklysign", files, "migrations", map[int]int{1: 3})
