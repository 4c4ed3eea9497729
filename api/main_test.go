package api_test

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every service started in a
// test must be stopped by it. A whole run also fails if an operation of the OpenAPI document was
// never answered with success here, but for the Upsales style's, which plugins/upsales/host answers.
func TestMain(m *testing.M) { goleak.VerifyTestMain(nodetest.OpenAPIChecked(m, notUpsales)) }

func notUpsales(op string) bool {
	_, path, _ := strings.Cut(op, " ")
	return strings.HasPrefix(path, "/v1/") && !strings.HasPrefix(path, "/v1/logs") && !strings.HasPrefix(path, "/v1/notifications")
}
