// Package storetest is one behavioural test suite for every engine.Store: the SQLite store runs
// it, and so must any other driver. It tests through the interface alone, and each test opens a
// fresh store, so tests run in parallel.
package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
)

// Run runs the suite. open must return a new, empty, migrated store each time it is called, and
// close it when t ends (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) engine.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) engine.Store)
	}{
		{"Accounts", testAccounts},
		{"Apps", testApps},
		{"ExternalIDs", testExternalIDs},
		{"AccountUsers", testAccountUsers},
		{"Credentials", testCredentials},
		{"RevokeCredential", testRevokeCredential},
		{"Grants", testGrants},
		{"RevokeGrant", testRevokeGrant},
		{"ListDeliveriesGranted", testListDeliveriesGranted},
		{"SubscriptionRoundTrip", testSubscriptionRoundTrip},
		{"SubscriptionConflicts", testSubscriptionConflicts},
		{"SubscriptionHandshake", testSubscriptionHandshake},
		{"ListSubscriptions", testListSubscriptions},
		{"UpdateSubscription", testUpdateSubscription},
		{"SubscriptionVersion", testSubscriptionVersion},
		{"DeleteSubscription", testDeleteSubscription},
		{"DisableFailing", testDisableFailing},

		{"IngestRouting", testIngestRouting},
		{"IngestRoutingByEntity", testIngestRoutingByEntity},
		{"IngestEventRoundTrip", testIngestEventRoundTrip},
		{"IngestIdempotency", testIngestIdempotency},
		{"IngestManyEvents", testIngestManyEvents},
		{"IngestDeliverAt", testIngestDeliverAt},
		{"IngestAtomic", testIngestAtomic},
		{"IngestReadsParties", testIngestReadsParties},

		{"ClaimDueOrderAndLimit", testClaimDueOrderAndLimit},
		{"ClaimDueWork", testClaimDueWork},
		{"ClaimDueConcurrent", testClaimDueConcurrent},
		{"ClaimDueTakesTurns", testClaimDueTakesTurns},
		{"ClaimDueSkips", testClaimDueSkips},
		{"ClaimDueCountsInFlight", testClaimDueCountsInFlight},
		{"CompleteTransitions", testCompleteTransitions},
		{"CompleteAttempts", testCompleteAttempts},
		{"CompleteAfterEnd", testCompleteAfterEnd},
		{"CompleteEndThenLateInOneCall", testCompleteEndThenLateInOneCall},
		{"CompleteSkipsMissing", testCompleteSkipsMissing},
		{"CompleteHealth", testCompleteHealth},
		{"CompleteSkipped", testCompleteSkipped},
		{"NextDue", testNextDue},
		{"CountDeliveries", testCountDeliveries},
		{"RecoverLeases", testRecoverLeases},
		{"LeaseOwners", testLeaseOwners},
		{"ReleaseLeases", testReleaseLeases},
		{"ExtendLeases", testExtendLeases},
		{"ListDeliveries", testListDeliveries},
		{"RetryDelivery", testRetryDelivery},
		{"ReplaySubscription", testReplaySubscription},
		{"PurgeAttempts", testPurgeAttempts},

		{"Portal", testPortal},
		{"PortalBound", testPortalBound},
		{"PortalExchangeConcurrent", testPortalExchangeConcurrent},

		{"PausedSubscription", testPausedSubscription},
		{"RetryPendingDelivery", testRetryPendingDelivery},
		{"RetryDeliveries", testRetryDeliveries},
		{"ListEvents", testListEvents},
		{"OrderingSequences", testOrderingSequences},
		{"OrderingClaimsHeadsOnly", testOrderingClaimsHeadsOnly},
		{"OrderingLeaseExpiry", testOrderingLeaseExpiry},
		{"OrderingOnDeadContinue", testOrderingOnDeadContinue},
		{"OrderingOnDeadBlock", testOrderingOnDeadBlock},
		{"OrderingReplay", testOrderingReplay},
		{"OrderingConcurrentClaims", testOrderingConcurrentClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
	// The claiming cases once more, with every claim skipping a subscription that does not exist: a
	// driver may claim another way when it skips some (SQLite walks subscriptions, not due times),
	// and both ways must take the same deliveries.
	skipping := func(t *testing.T) engine.Store { return skippingStore{open(t)} }
	for _, tt := range tests {
		if strings.Contains(tt.name, "Claim") || strings.HasPrefix(tt.name, "Ordering") || tt.name == "PausedSubscription" {
			t.Run("Skipping/"+tt.name, func(t *testing.T) { tt.fn(t, skipping) })
		}
	}
}

// skippingStore claims as the dispatcher does while some subscription is at its cap.
type skippingStore struct{ engine.Store }

func (s skippingStore) ClaimDue(ctx context.Context, p engine.ClaimParams) ([]*engine.Work, error) {
	p.Skip = append(slices.Clip(p.Skip), "sub_that_does_not_exist")
	return s.Store.ClaimDue(ctx, p)
}

func testAccounts(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	want := &engine.Account{ID: "tenant-42", Name: "Tenant 42", CreatedAt: at(-time.Hour)}
	if err := h.s.CreateAccount(h.ctx, want); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	got, err := h.s.GetAccount(h.ctx, want.ID)
	if err != nil {
		t.Fatalf("GetAccount: %v", err)
	}
	wantSame(t, "GetAccount", got, want)

	_, err = h.s.GetAccount(h.ctx, "missing")
	wantErr(t, "GetAccount(missing)", err, engine.ErrNotFound)
	err = h.s.CreateAccount(h.ctx, &engine.Account{ID: want.ID, Name: "again", CreatedAt: base})
	wantErr(t, "CreateAccount(same ID)", err, engine.ErrConflict)

	ids := []string{want.ID}
	for range 4 {
		ids = append(ids, h.account().ID)
	}
	ids = sorted(ids)
	page, err := h.s.ListAccounts(h.ctx, engine.Page{Limit: 2})
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	var listed []string
	for _, a := range page {
		listed = append(listed, a.ID)
	}
	wantIDs(t, "first page", listed, ids[:2])
	page, err = h.s.ListAccounts(h.ctx, engine.Page{After: ids[1], Limit: 2})
	if err != nil {
		t.Fatalf("ListAccounts: %v", err)
	}
	listed = listed[:0]
	for _, a := range page {
		listed = append(listed, a.ID)
	}
	wantIDs(t, "second page", listed, ids[2:4])
	page, err = h.s.ListAccounts(h.ctx, engine.Page{After: ids[4], Limit: 2})
	if err != nil || len(page) != 0 {
		t.Errorf("page after the last: %d accounts, %v; want none", len(page), err)
	}
}

func testApps(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	want := &engine.App{ID: engine.NewID("app"), Name: "Zapier-like", URL: "https://app.example/base", Secret: "s3cr3t/with+chars==", CreatedAt: at(-time.Minute)}
	if err := h.s.CreateApp(h.ctx, want); err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	got, err := h.s.GetApp(h.ctx, want.ID)
	if err != nil {
		t.Fatalf("GetApp: %v", err)
	}
	wantSame(t, "GetApp", got, want)
	_, err = h.s.GetApp(h.ctx, "app_missing")
	wantErr(t, "GetApp(missing)", err, engine.ErrNotFound)
	wantErr(t, "CreateApp(same ID)", h.s.CreateApp(h.ctx, want), engine.ErrConflict)

	ids := []string{want.ID, h.app().ID, h.app().ID}
	ids = sorted(ids)
	apps, err := h.s.ListApps(h.ctx, engine.Page{After: ids[0], Limit: 10})
	if err != nil {
		t.Fatalf("ListApps: %v", err)
	}
	var listed []string
	for _, a := range apps {
		listed = append(listed, a.ID)
	}
	wantIDs(t, "ListApps after the first", listed, ids[1:])
	if apps[0].Secret == "" {
		t.Error("ListApps dropped the secret")
	}
}

// testExternalIDs: an account's and an app's optional numeric id is kept, read back by every read
// (the claimed work too), unique where given, and absent (nil) where not.
func testExternalIDs(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	big := int64(engine.MaxExternalID)
	acc := &engine.Account{ID: engine.NewID("acc"), Name: "Numbered", ExternalID: &big, CreatedAt: base}
	seven := int64(7)
	app := &engine.App{ID: engine.NewID("app"), Name: "Numbered", Secret: "s", ExternalID: &seven, CreatedAt: base}
	if err := h.s.CreateAccount(h.ctx, acc); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if err := h.s.CreateApp(h.ctx, app); err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	gotAcc, err := h.s.GetAccount(h.ctx, acc.ID)
	if err != nil || gotAcc.ExternalID == nil || *gotAcc.ExternalID != big {
		t.Fatalf("GetAccount: %+v, %v; want external id %d", gotAcc, err, big)
	}
	gotApp, err := h.s.GetApp(h.ctx, app.ID)
	if err != nil || gotApp.ExternalID == nil || *gotApp.ExternalID != 7 {
		t.Fatalf("GetApp: %+v, %v; want external id 7", gotApp, err)
	}
	plain := h.account()
	if got, _ := h.s.GetAccount(h.ctx, plain.ID); got.ExternalID != nil {
		t.Errorf("an account created without an external id has %d", *got.ExternalID)
	}
	h.app() // a second app without one: NULLs do not collide
	wantErr(t, "CreateAccount(same external id)", h.s.CreateAccount(h.ctx,
		&engine.Account{ID: engine.NewID("acc"), Name: "Dup", ExternalID: &big, CreatedAt: base}), engine.ErrConflict)
	wantErr(t, "CreateApp(same external id)", h.s.CreateApp(h.ctx,
		&engine.App{ID: engine.NewID("app"), Name: "Dup", Secret: "s", ExternalID: &seven, CreatedAt: base}), engine.ErrConflict)

	h.sub(app, acc)
	h.ingest(routeAll(base), newEvent(acc))
	ws := h.claim(base, 10)
	if len(ws) != 1 || ws[0].App.ExternalID == nil || *ws[0].App.ExternalID != 7 ||
		ws[0].Account.ExternalID == nil || *ws[0].Account.ExternalID != big {
		t.Fatalf("claimed work does not carry the external ids: %+v", ws)
	}
}

// testAccountUsers: users are put (created, then replaced keeping their creation time), read,
// listed by ID per account, capped per account, and deleted.
func testAccountUsers(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	acc, other := h.account(), h.account()
	put := func(accountID, id string, perms []string, at time.Time, max int) (bool, error) {
		return h.s.PutAccountUser(h.ctx, engine.PutAccountUserParams{
			User: &engine.AccountUser{AccountID: accountID, ID: id, Permissions: perms, CreatedAt: at, UpdatedAt: at}, Max: max})
	}
	if created, err := put(acc.ID, "7", []string{"invoices:delete", "clients:read"}, base, 0); err != nil || !created {
		t.Fatalf("put a new user: %v, %v", created, err)
	}
	if created, err := put(acc.ID, "7", []string{"clients:read"}, at(time.Hour), 0); err != nil || created {
		t.Fatalf("put it again: %v, %v", created, err)
	}
	u, err := h.s.GetAccountUser(h.ctx, acc.ID, "7")
	if err != nil || u.AccountID != acc.ID || u.ID != "7" || len(u.Permissions) != 1 || u.Permissions[0] != "clients:read" ||
		!u.CreatedAt.Equal(base) || !u.UpdatedAt.Equal(at(time.Hour)) {
		t.Fatalf("GetAccountUser: %+v, %v", u, err)
	}
	if _, err := put(acc.ID, "10", []string{}, base, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := put(other.ID, "8", nil, base, 0); err != nil {
		t.Fatal(err)
	}
	_, err = h.s.GetAccountUser(h.ctx, other.ID, "7")
	wantErr(t, "another account's user", err, engine.ErrNotFound)
	users, err := h.s.ListAccountUsers(h.ctx, acc.ID, engine.Page{Limit: 10})
	if err != nil || len(users) != 2 || users[0].ID != "10" || users[1].ID != "7" || users[0].Permissions == nil {
		t.Fatalf("ListAccountUsers: %+v, %v", users, err)
	}
	if page, err := h.s.ListAccountUsers(h.ctx, acc.ID, engine.Page{After: "10", Limit: 10}); err != nil || len(page) != 1 || page[0].ID != "7" {
		t.Errorf("page after 10: %+v, %v", page, err)
	}
	_, err = put(acc.ID, "11", nil, base, 2)
	wantErr(t, "a third user over a cap of 2", err, engine.ErrConflict)
	if _, err := put(acc.ID, "7", []string{"x"}, base, 2); err != nil {
		t.Errorf("replacing a user at the cap: %v", err)
	}
	_, err = put("acc_missing", "1", nil, base, 0)
	wantErr(t, "a user of no account", err, engine.ErrInvalid)
	if err := h.s.DeleteAccountUser(h.ctx, acc.ID, "7"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete again", h.s.DeleteAccountUser(h.ctx, acc.ID, "7"), engine.ErrNotFound)
	_, err = h.s.GetAccountUser(h.ctx, acc.ID, "7")
	wantErr(t, "a deleted user", err, engine.ErrNotFound)
}

func testCredentials(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()

	t.Run("RoundTrip", func(t *testing.T) {
		want := &engine.Credential{
			ID: engine.NewID("crd"), AppID: app.ID, AccountID: acc.ID, Kind: engine.CredentialAccessToken,
			Scopes: []string{"events:publish", "clients:read"}, Primary: true,
			SecretHash: []byte{0, 1, 2, 0xff, 0}, CreatedAt: base, UserID: "user-7",
		}
		if err := h.s.CreateCredential(h.ctx, want); err != nil {
			t.Fatalf("CreateCredential: %v", err)
		}
		got, err := h.s.GetCredential(h.ctx, want.ID)
		if err != nil {
			t.Fatalf("GetCredential: %v", err)
		}
		wantSame(t, "GetCredential", got, want)
		_, err = h.s.GetCredential(h.ctx, "crd_missing")
		wantErr(t, "GetCredential(missing)", err, engine.ErrNotFound)
		wantErr(t, "CreateCredential(same ID)", h.s.CreateCredential(h.ctx, want), engine.ErrConflict)
	})

	t.Run("ClientID", func(t *testing.T) {
		want := h.credential(app, func(c *engine.Credential) {
			c.Kind, c.ClientID, c.Scopes = engine.CredentialClient, engine.NewID("cli"), []string{}
		})
		got, err := h.s.GetCredentialByClientID(h.ctx, want.ClientID)
		if err != nil {
			t.Fatalf("GetCredentialByClientID: %v", err)
		}
		wantSame(t, "GetCredentialByClientID", got, want)
		_, err = h.s.GetCredentialByClientID(h.ctx, "cli_missing")
		wantErr(t, "GetCredentialByClientID(missing)", err, engine.ErrNotFound)
		_, err = h.s.GetCredentialByClientID(h.ctx, "")
		wantErr(t, "GetCredentialByClientID(\"\")", err, engine.ErrNotFound)

		dup := &engine.Credential{ID: engine.NewID("crd"), AppID: app.ID, Kind: engine.CredentialClient,
			ClientID: want.ClientID, SecretHash: []byte{1}, CreatedAt: base}
		wantErr(t, "CreateCredential(same client ID)", h.s.CreateCredential(h.ctx, dup), engine.ErrConflict)
	})

	t.Run("List", func(t *testing.T) {
		app, other := h.app(), h.app()
		a, b := h.credential(app), h.credential(app)
		h.credential(other)
		list, err := h.s.ListCredentials(h.ctx, app.ID, engine.Page{Limit: 10})
		if err != nil {
			t.Fatalf("ListCredentials: %v", err)
		}
		first, second := a, b
		if b.ID < a.ID {
			first, second = b, a
		}
		if len(list) != 2 || list[0].ID != first.ID || list[1].ID != second.ID {
			t.Fatalf("ListCredentials: %+v; want %s, %s", list, first.ID, second.ID)
		}
		wantSame(t, "ListCredentials", list[0], first)
		if list, _ := h.s.ListCredentials(h.ctx, app.ID, engine.Page{After: first.ID, Limit: 10}); len(list) != 1 || list[0].ID != second.ID {
			t.Errorf("ListCredentials(after the first): %+v", list)
		}
		if list, _ := h.s.ListCredentials(h.ctx, app.ID, engine.Page{Limit: 1}); len(list) != 1 {
			t.Errorf("ListCredentials(limit 1): %+v", list)
		}
		if list, err := h.s.ListCredentials(h.ctx, "app_missing", engine.Page{Limit: 10}); err != nil || len(list) != 0 {
			t.Errorf("ListCredentials(no such app): %+v, %v", list, err)
		}
	})

	t.Run("NoClientIDsDoNotClash", func(t *testing.T) {
		a := h.credential(app)
		b := h.credential(app)
		for _, c := range []*engine.Credential{a, b} {
			got, err := h.s.GetCredential(h.ctx, c.ID)
			if err != nil {
				t.Fatalf("GetCredential: %v", err)
			}
			if got.ClientID != "" || got.AccountID != "" || got.RevokedAt != nil || got.Primary {
				t.Errorf("credential %s came back as %+v", c.ID, got)
			}
		}
	})
}

func testRevokeCredential(t *testing.T, open func(t *testing.T) engine.Store) {
	for _, del := range []bool{false, true} {
		name := "KeepSubscriptions"
		if del {
			name = "DeleteSubscriptions"
		}
		t.Run(name, func(t *testing.T) {
			h := setup(t, open)
			app, acc := h.app(), h.account()
			cred, other := h.credential(app), h.credential(app)
			mine1 := h.sub(app, acc, func(s *engine.Subscription) { s.CredentialID = cred.ID })
			mine2 := h.sub(app, acc, func(s *engine.Subscription) { s.CredentialID = cred.ID })
			theirs := h.sub(app, acc, func(s *engine.Subscription) { s.CredentialID = other.ID })
			plain := h.sub(app, acc)
			d := h.deliver(mine1, base)
			h.complete(outcome(d, base, engine.DeliveryPending))
			kept := h.deliver(theirs, base)

			removed, err := h.s.RevokeCredential(h.ctx, engine.RevokeCredentialParams{ID: cred.ID, At: at(time.Hour), DeleteSubscriptions: del})
			if err != nil {
				t.Fatalf("RevokeCredential: %v", err)
			}
			got, err := h.s.GetCredential(h.ctx, cred.ID)
			if err != nil {
				t.Fatalf("GetCredential: %v", err)
			}
			wantTimePtr(t, "RevokedAt", got.RevokedAt, ptr(at(time.Hour)))
			if o, _ := h.s.GetCredential(h.ctx, other.ID); o == nil || o.RevokedAt != nil {
				t.Errorf("the other credential: %+v; want it unrevoked", o)
			}

			if !del {
				wantIDs(t, "removed", removed, nil)
				for _, s := range []*engine.Subscription{mine1, mine2} {
					h.subscription(s.ID)
				}
				h.delivery(d.ID)
				return
			}
			wantIDs(t, "removed", sorted(removed), sorted([]string{mine1.ID, mine2.ID}))
			for _, s := range []*engine.Subscription{mine1, mine2} {
				_, err := h.s.GetSubscription(h.ctx, s.ID)
				wantErr(t, "GetSubscription(removed)", err, engine.ErrNotFound)
			}
			_, err = h.s.GetDelivery(h.ctx, d.ID)
			wantErr(t, "GetDelivery(of a removed subscription)", err, engine.ErrNotFound)
			if as := h.attempts(d.ID); len(as) != 0 {
				t.Errorf("%d attempts left of a removed subscription's delivery", len(as))
			}
			h.subscription(theirs.ID)
			h.subscription(plain.ID)
			h.delivery(kept.ID)
		})
	}

	t.Run("Missing", func(t *testing.T) {
		h := setup(t, open)
		_, err := h.s.RevokeCredential(h.ctx, engine.RevokeCredentialParams{ID: "crd_missing", At: base, DeleteSubscriptions: true})
		wantErr(t, "RevokeCredential(missing)", err, engine.ErrNotFound)
	})
}

func testSubscriptionRoundTrip(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	cred := h.credential(app)
	want := &engine.Subscription{
		ID: engine.NewID("sub"), AppID: app.ID, AccountID: acc.ID, CredentialID: cred.ID, Format: "handshaking",
		Events: []string{"client.create", "invoice.*"}, EntityKey: "client-7", URL: "https://r.example/h?x=1",
		Options:                 map[string]string{"mode": "compact", "region": "eu"},
		Secret:                  "whsec_new",
		PreviousSecret:          "whsec_old",
		PreviousSecretExpiresAt: ptr(at(24 * time.Hour)),
		State:                   engine.SubscriptionPending,
		DisabledReason:          "",
		RetryPolicy:             &engine.RetryPolicy{Schedule: []engine.Duration{engine.Duration(time.Second), engine.Duration(90 * time.Minute)}},
		FailingSince:            ptr(at(-time.Hour)),
		ConfirmTokenHash:        "tok-" + engine.NewID("t"),
		PausedAt:                ptr(at(-30 * time.Minute)),
		Ordering:                engine.OrderingEntity,
		OnDead:                  engine.OnDeadBlock,
		CreatedAt:               at(-2 * time.Hour),
		UpdatedAt:               at(-time.Minute),
	}
	if err := h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: want}); err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	got := h.subscription(want.ID)
	wantSame(t, "GetSubscription", got, want)
	got, err := h.s.GetSubscriptionByConfirmTokenHash(h.ctx, want.ConfirmTokenHash)
	if err != nil {
		t.Fatalf("GetSubscriptionByConfirmTokenHash: %v", err)
	}
	wantSame(t, "GetSubscriptionByConfirmTokenHash", got, want)

	// The optional fields left empty.
	bare := newSubscription(app, acc)
	if err := h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: bare}); err != nil {
		t.Fatalf("CreateSubscription(bare): %v", err)
	}
	wantSame(t, "GetSubscription(bare)", h.subscription(bare.ID), bare)

	_, err = h.s.GetSubscription(h.ctx, "sub_missing")
	wantErr(t, "GetSubscription(missing)", err, engine.ErrNotFound)
	_, err = h.s.GetSubscriptionByConfirmTokenHash(h.ctx, "no-such-token")
	wantErr(t, "GetSubscriptionByConfirmTokenHash(missing)", err, engine.ErrNotFound)
	_, err = h.s.GetSubscriptionByConfirmTokenHash(h.ctx, "")
	wantErr(t, "GetSubscriptionByConfirmTokenHash(\"\")", err, engine.ErrNotFound)
}

