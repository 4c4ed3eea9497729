// Command gen writes the upgrade fixture in cmd/switchyard/testdata/upgrade: a data dir written by
// the landed version of switchyard, and expected.json, what it holds. TestUpgrade opens it with the
// binary of the source under test and checks that nothing was lost.
//
// It runs the real binary (build it first: make build) on a fresh data dir, populates it through
// the HTTP APIs only (the native API and every vendor style's compatible API), lets deliveries
// succeed, fail, die and stay pending, stops the server with SIGTERM, folds the WAL into the
// database file and reads what to expect back from the file with plain SQL. It uses no package of
// this module, so it keeps working whatever the layout, and so does the fixture it makes:
//
//	make build
//	go run ./cmd/switchyard/testdata/upgrade/gen            # from the repository's root
//
// Subscriptions meant to stay pending point at PendingAddr (127.0.0.1:39571), where a receiver
// answers 500 with Retry-After: 20 while this runs; TestUpgrade listens there and answers 200, so
// that those deliveries are made after the upgrade and their signatures can be checked against the
// secrets recorded here. Everything else goes to a receiver on a port of the moment, and is either
// finished (succeeded, failed, dead) or scheduled for 2099.
//
// Run it again only to make a fixture of a new landed version: the point of the fixture is that it
// was written by an older binary than the one under test.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// PendingAddr is where the subscriptions that must still be pending after generation deliver.
const PendingAddr = "127.0.0.1:39571"

// AdminToken is the fixture's operator token, kept in the data dir's admin-token file.
const AdminToken = "sya_upgrade-fixture-admin-token-0000000000000000000"

// FarFuture is the deliver_at of the event whose deliveries stay scheduled.
const FarFuture = "2099-01-01T00:00:00Z"

// dataFiles are the data dir's files the fixture keeps: everything but caches and the lock. Later
// versions keep more keys there; the fixture keeps whichever files the landed version wrote.
var dataFiles = []string{"switchyard.db", "admin-token", "server-key.pem", "server-cert.pem", "ivvy-api-key"}

// laterDataFiles are kept when the landed version wrote them.
var laterDataFiles = []string{"confirm-token-key", "upsales-callback-key"}

func main() {
	bin := flag.String("bin", "bin/switchyard", "the switchyard binary of the landed version")
	out := flag.String("out", "cmd/switchyard/testdata/upgrade", "folder to write the fixture to")
	keep := flag.Bool("keep", false, "keep the temporary data dir")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if err := run(*bin, *out, *keep); err != nil {
		log.Fatal(err)
	}
}

// Expected is expected.json.
type Expected struct {
	// LandedCommit is the commit of the source the binary was built from.
	LandedCommit string `json:"landed_commit"`
	GeneratedAt  string `json:"generated_at"`
	AdminToken   string `json:"admin_token"`
	// PendingReceiver is where the pending subscriptions deliver (PendingAddr).
	PendingReceiver string `json:"pending_receiver"`
	// CertificatePath is where the server key's certificate is served; CertificateSHA256 is the
	// hex SHA-256 of the PEM file served there.
	CertificatePath   string `json:"certificate_path"`
	CertificateSHA256 string `json:"certificate_sha256"`
	// Files are the data dir's files with their hex SHA-256, as generated.
	Files            map[string]string `json:"files"`
	SchemaMigrations []int64           `json:"schema_migrations"`
	// Tables is the row count of every table in the database, sqlite_sequence included (the
	// planner's sqlite_stat* tables aside).
	Tables        map[string]int64 `json:"tables"`
	Accounts      []Account        `json:"accounts"`
	Apps          []App            `json:"apps"`
	Credentials   []Credential     `json:"credentials"`
	Subscriptions []Subscription   `json:"subscriptions"`
	Events        []Event          `json:"events"`
	Deliveries    []Delivery       `json:"deliveries"`
	Upsales       Upsales          `json:"upsales"`
	SalesKing     []SalesKingCo    `json:"salesking_companies"`
}

type Account struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type App struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Secret is the app's signing secret, shown when it was created (Upsales' authenticationKey).
	Secret string `json:"secret"`
}

type Credential struct {
	ID        string   `json:"id"`
	Role      string   `json:"role"`
	AppID     string   `json:"app_id"`
	AccountID string   `json:"account_id,omitempty"`
	Kind      string   `json:"kind"`
	Scopes    []string `json:"scopes"`
	Primary   bool     `json:"primary"`
	// Token is what api_key and access_token credentials present.
	Token string `json:"token,omitempty"`
	// ClientID and ClientSecret are a client credential's pair.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	Revoked      bool   `json:"revoked"`
	// IvvyAPIKey and IvvyAPISecret are the IWS pair of a primary key (GET /compat/ivvy/api-key).
	IvvyAPIKey    string `json:"ivvy_api_key,omitempty"`
	IvvyAPISecret string `json:"ivvy_api_secret,omitempty"`
}

type Subscription struct {
	ID           string            `json:"id"`
	Role         string            `json:"role"`
	AppID        string            `json:"app_id"`
	AccountID    string            `json:"account_id"`
	CredentialID string            `json:"credential_id,omitempty"`
	Format       string            `json:"format"`
	Events       []string          `json:"events"`
	EntityKey    string            `json:"entity_key,omitempty"`
	URL          string            `json:"url"`
	Options      map[string]string `json:"options,omitempty"`
	State        string            `json:"state"`
	// Secret is the signing secret as its subscriber was given it (the API shows it once); empty
	// for unsigned subscriptions and for those signed with the app's secret or the server key.
	Secret string `json:"secret,omitempty"`
	// PreviousSecret is the secret a rotation replaced, as its subscriber had it.
	PreviousSecret string `json:"previous_secret,omitempty"`
	// SecretStored, PreviousSecretStored and PreviousSecretExpiresAt are the database's columns.
	SecretStored            string          `json:"secret_stored"`
	PreviousSecretStored    string          `json:"previous_secret_stored"`
	PreviousSecretExpiresAt *int64          `json:"previous_secret_expires_at_ms,omitempty"`
	RetryPolicy             json.RawMessage `json:"retry_policy,omitempty"`
	MaxPerSecond            float64         `json:"max_per_second,omitempty"`
	HasConfirmToken         bool            `json:"has_confirm_token"`
	AltovizWebhookID        int64           `json:"altoviz_webhook_id,omitempty"`
	AltovizName             string          `json:"altoviz_name,omitempty"`
	Notes                   []string        `json:"notes,omitempty"`
}

