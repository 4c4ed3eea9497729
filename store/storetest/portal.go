package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/engine"
)

func newPortal(app *engine.App, kind engine.PortalKind, created time.Time, ttl time.Duration) *engine.Portal {
	prefix := "psl"
	if kind == engine.PortalSession {
		prefix = "pss"
	}
	return &engine.Portal{ID: engine.NewID(prefix), Kind: kind, AppID: app.ID, SecretHash: engine.HashSecret(engine.NewID("secret")),
		CreatedAt: created, ExpiresAt: created.Add(ttl)}
}

func (h *harness) portal(app *engine.App, kind engine.PortalKind, created time.Time, ttl time.Duration, max int) *engine.Portal {
	h.t.Helper()
	p := newPortal(app, kind, created, ttl)
	if err := h.s.CreatePortal(h.ctx, engine.CreatePortalParams{Portal: p, Max: max, Now: created}); err != nil {
		h.t.Fatalf("CreatePortal: %v", err)
	}
	return p
}

// portalLive reports whether the entry is still stored.
func (h *harness) portalLive(id string) bool {
	h.t.Helper()
	_, err := h.s.GetPortal(h.ctx, id)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		h.t.Fatalf("GetPortal(%s): %v", id, err)
	}
	return err == nil
}

func accept(*engine.Portal) error { return nil }

// testPortal: entries round-trip with only their digest; an exchange hands the stored link to the
// check, changes nothing when the check refuses, and otherwise marks the link used and stores the
// session for the link's app; a used link is ErrConflict even when the check lets it through; a
// session is no link; revocation ends one app's entries only; the purge takes what expired.
func testPortal(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, other := h.app(), h.app()
	link := h.portal(app, engine.PortalLink, base, 10*time.Minute, 0)
	got, err := h.s.GetPortal(h.ctx, link.ID)
	if err != nil {
		t.Fatalf("GetPortal: %v", err)
	}
	wantSame(t, "GetPortal", got, link)
	_, err = h.s.GetPortal(h.ctx, "psl_missing")
	wantErr(t, "GetPortal(missing)", err, engine.ErrNotFound)
	err = h.s.CreatePortal(h.ctx, engine.CreatePortalParams{Portal: newPortal(&engine.App{ID: "app_missing"}, engine.PortalLink, base, time.Minute), Now: base})
	wantErr(t, "CreatePortal(no such app)", err, engine.ErrInvalid)

	refused := errors.New("refused by the check")
	var checked *engine.Portal
	session := newPortal(other, engine.PortalSession, at(time.Minute), time.Hour)
	_, err = h.s.ExchangePortalLink(h.ctx, engine.ExchangePortalParams{LinkID: link.ID, Session: session, Now: at(time.Minute),
		Check: func(l *engine.Portal) error { checked = l; return refused }})
	if err != refused {
		t.Errorf("ExchangePortalLink with a refusing check: %v, want the check's error as it is", err)
	}
	wantSame(t, "the link the check got", checked, link)
	if h.portalLive(session.ID) {
		t.Errorf("a refused exchange stored its session")
	}
	if got, _ := h.s.GetPortal(h.ctx, link.ID); got.UsedAt != nil {
		t.Errorf("a refused exchange marked the link used")
	}

	traded, err := h.s.ExchangePortalLink(h.ctx, engine.ExchangePortalParams{LinkID: link.ID, Session: session, Now: at(time.Minute), Check: accept})
	if err != nil {
		t.Fatalf("ExchangePortalLink: %v", err)
	}
	wantSame(t, "the link traded", traded, link)
	got, err = h.s.GetPortal(h.ctx, session.ID)
	if err != nil {
		t.Fatalf("GetPortal(session): %v", err)
	}
	want := *session
	want.AppID = app.ID
	wantSame(t, "the session stored for the link's app", got, &want)
	got, _ = h.s.GetPortal(h.ctx, link.ID)
	if got.UsedAt == nil || !got.UsedAt.Equal(at(time.Minute)) {
		t.Errorf("the traded link's UsedAt = %v, want %v", got.UsedAt, at(time.Minute))
	}
	again := newPortal(app, engine.PortalSession, at(time.Minute), time.Hour)
	_, err = h.s.ExchangePortalLink(h.ctx, engine.ExchangePortalParams{LinkID: link.ID, Session: again, Now: at(time.Minute), Check: accept})
	wantErr(t, "ExchangePortalLink(used)", err, engine.ErrConflict)
	_, err = h.s.ExchangePortalLink(h.ctx, engine.ExchangePortalParams{LinkID: session.ID, Session: again, Now: at(time.Minute), Check: accept})
	wantErr(t, "ExchangePortalLink(a session)", err, engine.ErrNotFound)
	_, err = h.s.ExchangePortalLink(h.ctx, engine.ExchangePortalParams{LinkID: "psl_missing", Session: again, Now: at(time.Minute), Check: accept})
	wantErr(t, "ExchangePortalLink(missing)", err, engine.ErrNotFound)
	if h.portalLive(again.ID) {
		t.Errorf("a failed exchange stored its session")
	}

	// Revocation: every entry of the app, used or not, and nothing of another app's.
	unused := h.portal(app, engine.PortalLink, at(2*time.Minute), 10*time.Minute, 0)
	theirs := h.portal(other, engine.PortalSession, at(2*time.Minute), time.Hour, 0)
	n, err := h.s.RevokePortal(h.ctx, app.ID)
	if err != nil || n != 3 {
		t.Errorf("RevokePortal = %d, %v; want 3 (a used link, its session, an unused link)", n, err)
	}
	for _, id := range []string{link.ID, session.ID, unused.ID} {
		if h.portalLive(id) {
			t.Errorf("%s outlived its app's revocation", id)
		}
	}
	if !h.portalLive(theirs.ID) {
		t.Errorf("revoking one app's portal ended another app's session")
	}
	_, err = h.s.RevokePortal(h.ctx, "app_missing")
	wantErr(t, "RevokePortal(no such app)", err, engine.ErrInvalid)

	// The purge: expired at or before the time given, of every app.
	soon := h.portal(app, engine.PortalLink, base, time.Minute, 0)
	later := h.portal(app, engine.PortalLink, base, time.Minute+time.Millisecond, 0)
	n, err = h.s.PurgePortal(h.ctx, at(time.Minute))
	if err != nil || n != 1 {
		t.Errorf("PurgePortal = %d, %v; want 1", n, err)
	}
	if h.portalLive(soon.ID) || !h.portalLive(later.ID) || !h.portalLive(theirs.ID) {
		t.Errorf("PurgePortal(base+1m): entry expiring then kept %v, a millisecond later kept %v, in an hour kept %v; want false, true, true",
			h.portalLive(soon.ID), h.portalLive(later.ID), h.portalLive(theirs.ID))
	}
}

