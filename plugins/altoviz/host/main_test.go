package host_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every node and receiver a
// test starts must be stopped by it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
