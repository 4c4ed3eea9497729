package postgres_test

import (
	"testing"

	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestMain starts one throwaway PostgreSQL cluster for the package's tests (on first use), each test
// with its own database, and stops it at the end.
func TestMain(m *testing.M) { pgtest.Main(m) }
