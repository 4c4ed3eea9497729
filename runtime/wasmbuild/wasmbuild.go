// Package wasmbuild builds a Go plugin package into a WebAssembly module the runtime can load.
package wasmbuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles the main package in pkgDir (a directory path) to out with the standard Go
// toolchain. A plugin is a WASI reactor: -buildmode=c-shared keeps main from running and exiting,
// and gives the module an _initialize export that the host calls once per instance.
func Build(ctx context.Context, pkgDir, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("build plugin: %w", err)
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("build plugin: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-trimpath", "-o", absOut, ".")
	cmd.Dir = pkgDir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build plugin %s: %w\n%s", pkgDir, err, stderr.String())
	}
	return nil
}
