package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/switchyard/switchyard/sdk"
)

// NewGrant is the input of CreateGrant.
type NewGrant struct {
	AppID string `json:"app_id"`
	// Events are the types or patterns the app may subscribe to: client.create, client.*, *.
	Events []string `json:"events"`
}

// CreateGrant records that an account lets an app receive some of its events. It is the
// operator's to make: the account is the publishing platform's tenant, and the platform speaks
// for it. One app has at most one unrevoked grant in an account.
func (e *Engine) CreateGrant(ctx context.Context, accountID string, in NewGrant) (*Grant, error) {
	if _, err := e.store.GetAccount(ctx, accountID); err != nil {
		return nil, err
	}
	if in.AppID == "" {
		return nil, invalidf("app_id", "is required")
	}
	if _, err := e.store.GetApp(ctx, in.AppID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, invalidf("app_id", "no app %q", in.AppID)
		}
		return nil, err
	}
	events, err := checkGrantEvents(in.Events)
	if err != nil {
		return nil, err
	}
	g := &Grant{ID: NewID("grt"), AppID: in.AppID, AccountID: accountID, Events: events, CreatedAt: e.now()}
	if err := e.store.CreateGrant(ctx, g); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("account %s has granted app %s already; revoke that grant to grant other events: %w", accountID, in.AppID, ErrConflict)
		}
		return nil, fmt.Errorf("create grant: %w", err)
	}
	return g, nil
}

func checkGrantEvents(filters []string) ([]string, error) {
	if len(filters) == 0 {
		return nil, invalidf("events", "list at least one event type or pattern the app may subscribe to, such as client.* or *")
	}
	if len(filters) > maxEventFilters {
		return nil, invalidf("events", "at most %d", maxEventFilters)
	}
	out := make([]string, 0, len(filters))
	for _, f := range filters {
		if !sdk.IsTypePattern(f) {
			return nil, invalidf("events", "%q is not an event type (object.action) or pattern (object.*, *.action, *)", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// ListGrants returns a page of an account's grants, revoked ones too.
func (e *Engine) ListGrants(ctx context.Context, accountID string, p Page) ([]*Grant, error) {
	if _, err := e.store.GetAccount(ctx, accountID); err != nil {
		return nil, err
	}
	return e.store.ListGrants(ctx, accountID, normalizePage(p))
}

// RevokeGrant revokes an account's grant and disables the subscriptions it allowed: those of its
// app in the account that no credential bound to the account made. Their queued deliveries are
// not sent. It returns the grant and the disabled subscriptions' IDs.
func (e *Engine) RevokeGrant(ctx context.Context, accountID, id string) (*Grant, []string, error) {
	return e.store.RevokeGrant(ctx, RevokeGrantParams{
		ID: id, AccountID: accountID, At: e.now(),
		Reason: fmt.Sprintf("account %s revoked grant %s", accountID, id),
	})
}

// reach checks that the principal may reach accountID's events: the operator may; a credential
// bound to an account, in that account only; a credential of its whole app, where the account
// granted the app. It returns the grant that allows it, or nil when none is needed.
func (e *Engine) reach(ctx context.Context, p *Principal, accountID string) (*Grant, error) {
	if p.Admin {
		return nil, nil
	}
	if bound := p.boundAccount(); bound != "" {
		if bound != accountID {
			return nil, fmt.Errorf("this credential was granted by account %s only: %w", bound, ErrForbidden)
		}
		return nil, nil
	}
	g, err := e.store.GetGrant(ctx, p.App.ID, accountID)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("account %s has not granted app %s its events: the operator grants them with POST /v1/accounts/%s/grants, or issues a credential bound to the account: %w",
			accountID, p.App.ID, accountID, ErrForbidden)
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// checkGranted says which of a subscription's event patterns its grant does not allow; a nil
// grant (none needed) allows every one.
func checkGranted(g *Grant, events []string) error {
	if g == nil {
		return nil
	}
	for _, f := range events {
		if !slices.ContainsFunc(g.Events, func(allowed string) bool { return covers(allowed, f) }) {
			return fmt.Errorf("account %s granted app %s the events %s only, which do not cover %q: %w",
				g.AccountID, g.AppID, strings.Join(g.Events, ", "), f, ErrForbidden)
		}
	}
	return nil
}

// covers reports whether every event type pattern f matches, pattern g matches too. Both are
// valid filters: "*", or object.action with either side "*".
func covers(g, f string) bool {
	gObj, gAct := splitPattern(g)
	fObj, fAct := splitPattern(f)
	return (gObj == "*" || gObj == fObj) && (gAct == "*" || gAct == fAct)
}

func splitPattern(p string) (object, action string) {
	if p == "*" {
		return "*", "*"
	}
	object, action, _ = strings.Cut(p, ".")
	return object, action
}
