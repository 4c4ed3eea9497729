// Package receivers runs the example receivers from Go tests. No receiver uses Switchyard's own
// code, but only two verify with a library that someone else wrote and published:
//
//   - standard.js: the Standard Webhooks reference library, the npm package standardwebhooks.
//   - ivvy.js: AWS's SNS message validator, the npm package sns-validator.
//
// The others are our own code, written from the vendor's document, with a language's standard
// library doing the cryptography:
//
//   - altoviz.py: Python's hmac module; the check around it is ours.
//   - salesking.js: our Node.js rendering of the SalesKing SDK's SignedRequest (the Ruby gem
//     sk_sdk), with Node's crypto; the gem itself is not run (no Ruby or RubyGems here).
//   - upsales.js: ours; Upsales publishes no library for its app requests.
//   - quicklysign.js: ours; QuicklySign signs nothing and publishes no library for its callbacks.
//
// So a check by the last four shows that a delivery matches our reading of the vendor's document,
// not that a vendor's own code accepts it.
package receivers

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"syscall"
	"testing"
)

var installOnce sync.Once

// Dir returns the receivers' folder with its npm dependencies installed, installing them with
// `npm ci` (from the committed lockfile) when they are missing.
func Dir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := goruntime.Caller(0)
	dir := filepath.Dir(file)
	var err error
	installOnce.Do(func() { err = install(dir) })
	if err != nil {
		t.Fatalf("install the receivers' npm packages: %v", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is needed to run the example receivers: %v", err)
	}
	return dir
}

func install(dir string) error {
	// Test binaries of several packages may get here at once; a file lock makes one install.
	lock, err := os.OpenFile(filepath.Join(dir, ".npm-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	// An install older than the lockfile misses what was added since (a new style's verifier).
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	locked, lerr := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err == nil && lerr == nil && !installed.ModTime().Before(locked.ModTime()) {
		return nil
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return &commandError{err: err, output: out.String()}
	}
	return nil
}

type commandError struct {
	err    error
	output string
}

func (e *commandError) Error() string { return e.err.Error() + "\n" + e.output }

// Run runs a receiver script with node and returns its standard output, and an error quoting its
// standard error when it exits unsuccessfully.
func Run(t testing.TB, script string, args ...string) (stdout string, err error) {
	t.Helper()
	return RunEnv(t, nil, script, args...)
}

// RunEnv is Run with variables added to the environment (NODE_EXTRA_CA_CERTS, say).
func RunEnv(t testing.TB, env []string, script string, args ...string) (stdout string, err error) {
	t.Helper()
	cmd := Command(t, script, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), &commandError{err: err, output: errOut.String()}
	}
	return out.String(), nil
}

// Command returns the command that runs a receiver script with node, for callers that run it
// themselves (a long-running receiver, say).
func Command(t testing.TB, script string, args ...string) *exec.Cmd {
	t.Helper()
	dir := Dir(t)
	return exec.Command("node", append([]string{filepath.Join(dir, script)}, args...)...)
}
