// Package storetest is the contract suite of the Upsales style's store: what any implementation of
// store.Store must do, whatever the database. A driver runs it from its own tests with Run.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/plugins/upsales/store"
)

// Run runs the suite. open returns an empty store of its own for each test, which the suite runs
// in parallel; open closes it in t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, c := range []struct {
		name string
		test func(*testing.T, store.Store)
	}{
		{"PrepareRecordsOnce", testPrepareRecordsOnce},
		{"ApplyCallback", testApplyCallback},
		{"ApplyByLogID", testApplyByLogID},
		{"UserAppDataAndRecipients", testUserAppDataAndRecipients},
		{"CallbackRace", testCallbackRace},
		{"ConcurrentMerges", testConcurrentMerges},
		{"RefuseCallback", testRefuseCallback},
		{"ListsAndRetention", testListsAndRetention},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t, open(t))
		})
	}
}

// testRefuseCallback: a refusal is written on the entry and survives reads, and leaves the callback
// open for one that applies.
func testRefuseCallback(t *testing.T, s store.Store) {
	ctx := context.Background()
	e := prepare(t, s, entry("dlv_r", "7", false), t0).Entry
	got, err := s.RefuseCallback(ctx, "dlv_r", "callback not applied: 102400 bytes", t0.Add(time.Second))
	if err != nil || got.ID != e.ID || got.CallbackError != "callback not applied: 102400 bytes" || got.Callback != store.CallbackOpen ||
		got.Status != nil || !got.UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("RefuseCallback: %+v, %v", got, err)
	}
	if read, err := s.GetLogEntry(ctx, e.ID); err != nil || read.CallbackError != got.CallbackError {
		t.Errorf("GetLogEntry after a refusal: %+v, %v", read, err)
	}
	if _, err := apply(s, "tok_dlv_r", "", &store.Callback{Status: 1}, t0.Add(time.Minute)); err != nil {
		t.Errorf("a callback after a refusal: %v", err)
	}
	if _, err := s.RefuseCallback(ctx, "dlv_missing", "x", t0); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("RefuseCallback of an unknown delivery: %v, want ErrNotFound", err)
	}
}

// t0 is the suite's clock: fixed, so that expiry and retention are exact.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func entry(delivery, user string, configurable bool) *store.LogEntry {
	return &store.LogEntry{
		ID: engine.NewID("log"), DeliveryID: delivery, AppID: "app_1", AccountID: "acc_1", SubscriptionID: "sub_1",
		EventID: "evt_" + delivery, EventType: "client.create", Trigger: "clientinsert", EntityID: "42", UserID: user,
		BaseURL: "http://127.0.0.1:1/app", UserConfigurable: configurable, TokenHash: "tok_" + delivery,
	}
}

