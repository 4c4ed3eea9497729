// Package storetest is the behaviour every driver of the Altoviz style's store must have, as one
// suite a driver runs against a real database (plugins/altoviz/store/sqlite runs it on a file).
package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/altoviz/store"
)

var base = time.Date(2031, time.March, 4, 5, 6, 7, 8_000_000, time.UTC)

type harness struct {
	t   *testing.T
	ctx context.Context
	// e is the engine's store, which owns the accounts, apps and subscriptions webhooks hang on;
	// s, the style's store under test, on the same database.
	e engine.Store
	s store.Store
}

func (h *harness) owner() (*engine.App, *engine.Account) {
	h.t.Helper()
	acc := &engine.Account{ID: engine.NewID("acc"), Name: "Company", CreatedAt: base}
	if err := h.e.CreateAccount(h.ctx, acc); err != nil {
		h.t.Fatalf("CreateAccount: %v", err)
	}
	return h.app(), acc
}

func (h *harness) app() *engine.App {
	h.t.Helper()
	app := &engine.App{ID: engine.NewID("app"), Name: "Integrator", Secret: "s", CreatedAt: base}
	if err := h.e.CreateApp(h.ctx, app); err != nil {
		h.t.Fatalf("CreateApp: %v", err)
	}
	return app
}

// webhook stores a subscription to url and a webhook over it; it returns the webhook and the
// error of CreateWebhook (the subscription is stored either way).
func (h *harness) webhook(app *engine.App, acc *engine.Account, url, name string, max int) (*store.Webhook, error) {
	h.t.Helper()
	w := h.unstored(app, acc, url, name)
	err := h.s.CreateWebhook(h.ctx, store.CreateWebhookParams{Webhook: w, URL: url, Max: max})
	return w, err
}

// unstored stores a subscription to url and returns a webhook over it, not yet stored.
func (h *harness) unstored(app *engine.App, acc *engine.Account, url, name string) *store.Webhook {
	h.t.Helper()
	sub := &engine.Subscription{
		ID: engine.NewID("sub"), AppID: app.ID, AccountID: acc.ID, Format: "altoviz",
		Events: []string{"client.create"}, URL: url, State: engine.SubscriptionActive, CreatedAt: base, UpdatedAt: base,
	}
	if err := h.e.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: sub}); err != nil {
		h.t.Fatalf("CreateSubscription: %v", err)
	}
	return &store.Webhook{SubscriptionID: sub.ID, AppID: app.ID, AccountID: acc.ID, Name: name, CreatedAt: base}
}