func testSubscriptionConflicts(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	first := h.sub(app, acc, func(s *engine.Subscription) { s.ConfirmTokenHash = "token-1" })
	// Subscriptions without a confirmation token do not clash with each other.
	h.sub(app, acc)
	h.sub(app, acc)

	sameID := newSubscription(app, acc)
	sameID.ID = first.ID
	err := h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: sameID})
	wantErr(t, "CreateSubscription(same ID)", err, engine.ErrConflict)

	sameToken := newSubscription(app, acc)
	sameToken.ConfirmTokenHash = "token-1"
	err = h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: sameToken})
	wantErr(t, "CreateSubscription(same confirmation token)", err, engine.ErrConflict)
	_, err = h.s.GetSubscription(h.ctx, sameToken.ID)
	wantErr(t, "GetSubscription(refused)", err, engine.ErrNotFound)
}

func testSubscriptionHandshake(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	s := newSubscription(app, acc)
	s.State, s.ConfirmTokenHash = engine.SubscriptionPending, "confirm-me"
	hs := &engine.Delivery{
		ID: engine.NewID("dlv"), SubscriptionID: s.ID, AppID: app.ID, Kind: engine.DeliveryHandshake,
		State: engine.DeliveryPending, NextAttemptAt: base, CreatedAt: base, UpdatedAt: base,
	}
	if err := h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: s, Handshake: hs}); err != nil {
		t.Fatalf("CreateSubscription: %v", err)
	}
	wantSame(t, "handshake delivery", h.delivery(hs.ID), hs)

	ws := h.claim(base, 10)
	if len(ws) != 1 {
		t.Fatalf("claimed %d; want the handshake", len(ws))
	}
	w := ws[0]
	if w.Delivery.ID != hs.ID || w.Event != nil || w.Subscription == nil || w.Subscription.ID != s.ID ||
		w.App == nil || w.App.ID != app.ID || w.Account == nil || w.Account.ID != acc.ID {
		t.Errorf("handshake work = %+v; want the handshake with no event, its subscription, app and account", w)
	}

	// A handshake that cannot be stored takes the subscription with it.
	s2 := newSubscription(app, acc)
	bad := *hs // same delivery ID
	bad.SubscriptionID = s2.ID
	err := h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: s2, Handshake: &bad})
	wantErr(t, "CreateSubscription(handshake with a used ID)", err, engine.ErrConflict)
	_, err = h.s.GetSubscription(h.ctx, s2.ID)
	wantErr(t, "GetSubscription(after a failed create)", err, engine.ErrNotFound)
}

