package sqlite_test

import (
	altovizsqlite "github.com/switchyard/switchyard/plugins/altoviz/store/sqlite"
	quicklysignsqlite "github.com/switchyard/switchyard/plugins/quicklysign/store/sqlite"
	saleskingsqlite "github.com/switchyard/switchyard/plugins/salesking/store/sqlite"
	"github.com/switchyard/switchyard/store/sqlite"
)

// withStyles opens the store with the styles' tables, for the style stores' tests.
func withStyles(o sqlite.Options) sqlite.Options {
	o.Migrations = []sqlite.MigrationLine{altovizsqlite.Migrations, quicklysignsqlite.Migrations, saleskingsqlite.Migrations}
	return o
}
