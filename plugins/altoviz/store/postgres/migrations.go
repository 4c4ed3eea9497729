// Package postgres is the Altoviz style's store on the node's PostgreSQL database: its own tables,
// written through the core store's transactions (store/postgres).
package postgres

import (
	"embed"

	"github.com/switchyard/switchyard/store/migrate"
)

//go:embed migrations/*.sql
var files embed.FS

// Migrations is the style's PostgreSQL line of migrations, numbered from 1 on its own: no
// PostgreSQL database predates migration lines, so it has no legacy numbers.
var Migrations = migrate.Embedded("altoviz", files, "migrations", nil)