func testListSubscriptions(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app1, app2 := h.app(), h.app()
	acc1, acc2 := h.account(), h.account()
	cred := h.credential(app1)
	a := h.sub(app1, acc1)
	b := h.sub(app1, acc2, func(s *engine.Subscription) { s.Format, s.CredentialID = "handshaking", cred.ID })
	c := h.sub(app2, acc1, func(s *engine.Subscription) { s.EntityKey = "client-9" })
	d := h.sub(app2, acc2, func(s *engine.Subscription) { s.URL = "https://other.example/in" })
	e := h.sub(app1, acc1, func(s *engine.Subscription) { s.State = engine.SubscriptionDisabled })

	for _, tt := range []struct {
		name string
		f    engine.SubscriptionFilter
		want []*engine.Subscription
	}{
		{"All", engine.SubscriptionFilter{}, []*engine.Subscription{a, b, c, d, e}},
		{"App", engine.SubscriptionFilter{AppID: app1.ID}, []*engine.Subscription{a, b, e}},
		{"Account", engine.SubscriptionFilter{AccountID: acc2.ID}, []*engine.Subscription{b, d}},
		{"AppAndAccount", engine.SubscriptionFilter{AppID: app2.ID, AccountID: acc1.ID}, []*engine.Subscription{c}},
		{"Format", engine.SubscriptionFilter{Format: "handshaking"}, []*engine.Subscription{b}},
		{"EntityKey", engine.SubscriptionFilter{EntityKey: "client-9"}, []*engine.Subscription{c}},
		{"URL", engine.SubscriptionFilter{URL: "https://other.example/in"}, []*engine.Subscription{d}},
		{"Credential", engine.SubscriptionFilter{CredentialID: cred.ID}, []*engine.Subscription{b}},
		{"NoMatch", engine.SubscriptionFilter{AppID: app2.ID, Format: "handshaking"}, nil},
		{"Limit", engine.SubscriptionFilter{Page: engine.Page{Limit: 2}}, []*engine.Subscription{a, b}},
		{"After", engine.SubscriptionFilter{Page: engine.Page{After: b.ID, Limit: 2}}, []*engine.Subscription{c, d}},
		{"AppAfter", engine.SubscriptionFilter{AppID: app1.ID, Page: engine.Page{After: a.ID, Limit: 10}}, []*engine.Subscription{b, e}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.s.ListSubscriptions(h.ctx, tt.f)
			if err != nil {
				t.Fatalf("ListSubscriptions: %v", err)
			}
			wantIDs(t, "subscriptions", subscriptionIDs(got), subscriptionIDs(tt.want))
			for i := range min(len(got), len(tt.want)) {
				wantSame(t, "listed subscription", got[i], tt.want[i])
			}
		})
	}
}

