package runtime

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/switchyard/switchyard/sdk"
)

// verdicts remembers, beside the compilation cache, the manifest of every module LoadDormant
// found valid, so that a restart of the same build need not compile and run a module only to learn
// again what it already knew: from the on-disk cache a compile still takes 90-160 ms a module
// (wazero decodes the whole module), most of a restart's time to ready. A remembered module is
// compiled when its first call needs it, as a dormant one is.
//
// The verdicts are kept per build of the host (its Go build ID): a different binary may check a
// module differently (its imports, its exports, its ABI), so it judges every module again once.
// They are as trusted as the compilation cache beside them, which holds the machine code itself.
type verdicts struct {
	dir string // "" keeps none
}

// staleVerdictsAfter is how long another build's verdicts stay unchanged before a start drops
// them: not at once, since other builds may be running on the same cache (every test binary of
// make test shares one), and a verdict dropped under a running build only costs it a compile.
const staleVerdictsAfter = 24 * time.Hour

// newVerdicts keeps verdicts under cacheDir for build (hostBuild's name for this one), and drops
// other builds' stale ones.
func newVerdicts(cacheDir, build string) verdicts {
	if cacheDir == "" || build == "" {
		return verdicts{}
	}
	root := filepath.Join(cacheDir, "verdicts")
	if entries, err := os.ReadDir(root); err == nil {
		for _, e := range entries {
			if info, err := e.Info(); err == nil && e.Name() != build && time.Since(info.ModTime()) > staleVerdictsAfter {
				_ = os.RemoveAll(filepath.Join(root, e.Name()))
			}
		}
	}
	return verdicts{dir: filepath.Join(root, build)}
}

// manifest returns the manifest remembered for the module with this hash, checked again against
// ValidateManifest (a verdict is a file, and files get damaged).
func (v verdicts) manifest(hash string) (sdk.Manifest, bool) {
	var m sdk.Manifest
	if v.dir == "" {
		return m, false
	}
	b, err := os.ReadFile(v.path(hash))
	if err != nil || json.Unmarshal(b, &m) != nil || ValidateManifest(&m) != nil {
		return sdk.Manifest{}, false
	}
	return m, true
}

// remember keeps a valid module's manifest. Written to a temporary file and renamed, so that a
// reader never sees half of one; a failed write only costs the next start a compile.
func (v verdicts) remember(hash string, m sdk.Manifest) {
	if v.dir == "" {
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	// Made on the first verdict, not by every runtime: most test binaries never load dormant.
	if err := os.MkdirAll(v.dir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(v.dir, "verdict-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), v.path(hash)) != nil {
		_ = os.Remove(tmp.Name())
	}
}

func (v verdicts) path(hash string) string { return filepath.Join(v.dir, hash+".json") }

var (
	hostBuildOnce sync.Once
	hostBuildID   string
)

// hostBuild names this build of the host: a digest of the Go build ID in the running executable,
// which changes with any change to its code. "" where it cannot be read (not ELF, no build ID):
// then no verdict is kept.
func hostBuild() string {
	hostBuildOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			return
		}
		f, err := elf.Open(exe)
		if err != nil {
			return
		}
		defer f.Close()
		note := f.Section(".note.go.buildid")
		if note == nil {
			return
		}
		b, err := note.Data()
		if err != nil || len(b) == 0 {
			return
		}
		sum := sha256.Sum256(b)
		hostBuildID = hex.EncodeToString(sum[:12])
	})
	return hostBuildID
}
