package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// idPattern is what a caller-chosen ID may look like: publishers often name accounts by their own
// IDs, so accounts accept one.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

const (
	maxNameLen = 200
	maxURLLen  = 2048
	// maxPage is the most items one list call returns.
	maxPage     = 200
	defaultPage = 50
)

// NewAccount is the input of CreateAccount.
type NewAccount struct {
	// ID is optional: the publishing platform's own ID for the tenant.
	ID   string `json:"id"`
	Name string `json:"name"`
	// ExternalID is optional: the platform's numeric id for the tenant, unique among accounts.
	ExternalID *int64 `json:"external_id"`
}

// CreateAccount adds a tenant of the publishing platform.
func (e *Engine) CreateAccount(ctx context.Context, in NewAccount) (*Account, error) {
	if in.ID != "" && !idPattern.MatchString(in.ID) {
		return nil, invalidf("id", "must be 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit")
	}
	if strings.HasPrefix(in.ID, reservedAccountPrefix) {
		return nil, invalidf("id", "ids beginning with %q are Switchyard's own (%s holds its operational events)", reservedAccountPrefix, SystemAccount)
	}
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if err := checkExternalID(in.ExternalID); err != nil {
		return nil, err
	}
	a := &Account{ID: in.ID, Name: in.Name, ExternalID: in.ExternalID, CreatedAt: e.now()}
	if a.ID == "" {
		a.ID = NewID("acc")
	}
	if err := e.store.CreateAccount(ctx, a); err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	return a, nil
}

// GetAccount returns one account.
func (e *Engine) GetAccount(ctx context.Context, id string) (*Account, error) {
	return e.store.GetAccount(ctx, id)
}

// ListAccounts returns a page of accounts.
func (e *Engine) ListAccounts(ctx context.Context, p Page) ([]*Account, error) {
	return e.store.ListAccounts(ctx, normalizePage(p))
}

// NewApp is the input of CreateApp.
type NewApp struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// ExternalID is optional: the platform's numeric id for the integrator, unique among apps.
	ExternalID *int64 `json:"external_id"`
}

// MaxExternalID is the largest external id: the largest integer every JSON parser, JavaScript's
// included, reads back exactly, since styles send it as a JSON number.
const MaxExternalID = 1<<53 - 1

func checkExternalID(id *int64) error {
	if id != nil && (*id < 1 || *id > MaxExternalID) {
		return invalidf("external_id", "must be a whole number from 1 to %d", int64(MaxExternalID))
	}
	return nil
}

// CreateApp adds an integrator and returns it with its signing secret, which is shown only now.
func (e *Engine) CreateApp(ctx context.Context, in NewApp) (*App, error) {
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if in.URL != "" {
		if err := checkHTTPURL("url", in.URL); err != nil {
			return nil, err
		}
	}
	if err := checkExternalID(in.ExternalID); err != nil {
		return nil, err
	}
	a := &App{ID: NewID("app"), Name: in.Name, URL: in.URL, ExternalID: in.ExternalID, Secret: randomToken(32), CreatedAt: e.now()}
	if err := e.store.CreateApp(ctx, a); err != nil {
		return nil, fmt.Errorf("create app: %w", err)
	}
	return a, nil
}

// GetApp returns one app.
func (e *Engine) GetApp(ctx context.Context, id string) (*App, error) { return e.store.GetApp(ctx, id) }

// ListApps returns a page of apps.
func (e *Engine) ListApps(ctx context.Context, p Page) ([]*App, error) {
	return e.store.ListApps(ctx, normalizePage(p))
}

// now is the engine's time at the precision the store keeps.
func (e *Engine) now() time.Time { return e.clock.Now().UTC().Truncate(time.Millisecond) }

func normalizeScopes(in []string) ([]string, error) {
	scopes := []string{}
	for _, s := range in {
		// A scope string may be given whole ("clients:create api/clients"), as OAuth writes it.
		for _, f := range strings.Fields(s) {
			if len(f) > 200 {
				return nil, invalidf("scopes", "a scope is at most 200 characters")
			}
			scopes = append(scopes, f)
		}
	}
	return scopes, nil
}

func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return invalidf("name", "is required")
	case len(name) > maxNameLen:
		return invalidf("name", "is at most %d characters", maxNameLen)
	}
	return nil
}

// checkHTTPURL checks the form of a URL: absolute, http or https, with a host.
func checkHTTPURL(field, raw string) error {
	if len(raw) > maxURLLen {
		return invalidf(field, "is at most %d characters", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidf(field, "must be an absolute http or https URL")
	}
	return nil
}

func normalizePage(p Page) Page {
	if p.Limit <= 0 {
		p.Limit = defaultPage
	}
	p.Limit = min(p.Limit, maxPage)
	return p
}

// accountRef turns a missing referenced account into a validation error: the input is wrong, the
// resource the request addresses is not missing.
func accountRef(field, id string, err error) error {
	if errors.Is(err, ErrNotFound) {
		return invalidf(field, "no account %q", id)
	}
	return err
}
