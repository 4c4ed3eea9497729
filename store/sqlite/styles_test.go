package sqlite_test

import (
	quicklysignsqlite "github.com/switchyard/switchyard/plugins/quicklysign/store/sqlite"
	upsalessqlite "github.com/switchyard/switchyard/plugins/upsales/store/sqlite"
	"github.com/switchyard/switchyard/store/sqlite"
)

// withStyles opens the store with the styles' tables, for the style stores' tests.
func withStyles(o sqlite.Options) sqlite.Options {
	o.Migrations = []sqlite.MigrationLine{quicklysignsqlite.Migrations, upsalessqlite.Migrations}
	return o
}
