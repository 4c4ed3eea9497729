package sqlite_test

import (
	upsalessqlite "github.com/switchyard/switchyard/plugins/upsales/store/sqlite"
	"github.com/switchyard/switchyard/store/sqlite"
)

// withStyles opens the store with the styles' tables, for the style stores' tests.
func withStyles(o sqlite.Options) sqlite.Options {
	o.Migrations = []sqlite.MigrationLine{upsalessqlite.Migrations}
	return o
}
