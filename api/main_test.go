package api_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every service started in a
// test must be stopped by it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
