package postgres

import (
	"embed"

	"github.com/switchyard/switchyard/store/migrate"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations is the style's line of migrations on PostgreSQL: the SQLite line's, in PostgreSQL's
// dialect, numbered from 1 with no legacy numbers (no PostgreSQL database predates lines).
var Migrations = migrate.Embedded("upsales", files, "migrations", nil)