func testUpdateSubscription(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	orig := h.sub(app, acc, func(s *engine.Subscription) { s.ConfirmTokenHash = "tok-a" })
	h.sub(app, acc, func(s *engine.Subscription) { s.ConfirmTokenHash = "tok-b" })

	upd := *orig
	upd.Events = []string{"invoice.paid"}
	upd.EntityKey = "inv-1"
	upd.URL = "https://moved.example/hook"
	upd.Options = map[string]string{"k": "v"}
	upd.Secret, upd.PreviousSecret, upd.PreviousSecretExpiresAt = "whsec_2", orig.Secret, ptr(at(time.Hour))
	upd.State, upd.DisabledReason = engine.SubscriptionDisabled, "disabled through the API"
	upd.RetryPolicy = &engine.RetryPolicy{Schedule: []engine.Duration{engine.Duration(time.Minute)}}
	upd.FailingSince = ptr(at(-time.Minute))
	upd.MaxPerSecond = 2.5
	upd.Ordering, upd.OnDead = engine.OrderingSubscription, engine.OnDeadBlock
	upd.UpdatedAt = at(time.Minute)
	if err := h.s.UpdateSubscription(h.ctx, &upd); err != nil {
		t.Fatalf("UpdateSubscription: %v", err)
	}
	wantSame(t, "after update", h.subscription(orig.ID), &upd)

	// And back: cleared fields are cleared.
	back := upd
	back.PreviousSecret, back.PreviousSecretExpiresAt, back.RetryPolicy, back.FailingSince = "", nil, nil, nil
	back.State, back.DisabledReason, back.Options = engine.SubscriptionActive, "", nil
	back.UpdatedAt = at(2 * time.Minute)
	if err := h.s.UpdateSubscription(h.ctx, &back); err != nil {
		t.Fatalf("UpdateSubscription: %v", err)
	}
	wantSame(t, "after clearing", h.subscription(orig.ID), &back)

	missing := newSubscription(app, acc)
	wantErr(t, "UpdateSubscription(missing)", h.s.UpdateSubscription(h.ctx, missing), engine.ErrNotFound)

	clash := back
	clash.ConfirmTokenHash = "tok-b"
	wantErr(t, "UpdateSubscription(a token in use)", h.s.UpdateSubscription(h.ctx, &clash), engine.ErrConflict)
	if got := h.subscription(orig.ID); got.ConfirmTokenHash != "tok-a" {
		t.Errorf("token after a refused update = %q; want tok-a", got.ConfirmTokenHash)
	}
}

