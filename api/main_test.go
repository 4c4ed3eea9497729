package api_test

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/switchyard/switchyard/api"
	"github.com/switchyard/switchyard/cmd/switchyard/node/nodetest"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every service started in a
// test must be stopped by it. A whole run (no -run) also fails if an operation of the OpenAPI
// document was never answered with success in it, request and response checked against the
// document: its success schema would be unchecked.
func TestMain(m *testing.M) { goleak.VerifyTestMain(openAPIChecked{m}) }

type openAPIChecked struct{ m *testing.M }

// elsewhere are the operations other packages' end-to-end tests answer: the Upsales style's
// routes (plugins/upsales/host).
var elsewhere = map[string]bool{
	"GET /v1/logs": true, "GET /v1/logs/{id}": true, "GET /v1/notifications": true, "POST /v1/notifications/{id}/open": true,
}

func (c openAPIChecked) Run() int {
	code := c.m.Run()
	if code != 0 || flag.Lookup("test.run").Value.String() != "" || testing.Short() {
		return code
	}
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIDocument)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	answered := nodetest.AnsweredOperations()
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			op := method + " " + path
			if !answered[op] && !elsewhere[op] && path[:4] == "/v1/" {
				missing = append(missing, op)
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		fmt.Fprintf(os.Stderr, "FAIL: no test answered these operations of api/openapi.json with success, so their success schemas are unchecked: %v\n", missing)
		return 1
	}
	return 0
}
