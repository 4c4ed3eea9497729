package nodetest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/switchyard/switchyard/api"
)

// The end-to-end tests keep the OpenAPI document (api/openapi.json) true: every call a Client
// makes to the native API is checked against it. The response must always match, error bodies
// included. The request must match whenever the server accepted it: a request the server took
// and the document refuses means the document is wrong. A request the server refused (4xx) may
// be a test's deliberately bad input, and the document is free to refuse it too.

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error

	// answered holds the operations ("GET /v1/apps/{id}") with an accepted call whose request and
	// response matched the document.
	answered sync.Map
)

// OpenAPIChecked wraps a package's tests (TestMain: goleak.VerifyTestMain(nodetest.OpenAPIChecked(m,
// mine))): a whole run (no -run, not -short) that passes also fails if an operation of the document
// that mine selects was never answered with success (2xx) in it, request and response matching the
// document, as its success schema would then go unchecked.
func OpenAPIChecked(m *testing.M, mine func(op string) bool) interface{ Run() int } {
	return openAPIChecked{m, mine}
}

type openAPIChecked struct {
	m    *testing.M
	mine func(string) bool
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
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			op := method + " " + path
			if _, ok := answered.Load(op); !ok && c.mine(op) {
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

func init() {
	// Plugin uploads are the module's bytes.
	openapi3filter.RegisterBodyDecoder("application/wasm", openapi3filter.FileBodyDecoder)
}

// OpenAPIRouter loads the document once and returns its router, for tests that check calls
// themselves.
func OpenAPIRouter() (routers.Router, error) {
	specOnce.Do(func() {
		ctx := context.Background()
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPIDocument)
		if err != nil {
			specErr = fmt.Errorf("load api/openapi.json: %w", err)
			return
		}
		if err := doc.Validate(ctx); err != nil {
			specErr = fmt.Errorf("api/openapi.json is not a valid OpenAPI document: %w", err)
			return
		}
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	return specRouter, specErr
}

// checkOpenAPI reports where a finished call disagrees with the document.
func checkOpenAPI(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) error {
	router, err := OpenAPIRouter()
	if err != nil {
		return err
	}
	// The router matches on the request as the client sent it, whatever host the node listens on.
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.URL.Scheme, r.URL.Host, r.Host = "", "", ""
	route, params, err := router.FindRoute(r)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return nil // a test asking for what does not exist
		}
		return fmt.Errorf("answered %d but is not in the OpenAPI document: %w", status, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && status < 400 {
		return fmt.Errorf("the server accepted (%d) a request the OpenAPI document refuses: %w", status, err)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		var me openapi3.MultiError
		if errors.As(err, &me) && len(me) == 0 {
			return nil
		}
		return fmt.Errorf("the %d response does not match the OpenAPI document: %w", status, err)
	}
	if status < 300 {
		answered.Store(route.Method+" "+route.Path, true)
	}
	return nil
}
