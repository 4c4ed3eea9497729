package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// NewCredential is the input of CreateCredential.
type NewCredential struct {
	Kind CredentialKind `json:"kind"`
	// AccountID binds the credential to one account: an access token an account granted.
	AccountID string   `json:"account_id"`
	Scopes    []string `json:"scopes"`
	Primary   bool     `json:"primary"`
	// AllAccounts lets a credential bound to no account, with the events:publish scope, publish
	// into every account: a platform backend's. It must be asked for.
	AllAccounts bool `json:"all_accounts"`
	// UserID names the user of the account who granted an access token, as OAuth records whose
	// consent a token carries. The user must be recorded first (PUT
	// /v1/accounts/{id}/users/{user_id}): a name that matches no one would make the token's
	// deliveries depend on a user the platform never described.
	UserID string `json:"user_id"`
}

// IssuedCredential is a new credential with the secret the caller must keep: it is stored only as
// a hash and is shown only now.
type IssuedCredential struct {
	*Credential
	// Token is what api_key and access_token credentials present (bearer or x-api-key).
	Token string `json:"token,omitempty"`
	// ClientSecret goes with ClientID for client credentials.
	ClientSecret string `json:"client_secret,omitempty"`
}

// ListCredentials returns a page of an app's credentials, revoked ones too. A credential keeps
// only its secret's hash, which never leaves the engine, so the list shows no secret.
func (e *Engine) ListCredentials(ctx context.Context, appID string, p Page) ([]*Credential, error) {
	if _, err := e.store.GetApp(ctx, appID); err != nil {
		return nil, err
	}
	return e.store.ListCredentials(ctx, appID, normalizePage(p))
}

// CreateCredential issues a credential to an app.
func (e *Engine) CreateCredential(ctx context.Context, appID string, in NewCredential) (*IssuedCredential, error) {
	if _, err := e.store.GetApp(ctx, appID); err != nil {
		return nil, err
	}
	switch in.Kind {
	case CredentialAPIKey, CredentialClient, CredentialAccessToken:
	case "":
		return nil, invalidf("kind", "is required: api_key, client or access_token")
	default:
		return nil, invalidf("kind", "%q is not one of api_key, client, access_token", in.Kind)
	}
	if in.AccountID != "" {
		if _, err := e.store.GetAccount(ctx, in.AccountID); err != nil {
			return nil, accountRef("account_id", in.AccountID, err)
		}
	} else if in.Kind == CredentialAccessToken {
		return nil, invalidf("account_id", "an access token is granted by an account; name it")
	}
	if in.UserID != "" {
		if in.Kind != CredentialAccessToken {
			return nil, invalidf("user_id", "only an access token is granted by a user; an %s credential names none", in.Kind)
		}
		if _, err := e.store.GetAccountUser(ctx, in.AccountID, in.UserID); errors.Is(err, ErrNotFound) {
			return nil, invalidf("user_id", "%q is not a user of account %s: record it first with PUT /v1/accounts/%s/users/%s", in.UserID, in.AccountID, in.AccountID, in.UserID)
		} else if err != nil {
			return nil, fmt.Errorf("user %s of account %s: %w", in.UserID, in.AccountID, err)
		}
	}
	scopes, err := normalizeScopes(in.Scopes)
	if err != nil {
		return nil, err
	}
	for _, scope := range scopes {
		if !e.knownScope(scope) {
			return nil, invalidf("scopes", "%q is not a scope this server reads: %s for the native API, or one of a vendor style's (README lists them)", scope, ScopePublish)
		}
	}
	if in.AllAccounts {
		if in.AccountID != "" {
			return nil, invalidf("all_accounts", "a credential bound to account_id publishes into that account only; leave one of them out")
		}
		if !slices.Contains(scopes, ScopePublish) {
			return nil, invalidf("all_accounts", "is for publishing credentials: give the %s scope", ScopePublish)
		}
	}
	c := &Credential{
		ID: NewID("crd"), AppID: appID, AccountID: in.AccountID, Kind: in.Kind, Scopes: scopes,
		Primary: in.Primary, AllAccounts: in.AllAccounts, UserID: in.UserID, CreatedAt: e.now(),
	}
	secret := randomToken(32)
	issued := &IssuedCredential{Credential: c}
	if in.Kind == CredentialClient {
		c.ClientID = NewID("cli")
		issued.ClientSecret = secret
	} else {
		issued.Token = c.ID + "." + secret
	}
	c.SecretHash = HashSecret(secret)
	if err := e.store.CreateCredential(ctx, c); err != nil {
		return nil, fmt.Errorf("create credential: %w", err)
	}
	return issued, nil
}

// RevokeCredential revokes a credential. Revoking an access token also removes the subscriptions
// made with it, as an OAuth app's subscriptions go with its token; an API key's subscriptions
// stay, so that rotating a key does not silently stop deliveries.
func (e *Engine) RevokeCredential(ctx context.Context, id string) (removed []string, err error) {
	c, err := e.store.GetCredential(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.RevokedAt != nil {
		return nil, fmt.Errorf("credential %s was already revoked: %w", id, ErrConflict)
	}
	// Forgotten before and after: before, so that no request authenticates from the cache once
	// the revocation is committed; after, so that a lookup racing the commit stores nothing.
	if forget := e.cfg.CredentialRevoked; forget != nil {
		forget(id)
		defer forget(id)
	}
	removed, err = e.store.RevokeCredential(ctx, RevokeCredentialParams{ID: id, At: e.now(), DeleteSubscriptions: c.Kind == CredentialAccessToken})
	if err != nil {
		return nil, err
	}
	// Other nodes on the database drop it too. Should the publication fail, their caches still
	// re-read every credential within the fallback interval (auth.Config.CacheTTL).
	if perr := e.cfg.Notifier.Publish(context.WithoutCancel(ctx), TopicCredentialRevoked, id); perr != nil {
		e.logger.Error("tell the other nodes of a revocation", "credential", id, "err", perr)
	}
	return removed, nil
}

// GetCredential returns one credential, revoked or not: for a style that decides a delivery by
// the credential its subscription was made with (SalesKing's roles read the granting user).
func (e *Engine) GetCredential(ctx context.Context, id string) (*Credential, error) {
	return e.store.GetCredential(ctx, id)
}
