package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The data dir holds what a node keeps on disk: the SQLite database (switchyard.db), the admin
// token (admin-token), the server signing key and certificate (server-key.pem, server-cert.pem),
// the key confirmation URLs' tokens are derived from (confirm-token-key), the styles' secrets (one
// file each, such as ivvy-api-key or upsales-callback-key), uploaded plugins (plugins/), the
// compilation cache (cache/) and the lock (switchyard.lock). Secret files are mode 0600.

// ErrDataDirInUse is returned by Open when another process serves from the same data dir.
var ErrDataDirInUse = errors.New("data dir in use")

const (
	lockFile       = "switchyard.lock"
	dbFile         = "switchyard.db"
	adminTokenFile = "admin-token"
)

// dataDirLock is an exclusive lock on a data dir, held for the life of the process that took it.
// Two nodes on one SQLite file would each take the other's claimed deliveries for leftovers of a
// crash and send them again, so the second is refused before it touches anything.
type dataDirLock struct{ f *os.File }

// lockDataDir takes the data dir's lock, or says which process holds it. The lock is an flock on
// the lock file: the kernel drops it when its holder exits, however it exits, so a crash leaves
// nothing to clean up.
func lockDataDir(dir string) (*dataDirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another process"
			if pid, err := strconv.Atoi(strings.TrimSpace(string(holder))); err == nil {
				who = "process " + strconv.Itoa(pid)
			}
			return nil, fmt.Errorf("%w: %s serves from %s (it holds %s); stop it, or give this one another --data-dir",
				ErrDataDirInUse, who, dir, path)
		}
		return nil, fmt.Errorf("--data-dir %s: lock: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dataDirLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would let a third process lock a new file
// while a second still waits on the old one.
func (l *dataDirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}

// adminToken returns the configured token, else the one in the data dir, else a new one written
// there (mode 0600) for the operator to read once.
func adminToken(configured, dataDir string) (token string, generated bool, err error) {
	if configured != "" {
		return configured, false, nil
	}
	path := filepath.Join(dataDir, adminTokenFile)
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", false, err
	}
	token = "sya_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	return token, true, nil
}

// dataDirSecrets keeps the styles' secrets as files in the data dir, hex-encoded, mode 0600.
type dataDirSecrets struct{ dir string }

// tokenSecretFile is the secret the tokens of subscriptions' confirmation URLs are derived from:
// with it, the database keeps only their hashes.
const tokenSecretFile = "confirm-token-key"

// secretBytes is the size of a style's secret.
const secretBytes = 32

// Secret returns the named secret, made on first use. A name is a file name: no separators.
func (s dataDirSecrets) Secret(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("secret %q: want a plain file name", name)
	}
	path := filepath.Join(s.dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) < secretBytes {
			return nil, fmt.Errorf("secret %s is not a %d-byte hex key", path, secretBytes)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret %s: %w", path, err)
	}
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write secret %s: %w", path, err)
	}
	return key, nil
}

// Migrate brings the database (database, as --database takes it; empty: the one in dataDir) up to
// date, the styles' tables too, and closes it. It takes the data dir's lock, so it never runs
// beside a node serving from that folder; nodes on PostgreSQL migrate one at a time by themselves.
func Migrate(ctx context.Context, dataDir, database string) error {
	db, err := ParseDatabase(database, dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return err
	}
	defer lock.release()
	s, err := openStore(ctx, db, "")
	if err != nil {
		return err
	}
	return s.Close()
}
