package builtin

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEveryPluginFolderIsEmbedded catches a built-in plugin that `make plugins` skipped.
func TestEveryPluginFolderIsEmbedded(t *testing.T) {
	mods, err := Modules()
	if err != nil {
		t.Fatal(err)
	}
	embedded := map[string]bool{}
	for _, m := range mods {
		embedded[m.Name] = len(m.Wasm) > 0
	}
	folders, err := filepath.Glob("../../plugins/*/wasm/main.go")
	if err != nil || len(folders) == 0 {
		t.Fatalf("no plugin folders found: %v", err)
	}
	for _, f := range folders {
		name := filepath.Base(filepath.Dir(filepath.Dir(f)))
		if !embedded[name] {
			t.Errorf("plugin %s has a wasm entry point but is not embedded; run make plugins", name)
		}
	}
	if _, err := os.Stat(filepath.Join("wasm", "README.md")); err != nil {
		t.Error("the wasm folder's README keeps the embed pattern valid on a fresh clone")
	}
}
