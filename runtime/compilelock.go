package runtime

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockCompile serialises compiling one module in one mode across every process that shares the
// compilation cache's folder, and returns the unlock. The first compiles and fills the cache; the
// others wait, then find the machine code there instead of compiling it again. Without it, the
// test packages of `make test`, which run in parallel on a cold cache, each compiled every plugin
// (about 12 s apiece under the race detector), and so would two nodes started at once on one
// cache. Without a cache folder there is nothing to share, and a lock that cannot be taken only
// costs the compile it was meant to spare.
func (r *Runtime) lockCompile(hash string, mode Mode) (unlock func()) {
	if r.cfg.CacheDir == "" {
		return func() {}
	}
	name := filepath.Join(r.cfg.CacheDir, "compiling-"+hash[:16]+"-"+mode.String()+".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return func() {}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
