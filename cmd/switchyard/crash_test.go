package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the switchyard binary, with the embedded plugins `make plugins` built.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "switchyard")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serverProcess is switchyard running as a child process.
type serverProcess struct {
	cmd  *exec.Cmd
	log  *bytes.Buffer
	addr string
}

func startServer(t *testing.T, bin, addr, dataDir string, extra ...string) *serverProcess {
	t.Helper()
	log := &bytes.Buffer{}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--admin-token", "crash-admin",
		"--allow-private", "127.0.0.0/8", "--grace", "2s", "--log-level", "warn"}, extra...)...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, log: log, addr: addr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("server did not become ready: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *serverProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// newPublisher makes, through the admin token, an account, an app and a publishing key bound to the
// account, which also subscribes there; bases name the node each call goes to, in turn (one node,
// or several on one database).
func newPublisher(t *testing.T, name string, bases ...string) (accountID, token string) {
	t.Helper()
	var acct, app struct{ ID string }
	var cred struct{ Token string }
	base := func(i int) string { return bases[i%len(bases)] }
	if _, err := apiCall(base(0), "crash-admin", "POST", "/v1/accounts", map[string]string{"name": name}, &acct); err != nil {
		t.Fatal(err)
	}
	if _, err := apiCall(base(1), "crash-admin", "POST", "/v1/apps", map[string]string{"name": name}, &app); err != nil {
		t.Fatal(err)
	}
	if _, err := apiCall(base(2), "crash-admin", "POST", "/v1/apps/"+app.ID+"/credentials",
		map[string]any{"kind": "api_key", "account_id": acct.ID, "scopes": []string{"events:publish"}}, &cred); err != nil {
		t.Fatal(err)
	}
	return acct.ID, cred.Token
}

func apiCall(base, token, method, path string, body any, out any) (int, error) {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, base+path, bytes.NewReader(raw))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: %w", b, err)
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// TestCrashLosesNoAcceptedEvent publishes a few thousand events, kills the server with SIGKILL
// while deliveries are in flight, restarts it on the same data, and checks that every event the
// API accepted reaches the receiver, and that any duplicate carries the same delivery id.
func TestCrashLosesNoAcceptedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server as a subprocess")
	}
	bin := buildBinary(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr

	// A little latency keeps many deliveries in flight when the kill comes.
	rc := newEventRecorder(t, func() time.Duration { return 20 * time.Millisecond })

	srv := startServer(t, bin, addr, dataDir)
	must := func(_ int, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	accountID, token := newPublisher(t, "crash", base)
	must(apiCall(base, token, "POST", "/v1/subscriptions", map[string]any{
		"account_id": accountID, "format": "standard", "events": []string{"*"}, "url": rc.URL,
		"retry_policy": map[string]any{"schedule": []string{"100ms", "200ms", "500ms", "1s", "1s", "1s", "1s", "1s"}},
	}, nil))

	const total = 3000
	var accepted sync.Map // event key -> true, once the API answered 202
	var acceptedN atomic.Int64
	publish := func(i int) error {
		key := fmt.Sprintf("e%05d", i)
		_, err := apiCall(base, token, "POST", "/v1/events", map[string]any{
			"account_id": accountID, "type": "client.create", "idempotency_key": key,
			"entity": map[string]string{"type": "client", "id": key}, "data": map[string]string{"event": key},
		}, nil)
		if err == nil {
			if _, dup := accepted.LoadOrStore(key, true); !dup {
				acceptedN.Add(1)
			}
		}
		return err
	}

	// Publish from several clients; kill the server once a third are accepted and deliveries are
	// flowing, then keep publishing (failures are retried, with the same idempotency key, after
	// the restart).
	var wg sync.WaitGroup
	next := make(chan int, total)
	for i := range total {
		next <- i
	}
	close(next)
	var failed sync.Map
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if err := publish(i); err != nil {
					failed.Store(i, true)
				}
			}
		})
	}
	// Until then, but not forever: a server that stops accepting or delivering fails the test.
	deadline := time.Now().Add(2 * time.Minute)
	for acceptedN.Load() < total/3 || rc.requests.Load() < 200 {
		if time.Now().After(deadline) {
			srv.kill(t)
			wg.Wait()
			t.Fatalf("within 2 minutes %d events were accepted and %d requests received; the kill waits for %d and 200\n%s",
				acceptedN.Load(), rc.requests.Load(), total/3, srv.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	srv.kill(t)
	killedAt := acceptedN.Load()
	inFlightAtKill := rc.active.Load()
	wg.Wait()

	srv = startServer(t, bin, addr, dataDir)
	defer func() { _ = srv.cmd.Process.Signal(syscall.SIGTERM); _ = srv.cmd.Wait() }()
	retried := 0
	failed.Range(func(k, _ any) bool {
		retried++
		if err := publish(k.(int)); err != nil {
			t.Errorf("publish after restart: %v", err)
		}
		return true
	})

	rc.waitForAll(t, &accepted, 90*time.Second, srv.log.String)
	duplicates := rc.checkDuplicates(t, &accepted)
	if int(acceptedN.Load()) != total {
		t.Errorf("accepted %d of %d events", acceptedN.Load(), total)
	}
	t.Logf("accepted %d events (%d before the kill, with %d deliveries in flight at the receiver; %d publishes retried after it); %d requests delivered them all, %d of them duplicates sharing their delivery id",
		acceptedN.Load(), killedAt, inFlightAtKill, retried, rc.requests.Load(), duplicates)
}
