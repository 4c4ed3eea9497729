package main

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// upgradeFixtures are data dirs written by landed versions, each with expected.json, what it
// holds: testdata/upgrade by 3ceddb0, from before per-component migrations and grants, and
// testdata/upgrade-9de34ed by the version landed before this one. go run
// ./cmd/switchyard/testdata/upgrade/gen made them; see its doc comment.
var upgradeFixtures = []string{"testdata/upgrade", "testdata/upgrade-9de34ed"}

// upgradeExpected is the part of expected.json the test reads.
type upgradeExpected struct {
	LandedCommit      string            `json:"landed_commit"`
	AdminToken        string            `json:"admin_token"`
	PendingReceiver   string            `json:"pending_receiver"`
	CertificatePath   string            `json:"certificate_path"`
	CertificateSHA256 string            `json:"certificate_sha256"`
	Files             map[string]string `json:"files"`
	SchemaMigrations  []int64           `json:"schema_migrations"`
	Tables            map[string]int64  `json:"tables"`
	Accounts          []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"accounts"`
	Apps []struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		URL    string `json:"url"`
		Secret string `json:"secret"`
	} `json:"apps"`
	Credentials   []upgradeCredential   `json:"credentials"`
	Subscriptions []upgradeSubscription `json:"subscriptions"`
	Events        []struct {
		ID             string `json:"id"`
		AccountID      string `json:"account_id"`
		Type           string `json:"type"`
		EntityType     string `json:"entity_type"`
		EntityID       string `json:"entity_id"`
		IdempotencyKey string `json:"idempotency_key"`
		DeliverAt      string `json:"deliver_at"`
		DataSHA256     string `json:"data_sha256"`
	} `json:"events"`
	Deliveries []upgradeDelivery `json:"deliveries"`
	Upsales    struct {
		LogIDs          []string          `json:"log_ids"`
		NotificationIDs []string          `json:"notification_ids"`
		AppData         map[string]string `json:"app_data"`
		Users           []string          `json:"users"`
	} `json:"upsales"`
	SalesKing []struct {
		AccountID string `json:"account_id"`
		SubDomain string `json:"sub_domain"`
	} `json:"salesking_companies"`
}

type upgradeCredential struct {
	ID            string `json:"id"`
	Role          string `json:"role"`
	AppID         string `json:"app_id"`
	AccountID     string `json:"account_id"`
	Kind          string `json:"kind"`
	Primary       bool   `json:"primary"`
	Token         string `json:"token"`
	ClientID      string `json:"client_id"`
	ClientSecret  string `json:"client_secret"`
	Revoked       bool   `json:"revoked"`
	IvvyAPIKey    string `json:"ivvy_api_key"`
	IvvyAPISecret string `json:"ivvy_api_secret"`
}

type upgradeSubscription struct {
	ID                      string   `json:"id"`
	Role                    string   `json:"role"`
	AppID                   string   `json:"app_id"`
	AccountID               string   `json:"account_id"`
	Format                  string   `json:"format"`
	Events                  []string `json:"events"`
	URL                     string   `json:"url"`
	State                   string   `json:"state"`
	Secret                  string   `json:"secret"`
	PreviousSecret          string   `json:"previous_secret"`
	SecretStored            string   `json:"secret_stored"`
	PreviousSecretStored    string   `json:"previous_secret_stored"`
	PreviousSecretExpiresAt *int64   `json:"previous_secret_expires_at_ms"`
	AltovizWebhookID        int64    `json:"altoviz_webhook_id"`
	AltovizName             string   `json:"altoviz_name"`
}

type upgradeDelivery struct {
	ID                string `json:"id"`
	EventID           string `json:"event_id"`
	SubscriptionID    string `json:"subscription_id"`
	Kind              string `json:"kind"`
	State             string `json:"state"`
	Attempts          int    `json:"attempts"`
	NextAttemptAt     int64  `json:"next_attempt_at_ms"`
	ToPendingReceiver bool   `json:"to_pending_receiver"`
}

// TestUpgrade opens a data dir written by the previous landed version with the binary of this
// source and checks that every account, app, credential, subscription (with its secrets), event and
// delivery is there and works: tokens authenticate, the server key and the admin token are the
// same, deliveries left pending are delivered after the upgrade and signed with the secrets their
// subscribers hold. It talks to the server over HTTP and reads the database with SQL only, so that
// it holds whatever the packages and migrations become.
func TestUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	for _, fixture := range upgradeFixtures {
		t.Run(filepath.Base(fixture), func(t *testing.T) { testUpgrade(t, fixture, "") })
	}
}

// TestUpgradeThenCopyToPostgres moves the same old data dir into PostgreSQL with `switchyard copy`
// and runs every check of TestUpgrade against a node on that database, started with an empty data
// dir of its own: every event, delivery, credential and secret made the move, the server key and
// admin token included.
func TestUpgradeThenCopyToPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server binary")
	}
	for _, fixture := range upgradeFixtures {
		t.Run(filepath.Base(fixture), func(t *testing.T) { testUpgrade(t, fixture, pgtest.NewDatabase(t)) })
	}
}

// testUpgrade opens a fixture's data dir with this build: as it is, or, given a PostgreSQL
// database, copied into it first.
func testUpgrade(t *testing.T, upgradeFixture, pg string) {
	raw, err := os.ReadFile(filepath.Join(upgradeFixture, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp upgradeExpected
	if err := json.Unmarshal(raw, &exp); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	t.Logf("fixture written by %s, schema_migrations %v", exp.LandedCommit, exp.SchemaMigrations)

	// The receiver of the deliveries left pending: they were made to this fixed address. Another
	// TestUpgrade (make test in another worktree) holds it for a few seconds, so wait a while.
	var recv *upgradeReceiver
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		if recv, err = newUpgradeReceiver(exp.PendingReceiver); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TestUpgrade needs %s, where the fixture's pending subscriptions deliver, and could not listen there "+
				"for two minutes (is something else using the port?): %v", exp.PendingReceiver, err)
		}
	}
	// Closed after the server is stopped (defers run in reverse), so no delivery of this test's
	// server reaches another test's receiver.
	defer recv.close()

	// The data dir: the fixture's files, checked against what the generator wrote.
	dataDir := t.TempDir()
	for name, want := range exp.Files {
		b, err := os.ReadFile(filepath.Join(upgradeFixture, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256Hex(b); got != want {
			t.Fatalf("fixture file %s was changed after it was generated (sha256 %s, expected.json says %s); regenerate the whole fixture", name, got, want)
		}
		if err := os.WriteFile(filepath.Join(dataDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	legacy := readLegacyTokens(t, filepath.Join(dataDir, "switchyard.db"))

	bin := buildBinary(t)
	serveDir, extra := dataDir, []string(nil)
	if pg != "" {
		out, err := exec.Command(bin, "copy", "--data-dir", dataDir, "--to", pg).CombinedOutput()
		if err != nil {
			t.Fatalf("switchyard copy: %v\n%s", err, out)
		}
		t.Logf("switchyard copy: %s", out)
		serveDir, extra = t.TempDir(), []string{"--database", pg}
	}
	srv := startUpgradeServer(t, bin, serveDir, extra...)
	defer srv.kill()
	c := &upgradeClient{t: t, base: srv.base, admin: exp.AdminToken}

	subs := map[string]upgradeSubscription{}
	subByRole := map[string]upgradeSubscription{}
	for _, s := range exp.Subscriptions {
		subs[s.ID], subByRole[s.Role] = s, s
	}
	appSecret := map[string]string{}
	for _, a := range exp.Apps {
		appSecret[a.ID] = a.Secret
	}

	t.Run("api", func(t *testing.T) {
		c := c.with(t)
		// The admin token is the one in the data dir: no --admin-token is given.
		for _, a := range exp.Accounts {
			var got struct{ ID, Name string }
			c.must(c.do("GET", "/v1/accounts/"+a.ID, c.bearer(c.admin), nil, &got))
			if got.Name != a.Name {
				t.Errorf("account %s: name %q, want %q", a.ID, got.Name, a.Name)
			}
		}
		for _, a := range exp.Apps {
			var got struct{ ID, Name, URL string }
			c.must(c.do("GET", "/v1/apps/"+a.ID, c.bearer(c.admin), nil, &got))
			if got.Name != a.Name || got.URL != a.URL {
				t.Errorf("app %s: %+v, want name %q url %q", a.ID, got, a.Name, a.URL)
			}
		}
		for _, e := range exp.Events {
			var got struct {
				AccountID      string `json:"account_id"`
				Type           string `json:"type"`
				Entity         struct{ Type, ID string }
				IdempotencyKey string     `json:"idempotency_key"`
				DeliverAt      *time.Time `json:"deliver_at"`
			}
			c.must(c.do("GET", "/v1/events/"+e.ID, c.bearer(c.admin), nil, &got))
			if got.AccountID != e.AccountID || got.Type != e.Type || got.Entity.Type != e.EntityType || got.Entity.ID != e.EntityID || got.IdempotencyKey != e.IdempotencyKey {
				t.Errorf("event %s: %+v, want %+v", e.ID, got, e)
			}
			if (got.DeliverAt == nil) != (e.DeliverAt == "") || got.DeliverAt != nil && got.DeliverAt.UTC().Format(time.RFC3339) != e.DeliverAt {
				t.Errorf("event %s: deliver_at %v, want %q", e.ID, got.DeliverAt, e.DeliverAt)
			}
		}
		for _, s := range exp.Subscriptions {
			var got struct {
				AppID     string   `json:"app_id"`
				AccountID string   `json:"account_id"`
				Format    string   `json:"format"`
				Events    []string `json:"events"`
				URL       string   `json:"url"`
				State     string   `json:"state"`
			}
			c.must(c.do("GET", "/v1/subscriptions/"+s.ID, c.bearer(c.admin), nil, &got))
			if got.AppID != s.AppID || got.AccountID != s.AccountID || got.Format != s.Format || got.URL != s.URL ||
				got.State != s.State || !slices.Equal(got.Events, s.Events) {
				t.Errorf("subscription %s (%s): %+v, want %+v", s.ID, s.Role, got, s)
			}
		}
		for _, d := range exp.Deliveries {
			got := c.delivery(d.ID)
			if got == nil {
				continue
			}
			if got.SubscriptionID != d.SubscriptionID || got.EventID != d.EventID || got.Kind != d.Kind {
				t.Errorf("delivery %s: %+v, want %+v", d.ID, got, d)
			}
			checkDeliveryState(t, d, got.State, got.Attempts, got.NextAttemptAt.UnixMilli())
		}
	})

	t.Run("credentials", func(t *testing.T) {
		c := c.with(t)
		for _, cr := range exp.Credentials {
			want := http.StatusOK
			if cr.Revoked {
				want = http.StatusUnauthorized
			}
			var status int
			switch cr.Kind {
			case "client":
				status = c.status("GET", "/compat/quicklysign/v0/subscriptions?client_id="+cr.ClientID+"&client_secret="+cr.ClientSecret, nil, nil)
			default:
				status = c.status("GET", "/v1/subscriptions?limit=1", c.bearer(cr.Token), nil)
			}
			if status != want {
				t.Errorf("credential %s (%s, %s): %d, want %d", cr.ID, cr.Role, cr.Kind, status, want)
			}
			if cr.IvvyAPIKey != "" {
				var pair struct{ APIKey, APISecret string }
				c.must(c.do("GET", "/compat/ivvy/api-key", c.bearer(cr.Token), nil, &pair))
				if pair.APIKey != cr.IvvyAPIKey || pair.APISecret != cr.IvvyAPISecret {
					t.Errorf("credential %s: iVvy API key pair %+v, want %s:%s (is ivvy-api-key kept?)", cr.ID, pair, cr.IvvyAPIKey, cr.IvvyAPISecret)
				}
				// An IWS-signed call with the recorded pair: subscribing the endpoint that is
				// already subscribed and confirmed changes nothing.
				ivvy := subByRole["ivvy-confirmed"]
				var res map[string]any
				c.must(c.ivvySigned("/compat/ivvy/api/1.0/account?action=subscribeToNotifications", cr.IvvyAPIKey, cr.IvvyAPISecret,
					map[string]string{"companiesEndpoint": ivvy.URL}, &res))
				if res["companiesSuccess"] != true {
					t.Errorf("IWS-signed subscribeToNotifications: %v", res)
				}
			}
		}
		// The style APIs still list what the fixture's credentials made.
		byRole := map[string]upgradeCredential{}
		for _, cr := range exp.Credentials {
			byRole[cr.Role] = cr
		}
		type webhook struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
			URL  string `json:"url"`
		}
		var hooks []webhook
		c.must(c.do("GET", "/compat/altoviz/v1/webhooks", map[string]string{"x-api-key": byRole["altoviz-key"].Token}, nil, &hooks))
		for _, s := range exp.Subscriptions {
			if s.AltovizWebhookID == 0 {
				continue
			}
			if !slices.Contains(hooks, webhook{s.AltovizWebhookID, s.AltovizName, s.URL}) {
				t.Errorf("altoviz webhook %d (%s %s) is not listed: %+v", s.AltovizWebhookID, s.AltovizName, s.URL, hooks)
			}
		}
		type idOnly struct {
			ID string `json:"id"`
		}
		var sk struct {
			Subs []struct {
				Sub idOnly `json:"sub"`
			} `json:"subs"`
		}
		c.must(c.do("GET", "/compat/salesking/api/subs", c.bearer(byRole["salesking-token"].Token), nil, &sk))
		var skIDs []string
		for _, s := range sk.Subs {
			skIDs = append(skIDs, s.Sub.ID)
		}
		for _, role := range []string{"salesking-client", "salesking-invoice"} {
			if !slices.Contains(skIDs, subByRole[role].ID) {
				t.Errorf("salesking sub %s is not listed: %+v", subByRole[role].ID, sk)
			}
		}
		for _, co := range exp.SalesKing {
			var got struct {
				SubDomain string `json:"sub_domain"`
			}
			c.must(c.do("GET", "/compat/salesking/admin/companies/"+co.AccountID, c.bearer(c.admin), nil, &got))
			if got.SubDomain != co.SubDomain {
				t.Errorf("salesking company %s: sub_domain %q, want %q", co.AccountID, got.SubDomain, co.SubDomain)
			}
		}
		for _, id := range exp.Upsales.LogIDs {
			c.must(c.do("GET", "/v1/logs/"+id, c.bearer(c.admin), nil, nil))
		}
		var notes struct {
			Data []idOnly `json:"data"`
		}
		c.must(c.do("GET", "/v1/notifications?limit=200", c.bearer(c.admin), nil, &notes))
		for _, id := range exp.Upsales.NotificationIDs {
			if !slices.Contains(notes.Data, idOnly{id}) {
				t.Errorf("upsales notification %s is not listed", id)
			}
		}
	})

	// Accounts grant apps (issue 15): what the fixture's unbound credentials did before the
	// upgrade, they still may. Every app subscribed to an account is granted all its events, and
	// the unbound publisher still publishes into every account.
	t.Run("grants", func(t *testing.T) {
		c := c.with(t)
		granted := map[string]bool{}
		for _, a := range exp.Accounts {
			var grants struct {
				Data []struct {
					AppID     string   `json:"app_id"`
					Events    []string `json:"events"`
					RevokedAt *string  `json:"revoked_at"`
				} `json:"data"`
			}
			c.must(c.do("GET", "/v1/accounts/"+a.ID+"/grants?limit=200", c.bearer(c.admin), nil, &grants))
			for _, g := range grants.Data {
				if g.RevokedAt == nil && slices.Equal(g.Events, []string{"*"}) {
					granted[g.AppID+" "+a.ID] = true
				}
			}
		}
		for _, s := range exp.Subscriptions {
			if !granted[s.AppID+" "+s.AccountID] {
				t.Errorf("subscription %s: app %s has no grant of all events in account %s", s.ID, s.AppID, s.AccountID)
			}
		}
		for _, cr := range exp.Credentials {
			if cr.Role != "publisher" {
				continue
			}
			for _, a := range exp.Accounts {
				// Due in 2100, so that no receiver of the fixture is sent anything more.
				var p struct{ ID string }
				c.must(c.do("POST", "/v1/events", c.bearer(cr.Token), map[string]any{"account_id": a.ID, "type": "upgrade.check",
					"entity": map[string]string{"type": "upgrade", "id": "1"}, "deliver_at": "2100-01-01T00:00:00Z"}, &p))
				c.must(c.do("GET", "/v1/events/"+p.ID, c.bearer(cr.Token), nil, nil))
			}
		}
	})

	// The server key: the same certificate at the same URL.
	var certPEM []byte
	t.Run("server key", func(t *testing.T) {
		resp, err := http.Get(srv.base + exp.CertificatePath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		certPEM, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || sha256Hex(certPEM) != exp.CertificateSHA256 {
			t.Fatalf("GET %s: %d, sha256 %s, want 200 and %s: the server key or its certificate changed",
				exp.CertificatePath, resp.StatusCode, sha256Hex(certPEM), exp.CertificateSHA256)
		}
	})

	// The deliveries left pending are made now, to recv, signed with the secrets recorded.
	t.Run("pending deliveries", func(t *testing.T) {
		c := c.with(t)
		var pending []upgradeDelivery
		for _, d := range exp.Deliveries {
			if d.ToPendingReceiver {
				pending = append(pending, d)
			}
		}
		if len(pending) == 0 {
			t.Fatal("the fixture has no delivery pending to the pending receiver")
		}
		deadline := time.Now().Add(2 * time.Minute)
		for _, d := range pending {
			for {
				got := c.delivery(d.ID)
				if got == nil || got.State == "succeeded" {
					break
				}
				if got.State != "pending" && got.State != "in_flight" || time.Now().After(deadline) {
					t.Fatalf("delivery %s (%s): %s after %d attempts, want succeeded\n%s", d.ID, subs[d.SubscriptionID].Role, got.State, got.Attempts, srv.log.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		// Each request to a pending subscription's URL is checked against its secrets; a request
		// that names its delivery (Standard Webhooks' webhook-id, Altoviz's X-DELIVERY-ID) is matched
		// to it; an Altoviz call's body names its webhook, the id the old version gave it.
		verified := map[string]int{}
		named := map[string]bool{}
		for _, sub := range exp.Subscriptions {
			if !strings.HasPrefix(sub.URL, "http://"+exp.PendingReceiver+"/") {
				continue
			}
			reqs := recv.requestsTo(strings.TrimPrefix(sub.URL, "http://"+exp.PendingReceiver))
			if len(reqs) == 0 {
				t.Errorf("subscription %s (%s): the receiver got nothing at %s", sub.ID, sub.Role, sub.URL)
			}
			for _, r := range reqs {
				if err := verifyUpgradeDelivery(sub, appSecret[sub.AppID], certPEM, r); err != nil {
					t.Errorf("delivery to %s (%s): %v\n%s %s\n%v\n%s", sub.URL, sub.Role, err, r.method, r.path, r.header, r.body)
					continue
				}
				verified[sub.Format]++
				named[r.header.Get("webhook-id")], named[r.header.Get("X-DELIVERY-ID")] = true, true
				if sub.Format == "altoviz" && sub.AltovizWebhookID != 0 {
					var b struct{ ID string }
					if err := json.Unmarshal(r.body, &b); err != nil || b.ID != strconv.FormatInt(sub.AltovizWebhookID, 10) {
						t.Errorf("altoviz call to %s names webhook %q, want %d (%v)", sub.URL, b.ID, sub.AltovizWebhookID, err)
					}
				}
			}
		}
		for _, d := range pending {
			if f := subs[d.SubscriptionID].Format; (f == "standard" || f == "altoviz") && !named[d.ID] {
				t.Errorf("delivery %s (%s): no verified request to the receiver names it", d.ID, subs[d.SubscriptionID].Role)
			}
		}
		t.Logf("deliveries verified after the upgrade, by format: %v", verified)
		for _, f := range []string{"standard", "altoviz", "upsales", "quicklysign", "ivvy"} {
			if verified[f] == 0 {
				t.Errorf("no %s delivery was verified", f)
			}
		}
		// The iVvy subscription's confirmation token survived: visiting the SubscribeURL confirms it.
		ivvy := subByRole["ivvy-unconfirmed"]
		for _, r := range recv.requestsTo(strings.TrimPrefix(ivvy.URL, "http://"+exp.PendingReceiver)) {
			var m struct{ SubscribeURL string }
			if json.Unmarshal(r.body, &m) == nil && m.SubscribeURL != "" {
				c.must(c.do("GET", strings.TrimPrefix(m.SubscribeURL, srv.base), nil, nil, nil))
				break
			}
		}
		var got struct{ State string }
		c.must(c.do("GET", "/v1/subscriptions/"+ivvy.ID, c.bearer(c.admin), nil, &got))
		if got.State != "active" {
			t.Errorf("ivvy subscription %s after visiting its SubscribeURL: %s, want active", ivvy.ID, got.State)
		}
		// The capability URLs the last version sent hold tokens it stored in clear; this version
		// keeps only their hashes, and the URLs still work: the confirmed iVvy subscription's
		// SubscribeURL confirms it again (which changes nothing), and an Upsales callback URL takes
		// its callback once.
		confirmed := subByRole["ivvy-confirmed"]
		switch {
		case !legacy.inClear:
			t.Log("the fixture's version stored capability tokens hashed: no legacy URL to try")
		case legacy.confirm[confirmed.ID] == "":
			t.Errorf("the fixture has no confirmation token for %s", confirmed.ID)
		case legacy.callback == "":
			t.Error("the fixture has no open Upsales callback")
		default:
			tok := legacy.confirm[confirmed.ID]
			c.must(c.do("GET", "/compat/ivvy/sns?Action=ConfirmSubscription&TopicArn=x&Token="+url.QueryEscape(tok), nil, nil, nil))
			path := "/hooks/upsales/callbacks/" + url.PathEscape(legacy.callback)
			c.must(c.do("POST", path, nil, map[string]any{"status": 1, "message": "after the upgrade"}, nil))
			if st := c.status("POST", path, nil, map[string]any{"status": 1}); st != http.StatusGone {
				t.Errorf("the legacy Upsales callback URL taken twice: %d, want 410", st)
			}
		}
	})

	if err := srv.stop(); err != nil {
		t.Fatalf("%v\n%s", err, srv.log.String())
	}

	if pg != "" {
		checkCopiedDatabase(t, pg, &exp)
		return
	}
	// The files and the database, read with SQL once the server has stopped.
	for _, name := range []string{"admin-token", "server-key.pem", "server-cert.pem", "ivvy-api-key"} {
		b, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			t.Errorf("data dir: %v", err)
			continue
		}
		if sha256Hex(b) != exp.Files[name] {
			t.Errorf("data dir file %s changed on upgrade", name)
		}
	}
	checkUpgradedDatabase(t, filepath.Join(dataDir, "switchyard.db"), &exp, subByRole)
	checkTokensHashed(t, filepath.Join(dataDir, "switchyard.db"), legacy)
}

// legacyTokens are the capability tokens a landed version stored in clear (versions before 9de34ed;
// since, they are stored as their SHA-256 from the start).
type legacyTokens struct {
	// inClear says the fixture's version stored them in clear, so that the checks of their hashing
	// apply.
	inClear bool
	// confirm holds subscriptions' confirmation tokens by subscription ID.
	confirm map[string]string
	// callbacks are every Upsales callback token; callback is one whose callback is open.
	callbacks []string
	callback  string
}

func readLegacyTokens(t *testing.T, path string) legacyTokens {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := legacyTokens{confirm: map[string]string{}}
	var hashing int
	if err := db.QueryRow(`SELECT count(*) FROM pragma_table_info('upsales_requests') WHERE name = 'token_hashed'`).Scan(&hashing); err != nil {
		t.Fatal(err)
	}
	if out.inClear = hashing == 0; !out.inClear {
		return out
	}
	rows, err := db.Query(`SELECT id, confirm_token FROM subscriptions WHERE confirm_token IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, tok string
		if err := rows.Scan(&id, &tok); err != nil {
			t.Fatal(err)
		}
		out.confirm[id] = tok
	}
	rows.Close()
	rows, err = db.Query(`SELECT token, callback_state FROM upsales_requests ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tok, state string
		if err := rows.Scan(&tok, &state); err != nil {
			t.Fatal(err)
		}
		out.callbacks = append(out.callbacks, tok)
		if state == "open" && out.callback == "" {
			out.callback = tok
		}
	}
	rows.Close()
	return out
}

// checkTokensHashed: after the upgrade, no capability token is left in clear in the database;
// each is there as its SHA-256.
func checkTokensHashed(t *testing.T, path string, legacy legacyTokens) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var clear int
	if err := db.QueryRow(`SELECT COUNT(*) FROM subscriptions WHERE confirm_token IS NOT NULL`).Scan(&clear); err != nil || clear != 0 {
		t.Errorf("%d subscriptions keep a clear confirmation token (%v)", clear, err)
	}
	for id, tok := range legacy.confirm {
		var hash string
		if err := db.QueryRow(`SELECT confirm_token_hash FROM subscriptions WHERE id = ?`, id).Scan(&hash); err != nil || hash != engine.HashToken(tok) {
			t.Errorf("subscription %s: confirm_token_hash %q (%v), want the SHA-256 of its old token", id, hash, err)
		}
	}
	for _, tok := range legacy.callbacks {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM upsales_requests WHERE token = ?`, tok).Scan(&n); err != nil || n != 0 {
			t.Errorf("an Upsales callback token is still stored in clear (%v)", err)
		}
		if err := db.QueryRow(`SELECT COUNT(*) FROM upsales_requests WHERE token = ? AND token_hashed = 1`, engine.HashToken(tok)).Scan(&n); err != nil || n != 1 {
			t.Errorf("an Upsales callback token is not stored as its SHA-256 (%d rows, %v)", n, err)
		}
	}
	t.Logf("after the upgrade: %d confirmation and %d Upsales callback tokens stored as their SHA-256, none in clear", len(legacy.confirm), len(legacy.callbacks))
}