func testDeleteSubscription(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	gone, stays := h.sub(app, acc), h.sub(app, acc)
	d1 := h.deliver(gone, base)
	d2 := h.deliver(gone, at(time.Hour))
	other := h.deliver(stays, at(time.Hour))
	h.claim(base, 10) // d1
	h.complete(outcome(d1, base, engine.DeliveryPending))
	h.complete(outcome(other, base, engine.DeliveryPending))
	if n := len(h.attempts(d1.ID)); n != 1 {
		t.Fatalf("%d attempts before the delete; want 1", n)
	}

	if err := h.s.DeleteSubscription(h.ctx, gone.ID); err != nil {
		t.Fatalf("DeleteSubscription: %v", err)
	}
	_, err := h.s.GetSubscription(h.ctx, gone.ID)
	wantErr(t, "GetSubscription(deleted)", err, engine.ErrNotFound)
	for _, d := range []*engine.Delivery{d1, d2} {
		_, err := h.s.GetDelivery(h.ctx, d.ID)
		wantErr(t, "GetDelivery(of a deleted subscription)", err, engine.ErrNotFound)
	}
	if as := h.attempts(d1.ID); len(as) != 0 {
		t.Errorf("%d attempts left of a deleted delivery", len(as))
	}
	ds, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{SubscriptionID: gone.ID})
	if err != nil || len(ds) != 0 {
		t.Errorf("ListDeliveries(deleted subscription) = %d, %v; want none", len(ds), err)
	}
	// The other subscription keeps its delivery and attempt, and the event stays.
	h.delivery(other.ID)
	if n := len(h.attempts(other.ID)); n != 1 {
		t.Errorf("other delivery has %d attempts; want 1", n)
	}
	if _, err := h.s.GetEvent(h.ctx, d1.EventID); err != nil {
		t.Errorf("GetEvent after the delete: %v", err)
	}
	wantErr(t, "DeleteSubscription(again)", h.s.DeleteSubscription(h.ctx, gone.ID), engine.ErrNotFound)
}