// testPortalBound: past Max live entries of one kind, making one more drops the app's oldest; what
// expired, the other kind and other apps are not counted, and an exchange bounds sessions alike.
func testPortalBound(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app, other := h.app(), h.app()
	const max = 3
	expired := h.portal(app, engine.PortalLink, at(-time.Hour), time.Minute, max)
	theirs := h.portal(other, engine.PortalLink, base, 10*time.Minute, max)
	session := h.portal(app, engine.PortalSession, base, time.Hour, max)
	var links []*engine.Portal
	// The same CreatedAt for all: the ID, which sorts by creation, breaks the tie.
	for range max {
		links = append(links, h.portal(app, engine.PortalLink, base, 10*time.Minute, max))
	}
	for _, l := range links {
		if !h.portalLive(l.ID) {
			t.Fatalf("link %s dropped while the app had %d", l.ID, max)
		}
	}
	newest := h.portal(app, engine.PortalLink, base, 10*time.Minute, max)
	if h.portalLive(links[0].ID) {
		t.Errorf("the oldest link outlived one more than %d", max)
	}
	for _, p := range []*engine.Portal{links[1], links[2], newest, expired, theirs, session} {
		if !h.portalLive(p.ID) {
			t.Errorf("%s (%s) dropped; only the oldest live link should be", p.ID, p.Kind)
		}
	}

	// Sessions, through exchanges: the app has one; max more leave the newest max.
	var sessions []*engine.Portal
	for _, l := range []*engine.Portal{links[1], links[2], newest} {
		s := newPortal(app, engine.PortalSession, at(time.Minute), time.Hour)
		if _, err := h.s.ExchangePortalLink(h.ctx, engine.ExchangePortalParams{LinkID: l.ID, Session: s, Max: max, Now: at(time.Minute), Check: accept}); err != nil {
			t.Fatalf("ExchangePortalLink: %v", err)
		}
		sessions = append(sessions, s)
	}
	if h.portalLive(session.ID) {
		t.Errorf("the oldest session outlived %d newer ones", max)
	}
	for _, s := range sessions {
		if !h.portalLive(s.ID) {
			t.Errorf("session %s dropped; only the oldest should be", s.ID)
		}
	}
}

// testPortalExchangeConcurrent: exchanges of one link running at once (as on nodes sharing a
// database) succeed exactly once, even though every one's check lets the link through: the
// database keeps the link single-use, not a read before it.
func testPortalExchangeConcurrent(t *testing.T, open func(t *testing.T) engine.Store) {
	h := setup(t, open)
	app := h.app()
	const links, racers = 10, 6
	for range links {
		link := h.portal(app, engine.PortalLink, base, 10*time.Minute, 0)
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			sessions = make([]*engine.Portal, racers)
			errs     = make([]error, racers)
		)
		for i := range racers {
			sessions[i] = newPortal(app, engine.PortalSession, at(time.Minute), time.Hour)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = h.s.ExchangePortalLink(h.ctx, engine.ExchangePortalParams{LinkID: link.ID, Session: sessions[i], Now: at(time.Minute), Check: accept})
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				if !h.portalLive(sessions[i].ID) {
					t.Errorf("the exchange that won stored no session")
				}
			case errors.Is(err, engine.ErrConflict):
				if h.portalLive(sessions[i].ID) {
					t.Errorf("an exchange that lost stored its session")
				}
			default:
				t.Fatalf("ExchangePortalLink: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d exchanges of one link at once succeeded; want exactly 1", won, racers)
		}
	}
}
