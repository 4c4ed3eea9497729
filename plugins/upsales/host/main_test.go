package host_test

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every node and receiver a
// test starts must be stopped by it. A whole run also fails if one of the style's routes in the
// OpenAPI document (/v1/logs, /v1/notifications) was never answered with success here.
func TestMain(m *testing.M) { goleak.VerifyTestMain(nodetest.OpenAPIChecked(m, upsalesRoute)) }

func upsalesRoute(op string) bool {
	_, path, _ := strings.Cut(op, " ")
	return strings.HasPrefix(path, "/v1/logs") || strings.HasPrefix(path, "/v1/notifications")
}
