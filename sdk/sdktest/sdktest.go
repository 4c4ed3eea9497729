// Package sdktest runs plugin logic natively, through exactly the encode, dispatch and decode path
// the wasm module runs, so a plugin's behaviour can be tested with plain `go test`.
package sdktest

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/switchyard/switchyard/sdk"
	"github.com/switchyard/switchyard/sdk/signing"
)

// Host is a native sdk.Host: it signs with Keys and reads Clock.
type Host struct {
	Keys signing.Keyring
	// Clock defaults to time.Now.
	Clock func() time.Time

	mu   sync.Mutex
	logs []string
}

func (h *Host) Sign(ref, alg string, msg []byte) ([]byte, error) { return h.Keys.Sign(ref, alg, msg) }

func (h *Host) Now() time.Time {
	if h.Clock != nil {
		return h.Clock()
	}
	return time.Now()
}

func (h *Host) Random(p []byte) { _, _ = rand.Read(p) }

func (h *Host) Log(level sdk.LogLevel, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs = append(h.logs, msg)
}

// Logs returns what the plugin logged.
func (h *Host) Logs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.logs...)
}

// Shape runs p's Shape on in natively, through the ABI's encoding, and decodes the request.
func Shape(p *sdk.Plugin, h *Host, in *sdk.Input) (*sdk.Request, error) {
	out, err := call(p, sdk.ExportShape, h, in, in.Event.Data)
	if err != nil {
		return nil, err
	}
	return sdk.DecodeRequest(out)
}

// OnSubscribe runs p's OnSubscribe natively.
func OnSubscribe(p *sdk.Plugin, h *Host, in *sdk.Input) (*sdk.Request, error) {
	out, err := call(p, sdk.ExportOnSubscribe, h, in, nil)
	if err != nil {
		return nil, err
	}
	return sdk.DecodeRequest(out)
}

// OnResponse runs p's OnResponse natively; in.Response must be set.
func OnResponse(p *sdk.Plugin, h *Host, in *sdk.Input) (*sdk.Verdict, error) {
	if in.Response == nil {
		return nil, fmt.Errorf("sdktest: OnResponse needs in.Response")
	}
	out, err := call(p, sdk.ExportOnResponse, h, in, in.Response.Body)
	if err != nil {
		return nil, err
	}
	return sdk.DecodeVerdict(out)
}

func call(p *sdk.Plugin, export string, h *Host, in *sdk.Input, payload []byte) ([]byte, error) {
	frame := in.AppendFrame(nil, payload)
	out, isErr := p.Call(export, frame, h, nil)
	if isErr {
		return nil, sdk.DecodeError(out)
	}
	return out, nil
}