// race runs CreateWebhook for every webhook at once and returns their errors, in order.
func (h *harness) race(ws []*store.Webhook, urls []string, max int) []error {
	errs := make([]error, len(ws))
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range ws {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = h.s.CreateWebhook(h.ctx, store.CreateWebhookParams{Webhook: ws[i], URL: urls[i], Max: max})
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

func (h *harness) mustWebhook(app *engine.App, acc *engine.Account, url, name string) *store.Webhook {
	h.t.Helper()
	w, err := h.webhook(app, acc, url, name, 0)
	if err != nil {
		h.t.Fatalf("CreateWebhook: %v", err)
	}
	return w
}

func (h *harness) list(app *engine.App, acc *engine.Account) []int64 {
	h.t.Helper()
	ws, err := h.s.ListWebhooks(h.ctx, app.ID, acc.ID)
	if err != nil {
		h.t.Fatalf("ListWebhooks: %v", err)
	}
	ids := []int64{}
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	return ids
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Run runs the suite. open returns, for each subtest, a fresh and empty database as two stores on
// it: the engine's, for the subscriptions a webhook needs, and the driver's store under test.
func Run(t *testing.T, open func(t *testing.T) (engine.Store, store.Store)) {
	setup := func(t *testing.T) *harness {
		t.Parallel()
		e, s := open(t)
		return &harness{t: t, ctx: context.Background(), e: e, s: s}
	}

	t.Run("CreateAssignsIDsThatAreNeverReused", func(t *testing.T) {
		h := setup(t)
		app, acc := h.owner()
		a := h.mustWebhook(app, acc, "https://a.example/hook", "A")
		b := h.mustWebhook(app, acc, "https://b.example/hook", "B")
		if a.ID <= 0 || b.ID <= a.ID {
			t.Fatalf("ids %d, %d: want positive and increasing", a.ID, b.ID)
		}
		if err := h.e.DeleteSubscription(h.ctx, b.SubscriptionID); err != nil {
			t.Fatal(err)
		}
		c := h.mustWebhook(app, acc, "https://c.example/hook", "C")
		if c.ID <= b.ID {
			t.Errorf("a new webhook got id %d after %d was removed: ids must not be reused", c.ID, b.ID)
		}
		got, err := h.s.FindWebhook(h.ctx, store.WebhookQuery{AppID: app.ID, AccountID: acc.ID, ID: c.ID})
		if err != nil || got.Name != "C" || got.SubscriptionID != c.SubscriptionID || !got.CreatedAt.Equal(base) {
			t.Errorf("found %+v, %v", got, err)
		}
	})

	t.Run("DeletingTheSubscriptionDeletesTheWebhook", func(t *testing.T) {
		h := setup(t)
		app, acc := h.owner()
		a := h.mustWebhook(app, acc, "https://a.example/hook", "A")
		b := h.mustWebhook(app, acc, "https://b.example/hook", "B")
		if err := h.e.DeleteSubscription(h.ctx, a.SubscriptionID); err != nil {
			t.Fatal(err)
		}
		if ids := h.list(app, acc); !equal(ids, []int64{b.ID}) {
			t.Errorf("webhooks %v after deleting %d's subscription, want [%d]", ids, a.ID, b.ID)
		}
		_, err := h.s.FindWebhook(h.ctx, store.WebhookQuery{AppID: app.ID, AccountID: acc.ID, ID: a.ID})
		if !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("find a deleted webhook: %v, want ErrNotFound", err)
		}
	})

	t.Run("ListAndFindSeeOnlyTheOwnersWebhooks", func(t *testing.T) {
		h := setup(t)
		app, acc := h.owner()
		otherApp := h.app()
		_, otherAcc := h.owner()
		mine := h.mustWebhook(app, acc, "https://shared.example/hook", "mine")
		theirs := h.mustWebhook(otherApp, acc, "https://shared.example/hook", "another app, same company")
		elsewhere := h.mustWebhook(app, otherAcc, "https://shared.example/hook", "same app, another company")
		if ids := h.list(app, acc); !equal(ids, []int64{mine.ID}) {
			t.Errorf("owner sees %v, want [%d]", ids, mine.ID)
		}
		if ids := h.list(otherApp, acc); !equal(ids, []int64{theirs.ID}) {
			t.Errorf("other app sees %v, want [%d]", ids, theirs.ID)
		}
		if ids := h.list(app, otherAcc); !equal(ids, []int64{elsewhere.ID}) {
			t.Errorf("other account sees %v, want [%d]", ids, elsewhere.ID)
		}
		for _, q := range []store.WebhookQuery{
			{AppID: otherApp.ID, AccountID: acc.ID, ID: mine.ID},
			{AppID: app.ID, AccountID: otherAcc.ID, ID: mine.ID},
			{AppID: app.ID, AccountID: acc.ID, ID: theirs.ID},
		} {
			if w, err := h.s.FindWebhook(h.ctx, q); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("%+v found %+v, %v; want ErrNotFound", q, w, err)
			}
		}
		w, err := h.s.FindWebhook(h.ctx, store.WebhookQuery{AppID: app.ID, AccountID: acc.ID, URL: "https://shared.example/hook"})
		if err != nil || w.ID != mine.ID {
			t.Errorf("find by url: %+v, %v; want %d", w, err, mine.ID)
		}
	})

	t.Run("FindByIDAndURL", func(t *testing.T) {
		h := setup(t)
		app, acc := h.owner()
		a := h.mustWebhook(app, acc, "https://a.example/hook?x=1", "A")
		b := h.mustWebhook(app, acc, "https://b.example/hook", "B")
		q := store.WebhookQuery{AppID: app.ID, AccountID: acc.ID}
		for _, c := range []struct {
			id   int64
			url  string
			want int64
		}{
			{id: a.ID, want: a.ID},
			{url: "https://b.example/hook", want: b.ID},
			{id: a.ID, url: "https://a.example/hook?x=1", want: a.ID},
			{id: a.ID, url: "https://b.example/hook"},
			{url: "https://a.example/hook"},
			{url: "HTTPS://B.EXAMPLE/HOOK"},
			{id: b.ID + 100},
		} {
			q.ID, q.URL = c.id, c.url
			w, err := h.s.FindWebhook(h.ctx, q)
			switch {
			case c.want == 0 && !errors.Is(err, engine.ErrNotFound):
				t.Errorf("id %d url %q: found %+v, %v; want ErrNotFound", c.id, c.url, w, err)
			case c.want != 0 && (err != nil || w.ID != c.want):
				t.Errorf("id %d url %q: found %+v, %v; want %d", c.id, c.url, w, err, c.want)
			}
		}
	})

	t.Run("FindsByTheSubscriptionsCurrentURL", func(t *testing.T) {
		h := setup(t)
		app, acc := h.owner()
		a := h.mustWebhook(app, acc, "https://old.example/hook", "A")
		sub, err := h.e.GetSubscription(h.ctx, a.SubscriptionID)
		if err != nil {
			t.Fatal(err)
		}
		sub.URL = "https://new.example/hook"
		if err := h.e.UpdateSubscription(h.ctx, sub); err != nil {
			t.Fatal(err)
		}
		q := store.WebhookQuery{AppID: app.ID, AccountID: acc.ID, URL: "https://new.example/hook"}
		if w, err := h.s.FindWebhook(h.ctx, q); err != nil || w.ID != a.ID {
			t.Errorf("find by the new url: %+v, %v", w, err)
		}
		q.URL = "https://old.example/hook"
		if _, err := h.s.FindWebhook(h.ctx, q); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("find by the old url: %v, want ErrNotFound", err)
		}
		// The old URL is free again.
		if _, err := h.webhook(app, acc, "https://old.example/hook", "B", 0); err != nil {
			t.Errorf("register the freed url: %v", err)
		}
	})

	t.Run("RefusesASecondWebhookForOneURL", func(t *testing.T) {
		h := setup(t)
		app, acc := h.owner()
		a := h.mustWebhook(app, acc, "https://a.example/hook", "A")
		_, err := h.webhook(app, acc, "https://a.example/hook", "again", 0)
		if !errors.Is(err, store.ErrURLTaken) || !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("second webhook for one url: %v, want ErrURLTaken", err)
		}
		if ids := h.list(app, acc); !equal(ids, []int64{a.ID}) {
			t.Errorf("webhooks %v after the refusal, want [%d]", ids, a.ID)
		}
	})

	t.Run("RefusesMoreThanMax", func(t *testing.T) {
		h := setup(t)
		app, acc := h.owner()
		for _, u := range []string{"https://a.example", "https://b.example"} {
			if _, err := h.webhook(app, acc, u, "", 2); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.webhook(app, acc, "https://c.example", "", 2); !errors.Is(err, store.ErrTooMany) {
			t.Fatalf("third webhook with max 2: %v, want ErrTooMany", err)
		}
		// The limit is per owner.
		_, otherAcc := h.owner()
		if _, err := h.webhook(app, otherAcc, "https://c.example", "", 2); err != nil {
			t.Errorf("another company's first webhook: %v", err)
		}
		if n := len(h.list(app, acc)); n != 2 {
			t.Errorf("%d webhooks, want 2", n)
		}
	})

	// The checks hold when registrations race (as they do on a driver that writes on many
	// connections at once): one webhook per URL, and no more than Max, whatever the interleaving.
	// Several rounds, each with an owner of its own: the first may open the driver's connections
	// one by one, and so run the racers one after the other; the later ones race on open ones.
	const rounds, racers = 5, 8
	t.Run("RacingRegistrationsForOneURL", func(t *testing.T) {
		h := setup(t)
		for round := range rounds {
			app, acc := h.owner()
			ws, urls := make([]*store.Webhook, racers), make([]string, racers)
			for i := range ws {
				urls[i] = "https://same.example/hook"
				ws[i] = h.unstored(app, acc, urls[i], "racer")
			}
			ok := 0
			for i, err := range h.race(ws, urls, 0) {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, store.ErrURLTaken):
					t.Errorf("round %d, racer %d: %v, want nil or ErrURLTaken", round, i, err)
				}
			}
			if ids := h.list(app, acc); ok != 1 || len(ids) != 1 {
				t.Errorf("round %d: %d racers for one url succeeded, %d webhooks stored; want 1 and 1", round, ok, len(ids))
			}
		}
	})

	t.Run("RacingRegistrationsOverMax", func(t *testing.T) {
		h := setup(t)
		const max = 3
		for round := range rounds {
			app, acc := h.owner()
			ws, urls := make([]*store.Webhook, racers), make([]string, racers)
			for i := range ws {
				urls[i] = "https://" + string(rune('a'+i)) + ".example/hook"
				ws[i] = h.unstored(app, acc, urls[i], "racer")
			}
			ok := 0
			for i, err := range h.race(ws, urls, max) {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, store.ErrTooMany):
					t.Errorf("round %d, racer %d: %v, want nil or ErrTooMany", round, i, err)
				}
			}
			if ids := h.list(app, acc); ok != max || len(ids) != max {
				t.Errorf("round %d: %d racers succeeded, %d webhooks stored; want %d and %d", round, ok, len(ids), max, max)
			}
		}
	})

	t.Run("CreateWebhookTakesTheAdoptedOne", func(t *testing.T) {
		// A registration's subscription given a webhook by another request (adopt) before its
		// own CreateWebhook: the registration keeps that id and names it; the url stays taken for
		// any other subscription.
		h := setup(t)
		app, acc := h.owner()
		w := h.unstored(app, acc, "https://race.example", "Named")
		sub, err := h.e.GetSubscription(h.ctx, w.SubscriptionID)
		if err != nil {
			t.Fatal(err)
		}
		adopted, err := h.s.WebhookOf(h.ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.s.CreateWebhook(h.ctx, store.CreateWebhookParams{Webhook: w, URL: sub.URL, Max: 1}); err != nil || w.ID != adopted.ID {
			t.Fatalf("CreateWebhook over its adopted webhook %d: id %d, %v; want the adopted id", adopted.ID, w.ID, err)
		}
		got, err := h.s.FindWebhook(h.ctx, store.WebhookQuery{AppID: app.ID, AccountID: acc.ID, ID: adopted.ID})
		if err != nil || got.Name != "Named" {
			t.Errorf("the adopted webhook after registration: %+v, %v; want it named Named", got, err)
		}
		if ids := h.list(app, acc); !equal(ids, []int64{adopted.ID}) {
			t.Errorf("list %v, want [%d]", ids, adopted.ID)
		}
		if _, err := h.webhook(app, acc, "https://race.example", "Other", 0); !errors.Is(err, store.ErrURLTaken) {
			t.Errorf("another registration of the url: %v; want ErrURLTaken", err)
		}
	})

	t.Run("WebhookOfGivesASubscriptionWithoutOneAnIDOnce", func(t *testing.T) {
		h := setup(t)
		app, acc := h.owner()
		a := h.mustWebhook(app, acc, "https://a.example/hook", "A")
		// A subscription made through the native API: no webhook yet.
		sub := &engine.Subscription{
			ID: engine.NewID("sub"), AppID: app.ID, AccountID: acc.ID, Format: "altoviz",
			Events: []string{"client.create"}, URL: "https://native.example", State: engine.SubscriptionActive,
			CreatedAt: base.Add(time.Hour), UpdatedAt: base,
		}
		if err := h.e.CreateSubscription(h.ctx, engine.CreateSubscriptionParams{Subscription: sub}); err != nil {
			t.Fatal(err)
		}
		first, err := h.s.WebhookOf(h.ctx, sub)
		if err != nil || first.ID <= a.ID || first.SubscriptionID != sub.ID || first.AppID != app.ID ||
			first.AccountID != acc.ID || first.Name != "" || !first.CreatedAt.Equal(sub.CreatedAt) {
			t.Fatalf("WebhookOf a native subscription: %+v, %v (the registered one is %d)", first, err, a.ID)
		}
		again, err := h.s.WebhookOf(h.ctx, sub)
		if err != nil || again.ID != first.ID {
			t.Errorf("WebhookOf again: %+v, %v; want id %d", again, err, first.ID)
		}
		if ids := h.list(app, acc); !equal(ids, []int64{a.ID, first.ID}) {
			t.Errorf("list %v, want [%d %d]", ids, a.ID, first.ID)
		}
		found, err := h.s.FindWebhook(h.ctx, store.WebhookQuery{AppID: app.ID, AccountID: acc.ID, URL: "https://native.example"})
		if err != nil || found.ID != first.ID {
			t.Errorf("find by url: %+v, %v", found, err)
		}
		// A registered webhook's is the one registered.
		aSub, err := h.e.GetSubscription(h.ctx, a.SubscriptionID)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := h.s.WebhookOf(h.ctx, aSub); err != nil || got.ID != a.ID || got.Name != "A" {
			t.Errorf("WebhookOf a registered one: %+v, %v; want %d", got, err, a.ID)
		}
		if err := h.e.DeleteSubscription(h.ctx, sub.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := h.s.WebhookOf(h.ctx, sub); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("WebhookOf a deleted subscription: %v, want ErrNotFound", err)
		}
	})

	t.Run("ListIsEmptyNotNil", func(t *testing.T) {
		h := setup(t)
		app, acc := h.owner()
		ws, err := h.s.ListWebhooks(h.ctx, app.ID, acc.ID)
		if err != nil || ws == nil || len(ws) != 0 {
			t.Errorf("list of nothing: %#v, %v", ws, err)
		}
	})
}