func testDisableFailing(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	cutoff := at(-5 * 24 * time.Hour)
	old := h.sub(app, acc, func(s *engine.Subscription) { s.FailingSince = ptr(cutoff.Add(-time.Hour)) })
	old2 := h.sub(app, acc, func(s *engine.Subscription) { s.FailingSince = ptr(cutoff.Add(-time.Millisecond)) })
	recent := h.sub(app, acc, func(s *engine.Subscription) { s.FailingSince = ptr(cutoff.Add(time.Hour)) })
	atCutoff := h.sub(app, acc, func(s *engine.Subscription) { s.FailingSince = ptr(cutoff) })
	healthy := h.sub(app, acc)
	already := h.sub(app, acc, func(s *engine.Subscription) {
		s.State, s.DisabledReason, s.FailingSince = engine.SubscriptionDisabled, "by hand", ptr(cutoff.Add(-time.Hour))
	})
	pending := h.sub(app, acc, func(s *engine.Subscription) {
		s.State, s.FailingSince = engine.SubscriptionPending, ptr(cutoff.Add(-time.Hour))
	})

	ids, err := h.s.DisableFailing(h.ctx, engine.DisableFailingParams{FailingSince: cutoff, Now: base, Reason: "failing for 5 days"})
	if err != nil {
		t.Fatalf("DisableFailing: %v", err)
	}
	wantIDs(t, "disabled", sorted(ids), sorted([]string{old.ID, old2.ID}))
	for _, s := range []*engine.Subscription{old, old2} {
		got := h.subscription(s.ID)
		if got.State != engine.SubscriptionDisabled || got.DisabledReason != "failing for 5 days" {
			t.Errorf("%s: state %s, reason %q; want disabled, failing for 5 days", s.ID, got.State, got.DisabledReason)
		}
		wantTime(t, "UpdatedAt", got.UpdatedAt, base)
	}
	for _, s := range []*engine.Subscription{recent, atCutoff, healthy, pending} {
		if got := h.subscription(s.ID); got.State != s.State {
			t.Errorf("%s: state %s; want it left %s", s.ID, got.State, s.State)
		}
	}
	if got := h.subscription(already.ID); got.DisabledReason != "by hand" {
		t.Errorf("already disabled: reason %q; want it kept", got.DisabledReason)
	}
	ids, err = h.s.DisableFailing(h.ctx, engine.DisableFailingParams{FailingSince: cutoff, Now: base, Reason: "again"})
	if err != nil || len(ids) != 0 {
		t.Errorf("DisableFailing again = %v, %v; want nothing", ids, err)
	}
}

