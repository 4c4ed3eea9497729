package engine

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"
)

// AccountUser is a person on the publishing platform, a user of one of its accounts, as the
// platform tells Switchyard: who is in the account (Upsales' notifyAll reaches every one of them)
// and what each may do (permissions such as "invoices:delete", as SalesKing's roles grant them).
type AccountUser struct {
	AccountID   string    `json:"account_id"`
	ID          string    `json:"id"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// AccountUserInput is the body of PUT /v1/accounts/{id}/users/{user_id}.
type AccountUserInput struct {
	Permissions []string `json:"permissions"`
}

// PutAccountUserParams are the arguments of Store.PutAccountUser.
type PutAccountUserParams struct {
	User *AccountUser
	// Max is the most users an account may have; a new user beyond it is ErrConflict.
	Max int
}

const (
	// MaxAccountUsers bounds one account's users: each is a row, and notifyAll writes one
	// notification per user.
	MaxAccountUsers = 10000
	maxPermissions  = 200
)

var permissionPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:,*/-]{0,127}$`)

// PutAccountUser records a user of an account and its permissions, replacing what was recorded
// for it. It reports whether the user is new. The operator's to call: the platform speaks for
// its accounts.
func (e *Engine) PutAccountUser(ctx context.Context, accountID, userID string, in AccountUserInput) (*AccountUser, bool, error) {
	if _, err := e.store.GetAccount(ctx, accountID); err != nil {
		return nil, false, err
	}
	if !idPattern.MatchString(userID) {
		return nil, false, invalidf("user_id", "must be 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit")
	}
	if in.Permissions == nil {
		return nil, false, invalidf("permissions", "is required: a list such as [\"invoices:delete\"], [] for none")
	}
	if len(in.Permissions) > maxPermissions {
		return nil, false, invalidf("permissions", "at most %d", maxPermissions)
	}
	perms := make([]string, 0, len(in.Permissions))
	for _, p := range in.Permissions {
		if !permissionPattern.MatchString(p) {
			return nil, false, invalidf("permissions", "%q is not a permission: 1-128 letters, digits and '_.:,*/-', such as invoices:delete", p)
		}
		if !slices.Contains(perms, p) {
			perms = append(perms, p)
		}
	}
	now := e.now()
	u := &AccountUser{AccountID: accountID, ID: userID, Permissions: perms, CreatedAt: now, UpdatedAt: now}
	created, err := e.store.PutAccountUser(ctx, PutAccountUserParams{User: u, Max: MaxAccountUsers})
	if err != nil {
		return nil, false, fmt.Errorf("put user %s of account %s: %w", userID, accountID, err)
	}
	return u, created, nil
}

// GetAccountUser returns one user of an account.
func (e *Engine) GetAccountUser(ctx context.Context, accountID, userID string) (*AccountUser, error) {
	return e.store.GetAccountUser(ctx, accountID, userID)
}

// ListAccountUsers returns a page of an account's users, by ID.
func (e *Engine) ListAccountUsers(ctx context.Context, accountID string, p Page) ([]*AccountUser, error) {
	if _, err := e.store.GetAccount(ctx, accountID); err != nil {
		return nil, err
	}
	return e.store.ListAccountUsers(ctx, accountID, normalizePage(p))
}

// DeleteAccountUser removes a user from an account.
func (e *Engine) DeleteAccountUser(ctx context.Context, accountID, userID string) error {
	return e.store.DeleteAccountUser(ctx, accountID, userID)
}
