package node_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/cmd/switchyard/node"
	"github.com/switchyard/switchyard/runtime/builtin"
)

// TestABuiltinThatDoesNotLoadFailsTheStart gives the node a built-in plugin that is not
// WebAssembly: the port opens, /readyz never answers 200, WaitReady and Done both say which
// plugin failed, and the node stops cleanly.
func TestABuiltinThatDoesNotLoadFailsTheStart(t *testing.T) {
	n, err := node.Open(context.Background(), node.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AdminToken: "boot-admin",
		Builtins: []builtin.Module{{Name: "broken", Wasm: []byte("not a module")}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = n.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "built-in plugin broken") {
		t.Errorf("WaitReady: %v, want the broken plugin named", err)
	}
	select {
	case served := <-n.Done():
		if served == nil || !strings.Contains(served.Error(), "built-in plugin broken") {
			t.Errorf("Done: %v, want the broken plugin named", served)
		}
	case <-ctx.Done():
		t.Error("Done never said the start failed")
	}
	resp, err := http.Get("http://" + n.Addr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "failed to start") {
		t.Errorf("/readyz after a failed start: %d %s, want 503 saying the start failed", resp.StatusCode, body)
	}
	if err := n.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}