// testSubscriptionVersion: an update based on a stale read is refused, so it cannot undo a write
// it did not see, such as the engine disabling the subscription meanwhile.
func testSubscriptionVersion(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc := h.app(), h.account()
	sub := h.sub(app, acc, func(s *engine.Subscription) { s.FailingSince = ptr(at(-48 * time.Hour)) })
	read := h.subscription(sub.ID)
	if read.Version != 0 {
		t.Fatalf("new subscription has version %d; want 0", read.Version)
	}
	ids, err := h.s.DisableFailing(h.ctx, engine.DisableFailingParams{FailingSince: at(-time.Hour), Now: base, Reason: "failing"})
	if err != nil || len(ids) != 1 {
		t.Fatalf("DisableFailing = %v, %v", ids, err)
	}
	stale := *read
	stale.URL = "https://changed.example/"
	wantErr(t, "UpdateSubscription(stale)", h.s.UpdateSubscription(h.ctx, &stale), engine.ErrConflict)
	fresh := h.subscription(sub.ID)
	if fresh.State != engine.SubscriptionDisabled || fresh.URL == stale.URL || fresh.Version == read.Version {
		t.Fatalf("after a refused stale update: %s %s version %d", fresh.State, fresh.URL, fresh.Version)
	}
	fresh.URL = stale.URL
	if err := h.s.UpdateSubscription(h.ctx, fresh); err != nil {
		t.Fatalf("UpdateSubscription(fresh): %v", err)
	}
	if got := h.subscription(sub.ID); got.Version != fresh.Version || got.URL != stale.URL {
		t.Errorf("stored version %d, caller's %d, url %s", got.Version, fresh.Version, got.URL)
	}
}

func testGrants(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, other, acc, acc2 := h.app(), h.app(), h.account(), h.account()
	g := &engine.Grant{ID: engine.NewID("grt"), AppID: app.ID, AccountID: acc.ID, Events: []string{"client.*", "invoice.create"}, CreatedAt: base}
	if err := h.s.CreateGrant(h.ctx, g); err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	got, err := h.s.GetGrant(h.ctx, app.ID, acc.ID)
	if err != nil {
		t.Fatalf("GetGrant: %v", err)
	}
	wantSame(t, "GetGrant", got, g)
	_, err = h.s.GetGrant(h.ctx, app.ID, acc2.ID)
	wantErr(t, "GetGrant(another account)", err, engine.ErrNotFound)
	_, err = h.s.GetGrant(h.ctx, other.ID, acc.ID)
	wantErr(t, "GetGrant(another app)", err, engine.ErrNotFound)
	err = h.s.CreateGrant(h.ctx, &engine.Grant{ID: engine.NewID("grt"), AppID: app.ID, AccountID: acc.ID, Events: []string{"*"}, CreatedAt: base})
	wantErr(t, "CreateGrant(a second live one)", err, engine.ErrConflict)
	g2 := &engine.Grant{ID: engine.NewID("grt"), AppID: other.ID, AccountID: acc.ID, Events: []string{"*"}, CreatedAt: base}
	if err := h.s.CreateGrant(h.ctx, g2); err != nil {
		t.Fatalf("CreateGrant(another app): %v", err)
	}
	list, err := h.s.ListGrants(h.ctx, acc.ID, engine.Page{Limit: 10})
	if err != nil {
		t.Fatalf("ListGrants: %v", err)
	}
	if len(list) != 2 || list[0].ID != g.ID || list[1].ID != g2.ID {
		t.Errorf("ListGrants: %+v; want %s, %s", list, g.ID, g2.ID)
	}
	if list, _ := h.s.ListGrants(h.ctx, acc.ID, engine.Page{After: g.ID, Limit: 10}); len(list) != 1 || list[0].ID != g2.ID {
		t.Errorf("ListGrants(after the first): %+v", list)
	}
	if list, _ := h.s.ListGrants(h.ctx, acc2.ID, engine.Page{Limit: 10}); len(list) != 0 {
		t.Errorf("ListGrants(an account without grants): %+v", list)
	}
}