// checkDeliveryState compares a delivery after the upgrade with the fixture's: finished ones are
// as they were; those to the pending receiver may have been made since; the scheduled ones wait.
func checkDeliveryState(t *testing.T, d upgradeDelivery, state string, attempts int, nextAttemptAt int64) {
	t.Helper()
	switch {
	case d.ToPendingReceiver:
		if state != "pending" && state != "in_flight" && state != "succeeded" || attempts < d.Attempts {
			t.Errorf("delivery %s: %s after %d attempts; the fixture had it %s after %d", d.ID, state, attempts, d.State, d.Attempts)
		}
	case state != d.State || attempts != d.Attempts:
		t.Errorf("delivery %s: %s after %d attempts, want %s after %d", d.ID, state, attempts, d.State, d.Attempts)
	case d.State == "pending" && nextAttemptAt != d.NextAttemptAt:
		t.Errorf("delivery %s: next attempt at %d, want %d", d.ID, nextAttemptAt, d.NextAttemptAt)
	}
}

// verifyUpgradeDelivery checks one request the pending receiver got against the secrets the
// fixture recorded for its subscription.
func verifyUpgradeDelivery(sub upgradeSubscription, appSecret string, certPEM []byte, r upgradeRequest) error {
	switch sub.Format {
	case "standard":
		// Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body"> keyed with the bytes
		// the whsec_ secret encodes; one signature per secret in force.
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sub.Secret, "whsec_"))
		if err != nil || !strings.HasPrefix(sub.Secret, "whsec_") {
			return fmt.Errorf("the recorded secret %q is not whsec_<base64>", sub.Secret)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(r.header.Get("webhook-id") + "." + r.header.Get("webhook-timestamp") + "."))
		mac.Write(r.body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		if !slices.Contains(strings.Fields(r.header.Get("webhook-signature")), want) {
			return fmt.Errorf("webhook-signature %q has no signature made with the recorded secret", r.header.Get("webhook-signature"))
		}
	case "altoviz":
		// X-SIGNATURE: hex HMAC-SHA256 of the body keyed with the secretKey as typed; during a
		// rotation's overlap X-SIGNATURE-PREVIOUS with the previous key.
		sign := func(key string) string {
			mac := hmac.New(sha256.New, []byte(key))
			mac.Write(r.body)
			return hex.EncodeToString(mac.Sum(nil))
		}
		if got := r.header.Get("X-SIGNATURE"); got != sign(sub.Secret) {
			return fmt.Errorf("X-SIGNATURE %q is not made with the recorded key", got)
		}
		if prev := r.header.Get("X-SIGNATURE-PREVIOUS"); prev != "" && prev != sign(sub.PreviousSecret) {
			return fmt.Errorf("X-SIGNATURE-PREVIOUS %q is not made with the recorded previous key", prev)
		}
	case "upsales":
		// authenticationKey is the app's secret, shown when the app was created.
		var b struct {
			AuthenticationKey string `json:"authenticationKey"`
		}
		if err := json.Unmarshal(r.body, &b); err != nil {
			return err
		}
		if b.AuthenticationKey == "" || b.AuthenticationKey != appSecret {
			return fmt.Errorf("authenticationKey %q is not the app's secret", b.AuthenticationKey)
		}
	case "quicklysign":
		var b map[string]string
		if err := json.Unmarshal(r.body, &b); err != nil {
			return err
		}
		if b["webhook_key"] != sub.ID && b["subscription_key"] != sub.ID {
			return fmt.Errorf("the callback names %v, not subscription %s", b, sub.ID)
		}
	case "ivvy":
		// An SNS message signed with the server key, whose certificate is served at SigningCertURL.
		var m map[string]string
		if err := json.Unmarshal(r.body, &m); err != nil {
			return err
		}
		if !strings.HasSuffix(m["SigningCertURL"], certificatePathOf(certPEM)) {
			return fmt.Errorf("SigningCertURL %q is not the fixture's certificate", m["SigningCertURL"])
		}
		return verifySNS(m, certPEM)
	default:
		return fmt.Errorf("no check for format %s", sub.Format)
	}
	return nil
}