type Event struct {
	ID             string `json:"id"`
	AccountID      string `json:"account_id"`
	Type           string `json:"type"`
	EntityType     string `json:"entity_type"`
	EntityID       string `json:"entity_id"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	DeliverAt      string `json:"deliver_at,omitempty"`
	// DataSHA256 is the hex SHA-256 of the raw data column, kept byte for byte.
	DataSHA256 string `json:"data_sha256"`
}

type Delivery struct {
	ID             string `json:"id"`
	EventID        string `json:"event_id,omitempty"`
	SubscriptionID string `json:"subscription_id"`
	AppID          string `json:"app_id"`
	Kind           string `json:"kind"`
	State          string `json:"state"`
	Attempts       int    `json:"attempts"`
	NextAttemptAt  int64  `json:"next_attempt_at_ms"`
	LastStatus     int    `json:"last_status"`
	// ToPendingReceiver says the delivery goes to PendingReceiver, so it is due again after the
	// upgrade; the others that are pending wait for 2099.
	ToPendingReceiver bool `json:"to_pending_receiver"`
}

type Upsales struct {
	LogIDs          []string `json:"log_ids"`
	NotificationIDs []string `json:"notification_ids"`
	// AppData is every upsales_app_data row as "app_id/account_id/user_id" -> data.
	AppData map[string]string `json:"app_data"`
	Users   []string          `json:"users"`
}

type SalesKingCo struct {
	AccountID string `json:"account_id"`
	SubDomain string `json:"sub_domain"`
}

func run(bin, out string, keep bool) error {
	commit, err := landedCommit()
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("the binary: %w (run make build first)", err)
	}
	dataDir, err := os.MkdirTemp("", "switchyard-upgrade-fixture-")
	if err != nil {
		return err
	}
	if keep {
		log.Printf("data dir: %s", dataDir)
	} else {
		defer os.RemoveAll(dataDir)
	}
	// The operator's token lives in the data dir, as on a server that generated its own.
	if err := os.WriteFile(filepath.Join(dataDir, "admin-token"), []byte(AdminToken+"\n"), 0o600); err != nil {
		return err
	}

	recv, err := newReceiver("127.0.0.1:0", false)
	if err != nil {
		return err
	}
	defer recv.close()
	pending, err := newReceiver(PendingAddr, true)
	if err != nil {
		return fmt.Errorf("the pending receiver needs %s free: %w", PendingAddr, err)
	}
	defer pending.close()

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	srv, err := startServer(bin, addr, dataDir)
	if err != nil {
		return err
	}
	defer srv.kill()
	g := &gen{base: "http://" + addr, recv: recv, pending: pending, exp: &Expected{
		LandedCommit: commit, AdminToken: AdminToken, PendingReceiver: PendingAddr,
	}}
	if err := g.populate(); err != nil {
		return fmt.Errorf("%w\nserver log:\n%s", err, srv.log.String())
	}
	if err := g.settle(); err != nil {
		return fmt.Errorf("%w\nserver log:\n%s", err, srv.log.String())
	}
	if err := g.certificate(); err != nil {
		return err
	}
	log.Printf("stopping the server (SIGTERM)")
	if err := srv.stop(); err != nil {
		return fmt.Errorf("%w\nserver log:\n%s", err, srv.log.String())
	}
	if err := checkpoint(filepath.Join(dataDir, "switchyard.db")); err != nil {
		return err
	}
	if err := g.readDatabase(filepath.Join(dataDir, "switchyard.db")); err != nil {
		return err
	}
	g.exp.GeneratedAt = time.Now().UTC().Format(time.RFC3339)
	g.exp.Files = map[string]string{}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, name := range append(dataFiles, laterDataFiles...) {
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if errors.Is(err, os.ErrNotExist) && slices.Contains(laterDataFiles, name) {
			continue
		}
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		g.exp.Files[name] = hex.EncodeToString(sum[:])
		// 0644 in git whatever the mode; the test copies them into a data dir of its own.
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(g.exp, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "expected.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s: %d accounts, %d apps, %d credentials, %d subscriptions, %d events, %d deliveries",
		out, len(g.exp.Accounts), len(g.exp.Apps), len(g.exp.Credentials), len(g.exp.Subscriptions), len(g.exp.Events), len(g.exp.Deliveries))
	return nil
}

// landedCommit is the last commit that changed anything but this fixture, refusing a source tree
// with uncommitted changes outside it: the binary must be that commit's.
func landedCommit() (string, error) {
	status, err := exec.Command("git", "status", "--porcelain", "--", ".", ":!cmd/switchyard/testdata/upgrade").Output()
	if err != nil {
		return "", fmt.Errorf("git status (run from the repository's root): %w", err)
	}
	if len(bytes.TrimSpace(status)) > 0 {
		return "", fmt.Errorf("the source has uncommitted changes; the fixture must come from a landed commit:\n%s", status)
	}
	h, err := exec.Command("git", "log", "-1", "--format=%H", "--", ".", ":!cmd/switchyard/testdata/upgrade").Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(h)), nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// --- the server ---

type server struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServer(bin, addr, dataDir string) (*server, error) {
	s := &server{log: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "serve", "--addr", addr, "--data-dir", dataDir, "--allow-private", "127.0.0.0/8",
		"--grace", "5s", "--log-level", "info")
	// Only the flags above: no SWITCHYARD_* variable of the caller's may change the server.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHYARD_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("the server exited: %v\n%s", err, s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("the server did not become ready\n%s", s.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-s.done:
		s.done <- nil
		if err != nil {
			return fmt.Errorf("the server exited with %w", err)
		}
		return nil
	case <-time.After(time.Minute):
		return errors.New("the server did not stop within a minute of SIGTERM")
	}
}

func (s *server) kill() {
	select {
	case <-s.done:
		s.done <- nil
	default:
		_ = s.cmd.Process.Kill()
		<-s.done
		s.done <- nil
	}
}

// --- the receivers ---

// request is one request a receiver got.
type request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

type receiver struct {
	srv     *http.Server
	addr    string
	failing bool // the pending receiver: 500 to everything

	mu   sync.Mutex
	reqs []request
}

func newReceiver(addr string, failing bool) (*receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &receiver{addr: ln.Addr().String(), failing: failing}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) close() { _ = r.srv.Close() }

func (r *receiver) url(path string) string { return "http://" + r.addr + path }

func (r *receiver) requests(prefix string) []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []request
	for _, q := range r.reqs {
		if strings.HasPrefix(q.Path, prefix) {
			out = append(out, q)
		}
	}
	return out
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, request{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
	r.mu.Unlock()
	if r.failing {
		// Retried no sooner than this asks, whatever the format's schedule: the deliveries stay
		// pending while the fixture is made, and are due soon after.
		w.Header().Set("Retry-After", "20")
		http.Error(w, "not yet", http.StatusInternalServerError)
		return
	}
	p := req.URL.Path
	switch {
	case strings.HasPrefix(p, "/fail/"):
		http.Error(w, "always failing", http.StatusInternalServerError)
	case strings.HasPrefix(p, "/gone/"):
		http.Error(w, "gone", http.StatusGone)
	case strings.HasPrefix(p, "/ivvy/"):
		var m struct{ Type, SubscribeURL string }
		_ = json.Unmarshal(body, &m)
		if m.Type == "SubscriptionConfirmation" && m.SubscribeURL != "" {
			// As an SNS receiver does: confirm by visiting the SubscribeURL, after answering.
			go func() {
				time.Sleep(200 * time.Millisecond)
				resp, err := http.Get(m.SubscribeURL)
				if err != nil {
					log.Printf("ivvy: visit SubscribeURL: %v", err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				log.Printf("ivvy: confirmed: %d %s", resp.StatusCode, b)
			}()
		}
		w.WriteHeader(http.StatusOK)
	case strings.HasSuffix(p, "/widget/notification"):
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"type":"widget","rows":[{"type":"markdown","markdown":"Client **1001** was synced."}]}`)
	case strings.HasPrefix(p, "/upsales/clientinsert/"):
		// The synchronous app callback, in the answer.
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"callback":{"status":2,"message":"Synced client 1001","appData":{"syncedClients":1,"region":"eu"},`+
			`"userAppData":{"theme":"dark"},"notify":"Client 1001 synced","notifyUserIds":[7]}}`)
	default:
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "OK")
	}
}

// --- the API ---

type gen struct {
	base          string
	recv, pending *receiver
	exp           *Expected

	creds  map[string]*Credential   // by role
	subs   map[string]*Subscription // by role
	events map[string]string        // role -> event id
}

type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.body) }

// call sends a JSON request with the given headers and decodes a 2xx answer into out.
func (g *gen) call(method, path string, header map[string]string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, g.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %w", method, path, &apiError{resp.StatusCode, string(b)})
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %s: %w", method, path, b, err)
		}
	}
	return nil
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func (g *gen) admin(method, path string, body, out any) error {
	return g.call(method, path, bearer(AdminToken), body, out)
}

func (g *gen) populate() error {
	g.creds, g.subs, g.events = map[string]*Credential{}, map[string]*Subscription{}, map[string]string{}
	ok := g.recv.url
	pend := func(path string) string { return "http://" + PendingAddr + path }

	// Accounts and apps.
	var accounts []Account
	for _, name := range []string{"Acme GmbH", "Globex Ltd"} {
		var a Account
		if err := g.admin("POST", "/v1/accounts", map[string]string{"name": name}, &a); err != nil {
			return err
		}
		accounts = append(accounts, a)
	}
	acme, globex := accounts[0].ID, accounts[1].ID
	g.exp.Accounts = accounts
	for _, in := range []map[string]string{
		{"name": "Acme CRM sync"},
		{"name": "Ledger app", "url": ok("/salesking")},
		{"name": "Upsales widget", "url": ok("/upsales")},
	} {
		var a App
		if err := g.admin("POST", "/v1/apps", in, &a); err != nil {
			return err
		}
		if a.Secret == "" {
			return fmt.Errorf("app %s: no secret shown", a.ID)
		}
		g.exp.Apps = append(g.exp.Apps, a)
	}
	crm, ledger, ups := g.exp.Apps[0].ID, g.exp.Apps[1].ID, g.exp.Apps[2].ID
	// Since issue 15 an app subscribes only to what an account granted it; a version from before
	// grants answers 404, and every app reaches every account there anyway.
	for _, acc := range []string{acme, globex} {
		for _, app := range []string{crm, ledger, ups} {
			err := g.admin("POST", "/v1/accounts/"+acc+"/grants", map[string]any{"app_id": app, "events": []string{"*"}}, nil)
			var apiErr *apiError
			if errors.As(err, &apiErr) && apiErr.status == http.StatusNotFound {
				break
			}
			if err != nil {
				return err
			}
		}
	}

	// Credentials of every kind.
	for _, c := range []struct {
		role, app string
		in        map[string]any
	}{
		{"publisher", crm, map[string]any{"kind": "api_key", "scopes": []string{"events:publish"}, "all_accounts": true}},
		{"altoviz-key", crm, map[string]any{"kind": "api_key", "account_id": acme}},
		{"ivvy-primary", crm, map[string]any{"kind": "api_key", "account_id": acme, "primary": true}},
		{"quicklysign-client", ledger, map[string]any{"kind": "client", "account_id": acme}},
		{"unbound-client", ledger, map[string]any{"kind": "client"}},
		{"salesking-token", ledger, map[string]any{"kind": "access_token", "account_id": globex, "scopes": []string{"clients", "invoices:create", "api/clients"}}},
		{"ledger-key", ledger, map[string]any{"kind": "api_key"}},
		{"upsales-key", ups, map[string]any{"kind": "api_key"}},
		{"revoked-key", ups, map[string]any{"kind": "api_key", "account_id": globex}},
	} {
		var issued Credential
		if err := g.admin("POST", "/v1/apps/"+c.app+"/credentials", c.in, &issued); err != nil {
			return err
		}
		issued.Role = c.role
		if issued.Token == "" && issued.ClientSecret == "" {
			return fmt.Errorf("credential %s: no secret shown", issued.ID)
		}
		g.creds[c.role] = &issued
		g.exp.Credentials = append(g.exp.Credentials, issued)
	}
	tok := func(role string) map[string]string { return bearer(g.creds[role].Token) }

	// Standard Webhooks subscriptions, native API.
	type nativeSub struct {
		role, cred string
		in         map[string]any
		notes      []string
	}
	customSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("upgrade-fixture-custom-secret-32"))
	for _, s := range []nativeSub{
		{"standard-ok", "publisher", map[string]any{"account_id": acme, "format": "standard", "events": []string{"client.*"},
			"url": ok("/ok/standard")}, []string{"delivered; secret rotated with a 720h overlap"}},
		{"standard-pending", "publisher", map[string]any{"account_id": acme, "format": "standard", "events": []string{"invoice.*"},
			"url": pend("/standard")}, []string{"its receiver answered 500: pending, due after the upgrade"}},
		{"standard-dead", "publisher", map[string]any{"account_id": acme, "format": "standard", "events": []string{"order.*"},
			"url": ok("/fail/standard"), "retry_policy": map[string]any{"schedule": []string{"1s"}}}, []string{"500 twice: dead"}},
		{"standard-gone", "publisher", map[string]any{"account_id": globex, "format": "standard", "events": []string{"client.*"},
			"url": ok("/gone/standard")}, []string{"410 Gone: delivery failed, subscription disabled"}},
		{"standard-custom", "ledger-key", map[string]any{"account_id": globex, "format": "standard", "events": []string{"invoice.create"},
			"entity_key": "inv-1", "url": ok("/ok/custom"), "secret": customSecret, "options": map[string]string{"envelope": "false"},
			"max_per_second": 5, "retry_policy": map[string]any{"schedule": []string{"10s", "1m", "1h"}}},
			[]string{"secret given by the subscriber; entity_key, options, max_per_second, retry_policy"}},
		{"upsales-ok", "upsales-key", map[string]any{"account_id": acme, "format": "upsales", "events": []string{"client.*", "contact.*"},
			"url": ok("/upsales"), "options": map[string]string{"user_configurable": "true"}},
			[]string{"synchronous callback for clientinsert, a deferred one for clientupdate"}},
		{"upsales-pending", "revoked-key", map[string]any{"account_id": globex, "format": "upsales", "events": []string{"client.*"},
			"url": pend("/upsales")}, []string{"made with the revoked key; pending, due after the upgrade"}},
	} {
		var sub Subscription
		if err := g.call("POST", "/v1/subscriptions", tok(s.cred), s.in, &sub); err != nil {
			return err
		}
		sub.Role, sub.Notes = s.role, s.notes
		g.subs[s.role] = &sub
	}
	if g.subs["standard-custom"].Secret != customSecret {
		return fmt.Errorf("standard-custom: secret shown %q, given %q", g.subs["standard-custom"].Secret, customSecret)
	}
	// A rotation: the old secret keeps signing for 30 days (the longest overlap).
	{
		s := g.subs["standard-ok"]
		var rotated Subscription
		if err := g.call("POST", "/v1/subscriptions/"+s.ID+"/rotate-secret", tok("publisher"), map[string]string{"overlap": "720h"}, &rotated); err != nil {
			return err
		}
		s.PreviousSecret, s.Secret = s.Secret, rotated.Secret
	}

	// Altoviz: webhooks through its compatible API, with x-api-key.
	altoviz := func(in map[string]any) (map[string]any, error) {
		var out map[string]any
		err := g.call("POST", "/compat/altoviz/v1/webhooks", map[string]string{"x-api-key": g.creds["altoviz-key"].Token}, in, &out)
		return out, err
	}
	type webhook struct {
		role, name, url, key string
		types                []string
		notes                []string
	}
	for _, w := range []webhook{
		{"altoviz-ok", "Acme CRM", ok("/ok/altoviz"), "altoviz-first-key", []string{"CustomerCreated", "CustomerUpdated", "CustomerDeleted"},
			[]string{"delivered; key rotated by registering the url again (24h overlap)"}},
		{"altoviz-pending", "Acme invoices", pend("/altoviz"), "altoviz-pending-key", []string{"InvoiceCreated", "InvoiceUpdated"},
			[]string{"pending, due after the upgrade; key rotated with the native rotate-secret (720h overlap, generated key)"}},
		{"altoviz-unsigned", "Acme contacts", ok("/ok/altoviz-unsigned"), "", []string{"ContactCreated"}, []string{"no secretKey: unsigned"}},
	} {
		in := map[string]any{"name": w.name, "types": w.types, "url": w.url}
		if w.key != "" {
			in["secretKey"] = w.key
		}
		out, err := altoviz(in)
		if err != nil {
			return err
		}
		id, _ := out["id"].(float64)
		sub, err := g.findSubscription(tok("publisher"), "altoviz", w.url)
		if err != nil {
			return err
		}
		sub.Role, sub.Notes, sub.Secret, sub.AltovizWebhookID, sub.AltovizName = w.role, w.notes, w.key, int64(id), w.name
		g.subs[w.role] = sub
	}
	{
		// Registering the url again with the same name and types and a new key rotates it.
		s := g.subs["altoviz-ok"]
		if _, err := altoviz(map[string]any{"name": "Acme CRM", "types": []string{"CustomerCreated", "CustomerUpdated", "CustomerDeleted"},
			"url": s.URL, "secretKey": "altoviz-second-key"}); err != nil {
			return err
		}
		s.PreviousSecret, s.Secret = s.Secret, "altoviz-second-key"
		p := g.subs["altoviz-pending"]
		var rotated Subscription
		if err := g.call("POST", "/v1/subscriptions/"+p.ID+"/rotate-secret", tok("publisher"), map[string]string{"overlap": "720h"}, &rotated); err != nil {
			return err
		}
		p.PreviousSecret, p.Secret = p.Secret, rotated.Secret
	}

	// QuicklySign: v0 subscription and v1 webhook, with a client pair.
	qs := g.creds["quicklysign-client"]
	for _, q := range []struct {
		role, path, object, entity, url string
		notes                           []string
	}{
		{"quicklysign-v0", "/compat/quicklysign/v0/subscriptions", "subscription", "doc-1", ok("/ok/quicklysign"), []string{"v0 subscription, delivered"}},
		{"quicklysign-v1", "/compat/quicklysign/v1/webhooks", "webhook", "doc-2", pend("/quicklysign"), []string{"v1 webhook, pending, due after the upgrade"}},
	} {
		// {"status": {"status_code": 200}, "data": {"subscription": {"key", ...}}}
		var out struct {
			Data map[string]struct {
				Key string `json:"key"`
			} `json:"data"`
		}
		in := map[string]any{"client_id": qs.ClientID, "client_secret": qs.ClientSecret, q.object: map[string]string{"entity_key": q.entity, "callback": q.url}}
		if err := g.call("POST", q.path, nil, in, &out); err != nil {
			return err
		}
		key := out.Data[q.object].Key
		if key == "" {
			return fmt.Errorf("quicklysign: no key in %+v", out)
		}
		sub, err := g.getSubscription(key)
		if err != nil {
			return err
		}
		sub.Role, sub.Notes = q.role, q.notes
		g.subs[q.role] = sub
	}

	// SalesKing: the operator records the company's sub-domain; the app's access token subscribes.
	if err := g.admin("PUT", "/compat/salesking/admin/companies/"+globex, map[string]string{"sub_domain": "globex"}, nil); err != nil {
		return err
	}
	for _, s := range []struct{ role, channel, url string }{
		{"salesking-client", "client.create", ok("/salesking/hooks/clients")},
		{"salesking-invoice", "invoice.create", ok("/salesking/hooks/invoices")},
	} {
		var out struct {
			Sub struct {
				ID string `json:"id"`
			} `json:"sub"`
		}
		if err := g.call("POST", "/compat/salesking/api/subs", tok("salesking-token"), map[string]any{"sub": map[string]string{"channel": s.channel, "callback_url": s.url}}, &out); err != nil {
			return err
		}
		sub, err := g.getSubscription(out.Sub.ID)
		if err != nil {
			return err
		}
		sub.Role, sub.Notes = s.role, []string{"through /compat/salesking with the access token; signed with the app's secret"}
		g.subs[s.role] = sub
	}

	// iVvy: the primary key's IWS pair, one endpoint subscribed with an IWS-signed call (its
	// receiver confirms), one with the bearer token (its receiver never answers 200: the
	// confirmation is pending).
	iv := g.creds["ivvy-primary"]
	var pair struct{ APIKey, APISecret string }
	if err := g.call("GET", "/compat/ivvy/api-key", tok("ivvy-primary"), nil, &pair); err != nil {
		return err
	}
	if pair.APIKey == "" || pair.APISecret == "" {
		return errors.New("ivvy: no api key pair")
	}
	iv.IvvyAPIKey, iv.IvvyAPISecret = pair.APIKey, pair.APISecret
	if err := g.ivvySigned("/compat/ivvy/api/1.0/account?action=subscribeToNotifications", pair.APIKey, pair.APISecret,
		map[string]string{"companiesEndpoint": ok("/ivvy/companies")}); err != nil {
		return err
	}
	if err := g.call("POST", "/compat/ivvy/api/1.0/account?action=subscribeToNotifications", tok("ivvy-primary"),
		map[string]string{"contactsEndpoint": pend("/ivvy/contacts")}, nil); err != nil {
		return err
	}
	for _, s := range []struct{ role, url, note string }{
		{"ivvy-confirmed", ok("/ivvy/companies"), "IWS-signed subscribe; SubscriptionConfirmation visited: active"},
		{"ivvy-unconfirmed", pend("/ivvy/contacts"), "bearer subscribe; confirmation handshake pending, due after the upgrade"},
	} {
		sub, err := g.findSubscription(tok("ivvy-primary"), "ivvy", s.url)
		if err != nil {
			return err
		}
		sub.Role, sub.Notes = s.role, []string{s.note}
		g.subs[s.role] = sub
	}
	if err := g.waitFor("the ivvy subscription confirmed", func() (bool, error) {
		sub, err := g.getSubscription(g.subs["ivvy-confirmed"].ID)
		return err == nil && sub.State == "active", err
	}); err != nil {
		return err
	}

	// Revoke a key that made a subscription: the subscription stays (only an access token's go).
	var revoked struct {
		Removed []string `json:"removed_subscriptions"`
	}
	if err := g.admin("DELETE", "/v1/credentials/"+g.creds["revoked-key"].ID, nil, &revoked); err != nil {
		return err
	}
	if len(revoked.Removed) != 0 {
		return fmt.Errorf("revoking an api key removed subscriptions %v", revoked.Removed)
	}
	g.creds["revoked-key"].Revoked = true

	// Events.
	user := func(id, name string) map[string]string {
		return map[string]string{"id": id, "name": name, "email": strings.ToLower(name) + "@example.com"}
	}
	ev := func(account, typ, entityType, entityID string, data map[string]any) map[string]any {
		return map[string]any{"account_id": account, "type": typ, "entity": map[string]string{"type": entityType, "id": entityID}, "data": data}
	}
	publish := func(role string, hdr map[string]string, in map[string]any) error {
		var res struct {
			ID string `json:"id"`
		}
		if err := g.call("POST", "/v1/events", hdr, in, &res); err != nil {
			return err
		}
		if res.ID == "" {
			return fmt.Errorf("event %s: no id", role)
		}
		if prev, ok := g.events[role]; ok && prev != res.ID {
			return fmt.Errorf("event %s: published again with its idempotency key, got %s, not %s", role, res.ID, prev)
		}
		g.events[role] = res.ID
		return nil
	}
	adminHdr := bearer(AdminToken)
	e := ev(acme, "client.create", "client", "1001", map[string]any{"id": 1001, "name": "Müller & Söhne KG", "email": "info@mueller.example"})
	e["user"] = user("7", "Jens")
	if err := publish("client-create-acme", tok("publisher"), e); err != nil {
		return err
	}
	e = ev(acme, "client.update", "client", "1002", map[string]any{"id": 1002, "name": "Fischer AG"})
	e["user"], e["previous_data"] = user("8", "Petra"), map[string]any{"id": 1002, "name": "Fischer"}
	e["occurred_at"] = "2025-06-01T10:00:00Z"
	if err := publish("client-update-acme", adminHdr, e); err != nil {
		return err
	}
	for range 2 {
		e = ev(acme, "client.update", "client", "1001", map[string]any{"id": 1001, "name": "Müller & Söhne KG", "phone": "+49 30 1234"})
		e["idempotency_key"] = "crm-sync-1001-v2"
		if err := publish("client-update-idempotent", tok("publisher"), e); err != nil {
			return err
		}
	}
	e = ev(acme, "client.delete", "client", "1003", map[string]any{"id": 1003})
	e["deliver_at"] = FarFuture
	if err := publish("client-delete-scheduled", adminHdr, e); err != nil {
		return err
	}
	if err := publish("invoice-create-acme", adminHdr, ev(acme, "invoice.create", "invoice", "inv-100", map[string]any{"id": "inv-100", "total": 119.0, "currency": "EUR"})); err != nil {
		return err
	}
	if err := publish("order-create-acme", adminHdr, ev(acme, "order.create", "order", "501", map[string]any{"id": 501, "lines": 3})); err != nil {
		return err
	}
	e = ev(acme, "contact.create", "contact", "77", map[string]any{"id": 77, "name": "Anna Weber"})
	e["user"] = user("7", "Jens")
	if err := publish("contact-create-acme", adminHdr, e); err != nil {
		return err
	}
	if err := publish("document-update", adminHdr, ev(acme, "document.update", "document", "doc-1", map[string]any{"key": "doc-1"})); err != nil {
		return err
	}
	if err := publish("document-status-change", adminHdr, ev(acme, "document.status_change", "document", "doc-2", map[string]any{"key": "doc-2", "status": "signed"})); err != nil {
		return err
	}
	e = ev(globex, "client.create", "client", "2001", map[string]any{"id": 2001, "name": "Initech"})
	e["user"] = user("9", "Bill")
	if err := publish("client-create-globex", adminHdr, e); err != nil {
		return err
	}
	if err := publish("invoice-create-globex", adminHdr, ev(globex, "invoice.create", "invoice", "inv-1", map[string]any{"id": "inv-1", "total": 42})); err != nil {
		return err
	}
	var batch struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	if err := g.call("POST", "/v1/events/batch", tok("publisher"), map[string]any{"events": []any{
		ev(acme, "invoice.update", "invoice", "inv-100", map[string]any{"id": "inv-100", "total": 120.0}),
		ev(acme, "contact.update", "contact", "77", map[string]any{"id": 77, "name": "Anna Weber-Klein"}),
		ev(acme, "quote.create", "quote", "q-5", map[string]any{"id": "q-5"}),
	}}, &batch); err != nil {
		return err
	}
	if len(batch.Events) != 3 {
		return fmt.Errorf("batch: %d events", len(batch.Events))
	}
	for i, role := range []string{"batch-invoice-update", "batch-contact-update", "batch-quote-create"} {
		g.events[role] = batch.Events[i].ID
	}

	// Upsales: the deferred callback of the clientupdate request, through its one-time URL.
	var callbackURL string
	if err := g.waitFor("the upsales clientupdate request", func() (bool, error) {
		for _, q := range g.recv.requests("/upsales/clientupdate/1002") {
			var b struct {
				CallbackURL string `json:"callbackUrl"`
			}
			if json.Unmarshal(q.Body, &b) == nil && b.CallbackURL != "" {
				callbackURL = b.CallbackURL
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	if err := g.call("POST", strings.TrimPrefix(callbackURL, g.base), nil, map[string]any{
		"status": 3, "message": "Imported later", "appData": map[string]any{"imported": 1}, "userAppData": map[string]any{"lang": "de"},
		"notify": "Fischer AG was imported", "notifyAll": true,
	}, nil); err != nil {
		return fmt.Errorf("upsales deferred callback: %w", err)
	}
	// One notification opened: the app is asked for its widget.
	var notes struct {
		Data []struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
		} `json:"data"`
	}
	if err := g.waitFor("upsales notifications", func() (bool, error) {
		err := g.call("GET", "/v1/notifications?limit=200", tok("upsales-key"), nil, &notes)
		return err == nil && len(notes.Data) >= 2, err
	}); err != nil {
		return err
	}
	if err := g.call("POST", "/v1/notifications/"+notes.Data[len(notes.Data)-1].ID+"/open", tok("upsales-key"), nil, nil); err != nil {
		return err
	}
	return nil
}

func (g *gen) getSubscription(id string) (*Subscription, error) {
	var s Subscription
	if err := g.admin("GET", "/v1/subscriptions/"+id, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (g *gen) findSubscription(hdr map[string]string, format, url string) (*Subscription, error) {
	var list struct {
		Data []Subscription `json:"data"`
	}
	if err := g.call("GET", "/v1/subscriptions?limit=200&format="+format, hdr, nil, &list); err != nil {
		return nil, err
	}
	for i := range list.Data {
		if list.Data[i].URL == url {
			return &list.Data[i], nil
		}
	}
	return nil, fmt.Errorf("no %s subscription to %s", format, url)
}

// ivvySigned posts body to path signed as iVvy's API wants: X-Api-Authorization: IWS key:signature.
func (g *gen) ivvySigned(path, key, secret string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	sum := md5.Sum(raw)
	contentMD5 := hex.EncodeToString(sum[:])
	date := time.Now().UTC().Format("2006-01-02 15:04:05")
	const contentType = "application/json; charset=utf-8"
	// method, Content-MD5, Content-Type, Date (empty with IVVY-Date), path and query, X-Api-Version,
	// then the IVVY-* headers as name=value, all lowercased.
	toSign := strings.ToLower("POST" + contentMD5 + contentType + "" + path + "1.0" + "ivvydate=" + date)
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(toSign))
	req, err := http.NewRequest("POST", g.base+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Content-MD5", contentMD5)
	req.Header.Set("IVVY-Date", date)
	req.Header.Set("X-Api-Version", "1.0")
	req.Header.Set("X-Api-Authorization", "IWS "+key+":"+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ivvy IWS-signed subscribe: %d %s", resp.StatusCode, b)
	}
	return nil
}

func (g *gen) waitFor(what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(time.Minute)
	for {
		done, err := cond()
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited a minute for %s (last error: %v)", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type apiDelivery struct {
	ID             string    `json:"id"`
	SubscriptionID string    `json:"subscription_id"`
	State          string    `json:"state"`
	Attempts       int       `json:"attempts"`
	NextAttemptAt  time.Time `json:"next_attempt_at"`
}

// settle waits until every delivery has come to the state the fixture wants: finished, or pending
// after at least one attempt (those to the pending receiver), or scheduled for 2099.
func (g *gen) settle() error {
	pendingSubs := map[string]bool{}
	for _, s := range g.subs {
		if strings.HasPrefix(s.URL, "http://"+PendingAddr) {
			pendingSubs[s.ID] = true
		}
	}
	var last []apiDelivery
	err := g.waitFor("deliveries to settle", func() (bool, error) {
		var all []apiDelivery
		before := ""
		for {
			var page struct {
				Data []apiDelivery `json:"data"`
				Next string        `json:"next"`
			}
			if err := g.admin("GET", "/v1/deliveries?limit=200&before="+before, nil, &page); err != nil {
				return false, err
			}
			all = append(all, page.Data...)
			if page.Next == "" {
				break
			}
			before = page.Next
		}
		last = all
		for _, d := range all {
			switch {
			case d.State == "succeeded" || d.State == "dead" || d.State == "failed":
			case d.State == "pending" && d.NextAttemptAt.Year() >= 2099:
			case d.State == "pending" && pendingSubs[d.SubscriptionID] && d.Attempts >= 1:
			default:
				return false, nil
			}
		}
		return len(all) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w: %+v", err, last)
	}
	states := map[string]int{}
	for _, d := range last {
		states[d.State]++
	}
	log.Printf("deliveries settled: %v", states)
	for _, want := range []string{"succeeded", "pending", "dead", "failed"} {
		if states[want] == 0 {
			return fmt.Errorf("no delivery is %s: %+v", want, last)
		}
	}
	return nil
}

// certificate records where the server key's certificate is served, and what is served there.
func (g *gen) certificate() error {
	// The path names the certificate's fingerprint; the certificate is in the data dir, and the
	// server key's certificate URL appears in every iVvy delivery (SigningCertURL).
	for _, q := range g.recv.requests("/ivvy/") {
		var m struct{ SigningCertURL string }
		if json.Unmarshal(q.Body, &m) == nil && m.SigningCertURL != "" {
			path := m.SigningCertURL[strings.Index(m.SigningCertURL, "/hooks/"):]
			resp, err := http.Get(g.base + path)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
			}
			if block, _ := pem.Decode(b); block == nil || block.Type != "CERTIFICATE" {
				return fmt.Errorf("GET %s: not a PEM certificate", path)
			}
			sum := sha256.Sum256(b)
			g.exp.CertificatePath, g.exp.CertificateSHA256 = path, hex.EncodeToString(sum[:])
			return nil
		}
	}
	return errors.New("no ivvy delivery named the signing certificate's URL")
}

// checkpoint folds the WAL into the database file, so that the file alone is the database.
func checkpoint(path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	var busy, logFrames, checkpointed int
	if err := db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if busy != 0 {
		return errors.New("checkpoint: the database is busy")
	}
	if err := db.Close(); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil && fi.Size() > 0 && suffix == "-wal" {
			return fmt.Errorf("checkpoint: %s%s still holds %d bytes", path, suffix, fi.Size())
		}
	}
	return nil
}

// readDatabase reads what the fixture must keep from the stopped server's database, with SQL only.
func (g *gen) readDatabase(path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	x := g.exp

	// One global line of migrations until per-component lines replaced it (schema_versions); a
	// database made since has no schema_migrations, and expected.json then lists none.
	query := `SELECT version FROM schema_migrations ORDER BY version`
	var hasGlobalLine int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&hasGlobalLine); err != nil {
		return err
	}
	if hasGlobalLine == 0 {
		query = `SELECT 0 WHERE 0`
	}
	rows, err := db.Query(query)
	if err != nil {
		return err
	}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return err
		}
		x.SchemaMigrations = append(x.SchemaMigrations, v)
	}
	if err := rows.Close(); err != nil {
		return err
	}

	var tables []string
	// sqlite_stat* are the query planner's statistics (PRAGMA optimize), not data: a new version
	// may gather them differently.
	rows, err = db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_stat%' ORDER BY name`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		tables = append(tables, n)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	x.Tables = map[string]int64{}
	for _, t := range tables {
		var n int64
		if err := db.QueryRow(`SELECT COUNT(*) FROM "` + t + `"`).Scan(&n); err != nil {
			return err
		}
		x.Tables[t] = n
	}

	// Subscriptions: the state and secrets as stored.
	roleOf := map[string]*Subscription{}
	for _, s := range g.subs {
		roleOf[s.ID] = s
	}
	rows, err = db.Query(`SELECT id, app_id, account_id, COALESCE(credential_id, ''), format, events, entity_key, url, options, secret,
		previous_secret, previous_secret_expires_at, state, COALESCE(retry_policy, ''), max_per_second, confirm_token IS NOT NULL
		FROM subscriptions ORDER BY id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var s Subscription
		var events, options, policy string
		var prevExp sql.NullInt64
		if err := rows.Scan(&s.ID, &s.AppID, &s.AccountID, &s.CredentialID, &s.Format, &events, &s.EntityKey, &s.URL, &options,
			&s.SecretStored, &s.PreviousSecretStored, &prevExp, &s.State, &policy, &s.MaxPerSecond, &s.HasConfirmToken); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(events), &s.Events); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(options), &s.Options); err != nil {
			return err
		}
		if prevExp.Valid {
			s.PreviousSecretExpiresAt = &prevExp.Int64
		}
		if policy != "" {
			s.RetryPolicy = json.RawMessage(policy)
		}
		api, ok := roleOf[s.ID]
		if !ok {
			return fmt.Errorf("subscription %s in the database was not made by this program", s.ID)
		}
		s.Role, s.Notes, s.Secret, s.PreviousSecret = api.Role, api.Notes, api.Secret, api.PreviousSecret
		s.AltovizWebhookID, s.AltovizName = api.AltovizWebhookID, api.AltovizName
		x.Subscriptions = append(x.Subscriptions, s)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if len(x.Subscriptions) != len(g.subs) {
		return fmt.Errorf("%d subscriptions in the database, %d made", len(x.Subscriptions), len(g.subs))
	}
	sort.Slice(x.Subscriptions, func(i, j int) bool { return x.Subscriptions[i].Role < x.Subscriptions[j].Role })

	// The engine's own operational events (issue 17) go to its system account; only published ones
	// are the fixture's.
	rows, err = db.Query(`SELECT id, account_id, type, entity_type, entity_id, COALESCE(idempotency_key, ''), deliver_at, data FROM events
		WHERE account_id <> 'switchyard.system' ORDER BY id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var e Event
		var deliverAt sql.NullInt64
		var data []byte
		if err := rows.Scan(&e.ID, &e.AccountID, &e.Type, &e.EntityType, &e.EntityID, &e.IdempotencyKey, &deliverAt, &data); err != nil {
			return err
		}
		if deliverAt.Valid {
			e.DeliverAt = time.UnixMilli(deliverAt.Int64).UTC().Format(time.RFC3339)
		}
		sum := sha256.Sum256(data)
		e.DataSHA256 = hex.EncodeToString(sum[:])
		x.Events = append(x.Events, e)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if len(x.Events) != len(g.events) {
		return fmt.Errorf("%d events in the database, %d published", len(x.Events), len(g.events))
	}

	subByID := map[string]Subscription{}
	for _, s := range x.Subscriptions {
		subByID[s.ID] = s
	}
	rows, err = db.Query(`SELECT id, COALESCE(event_id, ''), subscription_id, app_id, kind, state, attempts, next_attempt_at, last_status FROM deliveries ORDER BY id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.EventID, &d.SubscriptionID, &d.AppID, &d.Kind, &d.State, &d.Attempts, &d.NextAttemptAt, &d.LastStatus); err != nil {
			return err
		}
		d.ToPendingReceiver = strings.HasPrefix(subByID[d.SubscriptionID].URL, "http://"+PendingAddr+"/")
		if d.State == "in_flight" {
			return fmt.Errorf("delivery %s was left in flight", d.ID)
		}
		x.Deliveries = append(x.Deliveries, d)
	}
	if err := rows.Close(); err != nil {
		return err
	}

	x.Upsales.AppData = map[string]string{}
	for _, q := range []struct {
		sql  string
		scan func(*sql.Rows) error
	}{
		{`SELECT id FROM upsales_requests ORDER BY id`, func(r *sql.Rows) error {
			var id string
			err := r.Scan(&id)
			x.Upsales.LogIDs = append(x.Upsales.LogIDs, id)
			return err
		}},
		{`SELECT id FROM upsales_notifications ORDER BY id`, func(r *sql.Rows) error {
			var id string
			err := r.Scan(&id)
			x.Upsales.NotificationIDs = append(x.Upsales.NotificationIDs, id)
			return err
		}},
		{`SELECT app_id, account_id, user_id, data FROM upsales_app_data ORDER BY app_id, account_id, user_id`, func(r *sql.Rows) error {
			var app, account, user, data string
			err := r.Scan(&app, &account, &user, &data)
			x.Upsales.AppData[app+"/"+account+"/"+user] = data
			return err
		}},
		{`SELECT account_id, user_id FROM upsales_users ORDER BY account_id, user_id`, func(r *sql.Rows) error {
			var account, user string
			err := r.Scan(&account, &user)
			x.Upsales.Users = append(x.Upsales.Users, account+"/"+user)
			return err
		}},
		{`SELECT account_id, sub_domain FROM salesking_companies ORDER BY account_id`, func(r *sql.Rows) error {
			var c SalesKingCo
			err := r.Scan(&c.AccountID, &c.SubDomain)
			x.SalesKing = append(x.SalesKing, c)
			return err
		}},
	} {
		rows, err := db.Query(q.sql)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := q.scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	for _, c := range x.Credentials {
		if g.creds[c.Role] == nil {
			return fmt.Errorf("credential %s has no role", c.ID)
		}
	}
	for i := range x.Credentials {
		x.Credentials[i] = *g.creds[x.Credentials[i].Role]
	}
	return nil
}