func testRevokeGrant(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, other, acc, acc2 := h.app(), h.app(), h.account(), h.account()
	g := &engine.Grant{ID: engine.NewID("grt"), AppID: app.ID, AccountID: acc.ID, Events: []string{"*"}, CreatedAt: base}
	if err := h.s.CreateGrant(h.ctx, g); err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	unbound := h.credential(app)
	bound := h.credential(app, func(c *engine.Credential) { c.AccountID = acc.ID })
	byUnbound := h.sub(app, acc, func(s *engine.Subscription) { s.CredentialID = unbound.ID })
	byOperator := h.sub(app, acc)
	pending := h.sub(app, acc, func(s *engine.Subscription) {
		s.State = engine.SubscriptionPending
		s.ConfirmTokenHash = engine.NewID("tok")
	})
	byBound := h.sub(app, acc, func(s *engine.Subscription) { s.CredentialID = bound.ID })
	elsewhere := h.sub(app, acc2)
	theirs := h.sub(other, acc)

	_, _, err := h.s.RevokeGrant(h.ctx, engine.RevokeGrantParams{ID: g.ID, AccountID: acc2.ID, At: at(time.Hour), Reason: "r"})
	wantErr(t, "RevokeGrant(through another account)", err, engine.ErrNotFound)
	revoked, disabled, err := h.s.RevokeGrant(h.ctx, engine.RevokeGrantParams{ID: g.ID, AccountID: acc.ID, At: at(time.Hour), Reason: "grant revoked"})
	if err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}
	wantTimePtr(t, "RevokedAt", revoked.RevokedAt, ptr(at(time.Hour)))
	wantIDs(t, "disabled", disabled, sorted([]string{byUnbound.ID, byOperator.ID, pending.ID}))
	for _, s := range []*engine.Subscription{byUnbound, byOperator, pending} {
		got := h.subscription(s.ID)
		if got.State != engine.SubscriptionDisabled || got.DisabledReason != "grant revoked" || got.Version != s.Version+1 {
			t.Errorf("subscription %s: %s %q version %d; want disabled, the reason, version %d", s.ID, got.State, got.DisabledReason, got.Version, s.Version+1)
		}
	}
	for _, s := range []*engine.Subscription{byBound, elsewhere, theirs} {
		if got := h.subscription(s.ID); got.State != s.State {
			t.Errorf("subscription %s: %s; want it left %s", s.ID, got.State, s.State)
		}
	}
	_, err = h.s.GetGrant(h.ctx, app.ID, acc.ID)
	wantErr(t, "GetGrant(revoked)", err, engine.ErrNotFound)
	_, _, err = h.s.RevokeGrant(h.ctx, engine.RevokeGrantParams{ID: g.ID, AccountID: acc.ID, At: at(2 * time.Hour), Reason: "again"})
	wantErr(t, "RevokeGrant(twice)", err, engine.ErrConflict)

	// A subscription allowed by the revoked grant is not stored; a new grant allows again.
	late := newSubscription(app, acc)
	err = h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: late, GrantID: g.ID})
	wantErr(t, "CreateSubscription(by a revoked grant)", err, engine.ErrForbidden)
	_, err = h.s.GetSubscription(h.ctx, late.ID)
	wantErr(t, "GetSubscription(refused)", err, engine.ErrNotFound)
	g3 := &engine.Grant{ID: engine.NewID("grt"), AppID: app.ID, AccountID: acc.ID, Events: []string{"client.*"}, CreatedAt: at(3 * time.Hour)}
	if err := h.s.CreateGrant(h.ctx, g3); err != nil {
		t.Fatalf("CreateGrant(after revoking): %v", err)
	}
	if err := h.s.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: late, GrantID: g3.ID}); err != nil {
		t.Fatalf("CreateSubscription(by a live grant): %v", err)
	}
	if list, _ := h.s.ListGrants(h.ctx, acc.ID, engine.Page{Limit: 10}); len(list) != 2 || list[0].RevokedAt == nil || list[1].RevokedAt != nil {
		t.Errorf("ListGrants: %+v; want the revoked one and the new one", list)
	}
}

func testListDeliveriesGranted(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, acc, acc2 := h.app(), h.account(), h.account()
	g := &engine.Grant{ID: engine.NewID("grt"), AppID: app.ID, AccountID: acc.ID, Events: []string{"*"}, CreatedAt: base}
	if err := h.s.CreateGrant(h.ctx, g); err != nil {
		t.Fatalf("CreateGrant: %v", err)
	}
	in := h.deliver(h.sub(app, acc), base)
	h.deliver(h.sub(app, acc2), base)
	list := func() []string {
		ds, err := h.s.ListDeliveries(h.ctx, engine.DeliveryFilter{AppID: app.ID, Granted: true, Limit: 10})
		if err != nil {
			t.Fatalf("ListDeliveries: %v", err)
		}
		return deliveryIDs(ds)
	}
	wantIDs(t, "granted deliveries", list(), []string{in.ID})
	if _, _, err := h.s.RevokeGrant(h.ctx, engine.RevokeGrantParams{ID: g.ID, AccountID: acc.ID, At: base, Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "granted deliveries after the revocation", list(), nil)
}