func certificatePathOf(certPEM []byte) string {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return "(no certificate)"
	}
	return "/hooks/certificates/" + sha256Hex(block.Bytes)[:32] + ".pem"
}

// verifySNS checks an SNS message's signature as SNS receivers do.
func verifySNS(m map[string]string, certPEM []byte) error {
	keys := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] == "SubscriptionConfirmation" || m["Type"] == "UnsubscribeConfirmation" {
		keys = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var msg strings.Builder
	for _, k := range keys {
		if v, ok := m[k]; ok {
			msg.WriteString(k + "\n" + v + "\n")
		}
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return errors.New("no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the certificate's key is not RSA")
	}
	sig, err := base64.StdEncoding.DecodeString(m["Signature"])
	if err != nil {
		return err
	}
	h, digest := crypto.SHA256, sha256.Sum256([]byte(msg.String()))
	sum := digest[:]
	if m["SignatureVersion"] == "1" {
		d := sha1.Sum([]byte(msg.String()))
		h, sum = crypto.SHA1, d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, h, sum, sig); err != nil {
		return fmt.Errorf("the SNS signature does not verify with the served certificate: %w", err)
	}
	return nil
}

// checkUpgradedDatabase reads the upgraded database file and compares it with expected.json.
func checkUpgradedDatabase(t *testing.T, path string, exp *upgradeExpected, subByRole map[string]upgradeSubscription) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	row := func(what string, dest []any, query string, args ...any) bool {
		t.Helper()
		err := db.QueryRow(query, args...).Scan(dest...)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return false
		}
		return true
	}

	// Every table holds at least the rows it held. schema_migrations is not compared: reorganised
	// migrations may record the schema differently, which is the point of this test.
	var versions []int64
	if rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`); err == nil {
		for rows.Next() {
			var v int64
			_ = rows.Scan(&v)
			versions = append(versions, v)
		}
		rows.Close()
	}
	t.Logf("schema_migrations: %v before the upgrade, %v after", exp.SchemaMigrations, versions)
	// Every component's line of migrations is recorded from 1 without a gap: the old database's
	// migrations were taken as applied (a CREATE run twice would have failed the start), and the
	// core's later ones ran.
	lines := map[string][]int64{}
	if rows, err := db.Query(`SELECT component, version FROM schema_versions ORDER BY component, version`); err != nil {
		t.Errorf("schema_versions: %v", err)
	} else {
		for rows.Next() {
			var c string
			var v int64
			_ = rows.Scan(&c, &v)
			lines[c] = append(lines[c], v)
		}
		rows.Close()
	}
	for _, c := range []string{"core", "altoviz", "quicklysign", "salesking", "upsales"} {
		got := lines[c]
		for i, v := range got {
			if v != int64(i+1) {
				t.Errorf("schema_versions of %s: %v, want 1..n", c, got)
				break
			}
		}
		if len(got) == 0 || (c == "core" && len(got) < 3) {
			t.Errorf("schema_versions of %s: %v, want its whole line recorded", c, got)
		}
	}
	t.Logf("schema_versions after the upgrade: %v", lines)
	for table, want := range exp.Tables {
		if table == "schema_migrations" {
			continue
		}
		var n int64
		if row("table "+table, []any{&n}, `SELECT COUNT(*) FROM "`+table+`"`) && n < want {
			t.Errorf("table %s: %d rows, the fixture had %d", table, n, want)
		}
	}

	for _, a := range exp.Accounts {
		var name string
		if row("account "+a.ID, []any{&name}, `SELECT name FROM accounts WHERE id = ?`, a.ID) && name != a.Name {
			t.Errorf("account %s: name %q, want %q", a.ID, name, a.Name)
		}
	}
	for _, a := range exp.Apps {
		var name, url, secret string
		if row("app "+a.ID, []any{&name, &url, &secret}, `SELECT name, url, secret FROM apps WHERE id = ?`, a.ID) &&
			(name != a.Name || url != a.URL || secret != a.Secret) {
			t.Errorf("app %s: %q %q, secret intact %v; want %q %q", a.ID, name, url, secret == a.Secret, a.Name, a.URL)
		}
	}
	for _, cr := range exp.Credentials {
		var appID, kind string
		var accountID, clientID sql.NullString
		var primary bool
		var revokedAt sql.NullInt64
		if !row("credential "+cr.ID, []any{&appID, &accountID, &kind, &clientID, &primary, &revokedAt},
			`SELECT app_id, account_id, kind, client_id, is_primary, revoked_at FROM credentials WHERE id = ?`, cr.ID) {
			continue
		}
		if appID != cr.AppID || accountID.String != cr.AccountID || kind != cr.Kind || clientID.String != cr.ClientID || primary != cr.Primary || revokedAt.Valid != cr.Revoked {
			t.Errorf("credential %s: app %s account %q kind %s client %q primary %v revoked %v; want %+v",
				cr.ID, appID, accountID.String, kind, clientID.String, primary, revokedAt.Valid, cr)
		}
	}
	for _, s := range exp.Subscriptions {
		var format, url, secret, previous, state string
		var previousExpires sql.NullInt64
		if !row("subscription "+s.ID, []any{&format, &url, &secret, &previous, &previousExpires, &state},
			`SELECT format, url, secret, previous_secret, previous_secret_expires_at, state FROM subscriptions WHERE id = ?`, s.ID) {
			continue
		}
		wantState := s.State
		if s.Role == "ivvy-unconfirmed" {
			wantState = "active" // confirmed by the test
		}
		if format != s.Format || url != s.URL || state != wantState {
			t.Errorf("subscription %s (%s): %s %s %s, want %s %s %s", s.ID, s.Role, format, url, state, s.Format, s.URL, wantState)
		}
		if secret != s.SecretStored || previous != s.PreviousSecretStored {
			t.Errorf("subscription %s (%s): the secret or the previous secret changed on upgrade", s.ID, s.Role)
		}
		if previousExpires.Valid != (s.PreviousSecretExpiresAt != nil) || s.PreviousSecretExpiresAt != nil && previousExpires.Int64 != *s.PreviousSecretExpiresAt {
			t.Errorf("subscription %s (%s): previous_secret_expires_at %v, want %v", s.ID, s.Role, previousExpires, s.PreviousSecretExpiresAt)
		}
		if s.AltovizWebhookID != 0 {
			var id int64
			var name string
			if row("altoviz webhook of "+s.ID, []any{&id, &name}, `SELECT id, name FROM altoviz_webhooks WHERE subscription_id = ?`, s.ID) &&
				(id != s.AltovizWebhookID || name != s.AltovizName) {
				t.Errorf("altoviz webhook of %s: %d %q, want %d %q", s.ID, id, name, s.AltovizWebhookID, s.AltovizName)
			}
		}
	}
	for _, e := range exp.Events {
		var data []byte
		var key sql.NullString
		var deliverAt sql.NullInt64
		if !row("event "+e.ID, []any{&data, &key, &deliverAt}, `SELECT data, idempotency_key, deliver_at FROM events WHERE id = ?`, e.ID) {
			continue
		}
		if sha256Hex(data) != e.DataSHA256 || key.String != e.IdempotencyKey || deliverAt.Valid != (e.DeliverAt != "") {
			t.Errorf("event %s: data, idempotency key %q or deliver_at %v changed on upgrade", e.ID, key.String, deliverAt)
		}
	}
	for _, d := range exp.Deliveries {
		var state string
		var attempts int
		var next int64
		if !row("delivery "+d.ID, []any{&state, &attempts, &next}, `SELECT state, attempts, next_attempt_at FROM deliveries WHERE id = ?`, d.ID) {
			continue
		}
		if d.ToPendingReceiver && state != "succeeded" {
			t.Errorf("delivery %s: %s, want succeeded after the upgrade", d.ID, state)
		}
		checkDeliveryState(t, d, state, attempts, next)
	}
	for _, id := range exp.Upsales.LogIDs {
		var n int
		row("upsales log entry "+id, []any{&n}, `SELECT 1 FROM upsales_requests WHERE id = ?`, id)
	}
	for _, id := range exp.Upsales.NotificationIDs {
		var n int
		row("upsales notification "+id, []any{&n}, `SELECT 1 FROM upsales_notifications WHERE id = ?`, id)
	}
	for k, want := range exp.Upsales.AppData {
		parts := strings.SplitN(k, "/", 3)
		var data string
		if row("upsales app data "+k, []any{&data}, `SELECT data FROM upsales_app_data WHERE app_id = ? AND account_id = ? AND user_id = ?`, parts[0], parts[1], parts[2]) && data != want {
			t.Errorf("upsales app data %s: %s, want %s", k, data, want)
		}
	}
	for _, u := range exp.Upsales.Users {
		parts := strings.SplitN(u, "/", 2)
		var n int
		row("upsales user "+u, []any{&n}, `SELECT 1 FROM upsales_users WHERE account_id = ? AND user_id = ?`, parts[0], parts[1])
	}
	for _, co := range exp.SalesKing {
		var sub string
		if row("salesking company "+co.AccountID, []any{&sub}, `SELECT sub_domain FROM salesking_companies WHERE account_id = ?`, co.AccountID) && sub != co.SubDomain {
			t.Errorf("salesking company %s: %q, want %q", co.AccountID, sub, co.SubDomain)
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// --- the server under test ---

type upgradeServer struct {
	base string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startUpgradeServer serves dataDir with the operator's defaults: the admin token and keys come
// from the data dir, only loopback deliveries are allowed beyond them.
func startUpgradeServer(t *testing.T, bin, dataDir string, extra ...string) *upgradeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &upgradeServer{base: "http://" + addr, log: &lockedBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--allow-private", "127.0.0.0/8", "--grace", "5s"}, extra...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHYARD_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("the server exited on the fixture's data dir: %v\n%s", err, s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			t.Fatalf("the server did not become ready on the fixture's data dir\n%s", s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *upgradeServer) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			return fmt.Errorf("the server exited with %v after SIGTERM", err)
		}
		return nil
	case <-time.After(time.Minute):
		return errors.New("the server did not stop within a minute of SIGTERM")
	}
}

func (s *upgradeServer) kill() {
	select {
	case err := <-s.done:
		s.done <- err
	default:
		_ = s.cmd.Process.Kill()
		s.done <- <-s.done
	}
}

// --- the pending receiver ---

type upgradeRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

type upgradeReceiver struct {
	srv  *http.Server
	mu   sync.Mutex
	reqs []upgradeRequest
}

func newUpgradeReceiver(addr string) (*upgradeReceiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &upgradeReceiver{}
	r.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, upgradeRequest{method: req.Method, path: req.URL.Path, header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *upgradeReceiver) close() { _ = r.srv.Close() }

// requestsTo returns the requests to path and below it.
func (r *upgradeReceiver) requestsTo(path string) []upgradeRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []upgradeRequest
	for _, q := range r.reqs {
		if q.path == path || strings.HasPrefix(q.path, path+"/") {
			out = append(out, q)
		}
	}
	return out
}

// --- the HTTP client ---

type upgradeClient struct {
	t     *testing.T
	base  string
	admin string
}

func (c *upgradeClient) with(t *testing.T) *upgradeClient {
	cc := *c
	cc.t = t
	return &cc
}

func (c *upgradeClient) bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func (c *upgradeClient) must(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Error(err)
	}
}

// do sends a request and decodes a 2xx JSON answer into out; any other answer is an error.
func (c *upgradeClient) do(method, path string, header map[string]string, body, out any) error {
	status, b, err := c.send(method, path, header, body)
	if err != nil {
		return err
	}
	if status >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w: %s", method, path, err, b)
		}
	}
	return nil
}

func (c *upgradeClient) status(method, path string, header map[string]string, body any) int {
	c.t.Helper()
	status, _, err := c.send(method, path, header, body)
	if err != nil {
		c.t.Error(err)
	}
	return status
}

func (c *upgradeClient) send(method, path string, header map[string]string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

type upgradeAPIDelivery struct {
	EventID        string    `json:"event_id"`
	SubscriptionID string    `json:"subscription_id"`
	Kind           string    `json:"kind"`
	State          string    `json:"state"`
	Attempts       int       `json:"attempts"`
	NextAttemptAt  time.Time `json:"next_attempt_at"`
}

func (c *upgradeClient) delivery(id string) *upgradeAPIDelivery {
	c.t.Helper()
	var d upgradeAPIDelivery
	if err := c.do("GET", "/v1/deliveries/"+id, c.bearer(c.admin), nil, &d); err != nil {
		c.t.Error(err)
		return nil
	}
	return &d
}

// ivvySigned posts body signed as iVvy's API wants: X-Api-Authorization: IWS key:<hex HMAC-SHA1>
// of method, Content-MD5, Content-Type, date (empty with IVVY-Date), path and query, X-Api-Version
// and the IVVY-* headers, lowercased.
func (c *upgradeClient) ivvySigned(path, key, secret string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	sum := md5.Sum(raw)
	contentMD5 := hex.EncodeToString(sum[:])
	date := time.Now().UTC().Format("2006-01-02 15:04:05")
	const contentType = "application/json; charset=utf-8"
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(strings.ToLower("POST" + contentMD5 + contentType + path + "1.0" + "ivvydate=" + date)))
	return c.do("POST", path, map[string]string{
		"Content-Type": contentType, "Content-MD5": contentMD5, "IVVY-Date": date, "X-Api-Version": "1.0",
		"X-Api-Authorization": "IWS " + key + ":" + hex.EncodeToString(mac.Sum(nil)),
	}, json.RawMessage(raw), out)
}

// checkCopiedDatabase counts the rows of every table of the fixture in the PostgreSQL database it
// was copied into: none may be missing.
func checkCopiedDatabase(t *testing.T, url string, exp *upgradeExpected) {
	t.Helper()
	db, err := sqlx.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for table, want := range exp.Tables {
		if table == "schema_migrations" || strings.HasPrefix(table, "sqlite_") {
			continue
		}
		var n int64
		if err := db.Get(&n, `SELECT count(*) FROM "`+table+`"`); err != nil {
			t.Errorf("table %s: %v", table, err)
		} else if n < want {
			t.Errorf("table %s: %d rows after the copy, the fixture had %d", table, n, want)
		}
	}
}