func prepare(t *testing.T, s store.Store, e *store.LogEntry, now time.Time) *store.Prepared {
	t.Helper()
	var user *engine.User
	if e.UserID != "" {
		user = &engine.User{ID: e.UserID, Name: "User " + e.UserID}
	}
	p, err := s.PrepareRequest(context.Background(), store.PrepareParams{Entry: e, ExpiresAt: now.Add(time.Hour), User: user, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var idSeq struct {
	sync.Mutex
	n int
}

func newNotificationID() string {
	idSeq.Lock()
	defer idSeq.Unlock()
	idSeq.n++
	return fmt.Sprintf("ntf_%06d", idSeq.n)
}

func apply(s store.Store, token, delivery string, cb *store.Callback, now time.Time) (*store.Applied, error) {
	return s.ApplyCallback(context.Background(), store.ApplyParams{TokenHash: token, DeliveryID: delivery, Callback: cb, Now: now,
		NewID: newNotificationID})
}

func str(s string) *string { return &s }

func testPrepareRecordsOnce(t *testing.T, s store.Store) {
	first := prepare(t, s, entry("dlv_1", "7", true), t0)
	if first.Entry.Callback != store.CallbackOpen || first.Entry.Status != nil || first.AppData != nil || first.UserAppData != nil {
		t.Fatalf("first prepare: %+v", first)
	}
	// A retry: another entry is offered, the stored one is returned, its callback open an hour
	// from the retry.
	again := prepare(t, s, entry("dlv_1", "7", true), t0.Add(30*time.Minute))
	if again.Entry.ID != first.Entry.ID || again.Entry.TokenHash != "tok_dlv_1" || !again.Entry.CallbackExpiresAt.Equal(t0.Add(90*time.Minute)) {
		t.Fatalf("retry: %+v", again.Entry)
	}
	if n, err := s.ExpireCallbacks(context.Background(), t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("ExpireCallbacks = %d, %v", n, err)
	}
	e, _ := s.GetLogEntry(context.Background(), first.Entry.ID)
	if e.Callback != store.CallbackExpired {
		t.Fatalf("after expiry: %s", e.Callback)
	}
	// Another retry reopens an expired, unused callback.
	reopened := prepare(t, s, entry("dlv_1", "7", true), t0.Add(3*time.Hour))
	if reopened.Entry.Callback != store.CallbackOpen {
		t.Fatalf("retry after expiry: %s", reopened.Entry.Callback)
	}
}

// testApplyByLogID: a callback URL whose token the style derived names its request by log entry;
// it spends the callback like any other, once, and an unknown entry is not found.
func testApplyByLogID(t *testing.T, s store.Store) {
	e := prepare(t, s, entry("dlv_id", "7", true), t0).Entry
	at := func(id string) error {
		_, err := s.ApplyCallback(context.Background(), store.ApplyParams{LogID: id, Callback: &store.Callback{Status: 3}, Now: t0.Add(time.Minute),
			NewID: newNotificationID})
		return err
	}
	if err := at(e.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetLogEntry(context.Background(), e.ID); got.Callback != store.CallbackDeferred || got.Status == nil || *got.Status != 3 {
		t.Errorf("after the callback by log ID: %+v", got)
	}
	if err := at(e.ID); !errors.Is(err, store.ErrCallbackUsed) {
		t.Errorf("a second callback by log ID: %v, want ErrCallbackUsed", err)
	}
	if err := at("log_missing"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("an unknown log ID: %v, want ErrNotFound", err)
	}
}

func testApplyCallback(t *testing.T, s store.Store) {
	ctx := context.Background()
	prepare(t, s, entry("dlv_a", "7", true), t0)
	prepare(t, s, entry("dlv_b", "8", false), t0) // user 8 becomes known to the account
	e := prepare(t, s, entry("dlv_c", "9", true), t0).Entry

	applied, err := apply(s, "tok_dlv_c", "", &store.Callback{Status: 2, Message: str("Synced"), AppData: json.RawMessage(`{"externalId":"abc","n":1}`),
		UserAppData: json.RawMessage(`{"mine":true}`), Notify: "Hello"}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got := applied.Entry; got.ID != e.ID || got.Callback != store.CallbackDeferred || got.Status == nil || *got.Status != 2 || got.Message != "Synced" || got.CallbackAt == nil {
		t.Errorf("entry after callback: %+v", got)
	}
	if len(applied.Notifications) != 1 || applied.Notifications[0].UserID != "9" || applied.Notifications[0].LogID != e.ID || len(applied.Ignored) != 0 {
		t.Errorf("applied %+v %+v", applied.Notifications, applied.Ignored)
	}
	if d, _ := s.GetAppData(ctx, "app_1", "acc_1", ""); string(d) != `{"externalId":"abc","n":1}` {
		t.Errorf("appData %s", d)
	}
	if d, _ := s.GetAppData(ctx, "app_1", "acc_1", "9"); string(d) != `{"mine":true}` {
		t.Errorf("userAppData %s", d)
	}

	// The next request carries what was saved; a later callback merges into it.
	p := prepare(t, s, entry("dlv_d", "9", true), t0.Add(2*time.Minute))
	if string(p.AppData) != `{"externalId":"abc","n":1}` || string(p.UserAppData) != `{"mine":true}` {
		t.Errorf("next request's data: %s %s", p.AppData, p.UserAppData)
	}
	if _, err := apply(s, "", "dlv_d", &store.Callback{Status: 1, AppData: json.RawMessage(`{"n":null,"more":[1]}`)}, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.GetAppData(ctx, "app_1", "acc_1", ""); string(d) != `{"externalId":"abc","more":[1]}` {
		t.Errorf("merged appData %s", d)
	}

	// Spent, twice over; unknown; expired.
	for _, c := range []struct {
		name            string
		token, delivery string
		at              time.Time
		want            error
	}{
		{"second post", "tok_dlv_c", "", t0.Add(4 * time.Minute), store.ErrCallbackUsed},
		{"sync after post", "", "dlv_c", t0.Add(4 * time.Minute), store.ErrCallbackUsed},
		{"post after sync", "tok_dlv_d", "", t0.Add(4 * time.Minute), store.ErrCallbackUsed},
		{"unknown token", "tok_nobody", "", t0.Add(4 * time.Minute), engine.ErrNotFound},
		{"expired", "tok_dlv_a", "", t0.Add(2 * time.Hour), store.ErrCallbackExpired},
	} {
		_, err := apply(s, c.token, c.delivery, &store.Callback{Status: 5, Message: str("late"), Notify: "again"}, c.at)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Nothing the refused callbacks carried was written.
	if got, _ := s.GetLogEntry(ctx, e.ID); *got.Status != 2 || got.Message != "Synced" {
		t.Errorf("a refused callback changed the entry: %+v", got)
	}
	if n, _ := s.ListNotifications(ctx, store.NotificationFilter{}); len(n) != 1 {
		t.Errorf("%d notifications, want 1", len(n))
	}
	// Saved app data is capped after merging: callbacks each under the cap cannot add up past it.
	// One that would is refused whole, its callback still open.
	chunk := func(key string) json.RawMessage {
		return json.RawMessage(`{"` + key + `":"` + strings.Repeat("x", store.MaxAppDataBytes*6/10) + `"}`)
	}
	prepare(t, s, entry("dlv_e", "9", true), t0.Add(5*time.Minute))
	prepare(t, s, entry("dlv_f", "9", true), t0.Add(5*time.Minute))
	if _, err := apply(s, "tok_dlv_e", "", &store.Callback{Status: 1, AppData: chunk("first")}, t0.Add(6*time.Minute)); err != nil {
		t.Fatal(err)
	}
	before, _ := s.GetAppData(ctx, "app_1", "acc_1", "")
	_, err = apply(s, "tok_dlv_f", "", &store.Callback{Status: 7, Notify: "grown", AppData: chunk("second")}, t0.Add(6*time.Minute))
	if !errors.Is(err, store.ErrAppDataTooLarge) || !errors.Is(err, engine.ErrInvalid) {
		t.Errorf("appData past the cap: %v, want ErrAppDataTooLarge and ErrInvalid", err)
	}
	if after, _ := s.GetAppData(ctx, "app_1", "acc_1", ""); string(after) != string(before) {
		t.Errorf("a refused callback changed the app data: %d bytes, was %d", len(after), len(before))
	}
	if _, err := apply(s, "tok_dlv_f", "", &store.Callback{Status: 1, AppData: json.RawMessage(`{"first":null,"second":"small"}`)}, t0.Add(7*time.Minute)); err != nil {
		t.Errorf("the callback after a refusal: %v", err)
	}
	if d, _ := s.GetAppData(ctx, "app_1", "acc_1", ""); string(d) != `{"externalId":"abc","more":[1],"second":"small"}` {
		t.Errorf("appData after removing a key %s", d)
	}
	// A synchronous answer is applied even when the URL's time has run out: the app answered in time.
	if _, err := apply(s, "", "dlv_a", &store.Callback{Status: 1}, t0.Add(2*time.Hour)); err != nil {
		t.Errorf("sync answer after expiry: %v", err)
	}
}

func testUserAppDataAndRecipients(t *testing.T, s store.Store) {
	ctx := context.Background()
	prepare(t, s, entry("dlv_1", "7", false), t0)
	prepare(t, s, entry("dlv_2", "8", false), t0)
	prepare(t, s, entry("dlv_3", "", false), t0)
	prepare(t, s, entry("dlv_4", "7", false), t0)

	// Not user-configurable: userAppData is ignored, the rest applies.
	a, err := apply(s, "tok_dlv_1", "", &store.Callback{Status: 1, UserAppData: json.RawMessage(`{"x":1}`), Notify: "n", NotifyAll: true}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Ignored) != 1 || a.Ignored[0] != "userAppData" {
		t.Errorf("ignored %v", a.Ignored)
	}
	if d, _ := s.GetAppData(ctx, "app_1", "acc_1", "7"); d != nil {
		t.Errorf("userAppData saved for an app that is not user-configurable: %s", d)
	}
	recipients := func(a *store.Applied) []string {
		var out []string
		for _, n := range a.Notifications {
			out = append(out, n.UserID)
		}
		return out
	}
	if got := fmt.Sprint(recipients(a)); got != "[7 8]" {
		t.Errorf("notifyAll went to %s, want every user the account's events named", got)
	}
	a, _ = apply(s, "tok_dlv_2", "", &store.Callback{Status: 1, Notify: "n", NotifyUserIDs: []string{"12", "13", "12"}}, t0)
	if got := fmt.Sprint(recipients(a)); got != "[12 13]" {
		t.Errorf("notifyUserIds went to %s", got)
	}
	a, _ = apply(s, "tok_dlv_3", "", &store.Callback{Status: 1, Notify: "n"}, t0)
	if len(a.Notifications) != 0 {
		t.Errorf("a request without a user notified %v", recipients(a))
	}
	a, _ = apply(s, "tok_dlv_4", "", &store.Callback{Status: 1, Notify: "n"}, t0)
	if got := fmt.Sprint(recipients(a)); got != "[7]" {
		t.Errorf("notify went to %s, want the user who started the run", got)
	}

	mine, _ := s.ListNotifications(ctx, store.NotificationFilter{UserID: "7"})
	if len(mine) != 2 || mine[0].ID < mine[1].ID {
		t.Errorf("user 7's notifications, newest first: %+v", mine)
	}
	if err := s.MarkNotificationOpened(ctx, mine[0].ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_ = s.MarkNotificationOpened(ctx, mine[0].ID, t0.Add(2*time.Hour))
	if n, _ := s.GetNotification(ctx, mine[0].ID); n.OpenedAt == nil || !n.OpenedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("opened_at %v, want the first opening", n.OpenedAt)
	}
	if err := s.MarkNotificationOpened(ctx, "ntf_nothing", t0); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("unknown notification: %v", err)
	}
}

// testCallbackRace: a synchronous answer and posts to the URL for the same request, all at
// once: exactly one applies.
func testCallbackRace(t *testing.T, s store.Store) {
	for round := range 20 {
		d := fmt.Sprintf("dlv_race%d", round)
		prepare(t, s, entry(d, "7", false), t0)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, used := 0, 0
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				token, delivery := "tok_"+d, ""
				if i%2 == 0 {
					token, delivery = "", d
				}
				_, err := apply(s, token, delivery, &store.Callback{Status: float64(i), Notify: "hi"}, t0.Add(time.Second))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, store.ErrCallbackUsed):
					used++
				default:
					t.Errorf("unexpected %v", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 || used != 5 {
			t.Fatalf("round %d: %d applied, %d refused; want 1 and 5", round, won, used)
		}
	}
	n, _ := s.ListNotifications(context.Background(), store.NotificationFilter{})
	if len(n) != 20 {
		t.Errorf("%d notifications, want one per request", len(n))
	}
}

// testConcurrentMerges: callbacks of different requests, all at once, each merge a key of their
// own into the same app data and user app data, none saved before: every key is kept.
func testConcurrentMerges(t *testing.T, s store.Store) {
	const n = 16
	for i := range n {
		prepare(t, s, entry(fmt.Sprintf("dlv_merge%d", i), "7", true), t0)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := fmt.Sprintf("dlv_merge%d", i)
			patch := json.RawMessage(fmt.Sprintf(`{"k%d":%d}`, i, i))
			if _, err := apply(s, "tok_"+d, "", &store.Callback{Status: 1, AppData: patch, UserAppData: patch}, t0.Add(time.Second)); err != nil {
				t.Errorf("callback %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for _, user := range []string{"", "7"} {
		data, err := s.GetAppData(context.Background(), "app_1", "acc_1", user)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]int
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("app data of user %q: %s: %v", user, data, err)
		}
		if len(got) != n {
			t.Errorf("app data of user %q kept %d keys of %d: %s", user, len(got), n, data)
		}
	}
}

func testListsAndRetention(t *testing.T, s store.Store) {
	ctx := context.Background()
	old := entry("dlv_old", "7", false)
	prepare(t, s, old, t0)
	fresh := entry("dlv_new", "7", false)
	fresh.AppID, fresh.AccountID = "app_2", "acc_2"
	prepare(t, s, fresh, t0.Add(80*24*time.Hour))
	if _, err := apply(s, "tok_dlv_old", "", &store.Callback{Status: 1, Notify: "n"}, t0); err != nil {
		t.Fatal(err)
	}

	all, _ := s.ListLogEntries(ctx, store.LogFilter{})
	byApp, _ := s.ListLogEntries(ctx, store.LogFilter{AppID: "app_2"})
	byAccount, _ := s.ListLogEntries(ctx, store.LogFilter{AccountID: "acc_1"})
	page, _ := s.ListLogEntries(ctx, store.LogFilter{Before: fresh.ID, Limit: 1})
	if len(all) != 2 || all[0].ID != fresh.ID || len(byApp) != 1 || byApp[0].ID != fresh.ID || len(byAccount) != 1 || byAccount[0].ID != old.ID || len(page) != 1 || page[0].ID != old.ID {
		t.Fatalf("lists: all %d, app %d, account %d, page %d", len(all), len(byApp), len(byAccount), len(page))
	}

	n, err := s.PurgeLogEntries(ctx, t0.Add(time.Millisecond))
	if err != nil || n != 1 {
		t.Fatalf("PurgeLogEntries = %d, %v", n, err)
	}
	if _, err := s.GetLogEntry(ctx, old.ID); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("the old entry is still there: %v", err)
	}
	if _, err := s.GetLogEntry(ctx, fresh.ID); err != nil {
		t.Errorf("the newer entry went too: %v", err)
	}
	// The notification outlives its log entry, until its own retention.
	if ns, _ := s.ListNotifications(ctx, store.NotificationFilter{}); len(ns) != 1 {
		t.Errorf("%d notifications after purging log entries", len(ns))
	}
	if n, err := s.PurgeNotifications(ctx, t0.Add(time.Second)); err != nil || n != 1 {
		t.Errorf("PurgeNotifications = %d, %v", n, err)
	}
}
