package node

import "testing"

// TestStylePostgresLinesMatchTheirSQLiteLines: a style's PostgreSQL line is recorded under the
// style's name, as its SQLite line is (a copy between the drivers and an operator reading
// schema_versions find a style's versions under one name), it reads without error, and it has no
// legacy numbers, which only SQLite databases from before migration lines need.
func TestStylePostgresLinesMatchTheirSQLiteLines(t *testing.T) {
	t.Parallel()
	for _, e := range styles {
		if e.postgres == nil {
			continue
		}
		l := e.postgres.migrations
		switch {
		case e.sqlite == nil:
			t.Errorf("style %s: a PostgreSQL store and no SQLite one", e.name)
		case l.Component != e.name || l.Component != e.sqlite.migrations.Component:
			t.Errorf("style %s: PostgreSQL line %q beside SQLite line %q", e.name, l.Component, e.sqlite.migrations.Component)
		}
		if ms, err := l.Migrations(); err != nil || len(ms) == 0 {
			t.Errorf("style %s: PostgreSQL migrations %d, %v", e.name, len(ms), err)
		}
		if l.Legacy != nil {
			t.Errorf("style %s: PostgreSQL line with legacy numbers %v", e.name, l.Legacy)
		}
	}
}
