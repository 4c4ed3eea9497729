package node

import (
	"testing"

	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// TestMain fails the package's tests if any goroutine outlives them: every service started in a
// test must be stopped by it. It stops the throwaway PostgreSQL the tests that need one start.
func TestMain(m *testing.M) { pgtest.Main(m) }
