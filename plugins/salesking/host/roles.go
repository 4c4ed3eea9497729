package host

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/engine"
)

// SalesKing's roles: "a subscription is tied to an app and it's current access_token (specific for
// each user) ... So if a user cannot delete invoices his apps won't receive the callback." The
// platform names the user who granted a token (user_id on the credential) and tells Switchyard
// what each user may do (PUT /v1/accounts/{id}/users/{user_id} {"permissions": [...]}); skip keeps
// from the app every notification its user may not see.
//
// What the document leaves open, and what is chosen here:
//   - The permission a channel needs is named as notification scopes name it, the object's plural
//     and the action: invoice.delete needs "invoices:delete". A permission of the whole object
//     ("invoices") or of several actions ("invoices:create,delete") grants them too, as the same
//     scopes do.
//   - The permissions are read at each delivery, so a change applies to what is sent after it,
//     deliveries already queued included.
//   - A token that names no user (one issued before tokens recorded users, or by a platform that
//     does not use roles) is delivered to as before: there is no one to ask.
//   - A token whose user is no longer recorded on the company gets nothing: a user who left may
//     see nothing.

// skip gives the reason a delivery must not reach the app, or "" when it may.
func (s *Style) skip(ctx context.Context, w *engine.Work) (string, error) {
	sub := w.Subscription
	if w.Event == nil || sub.CredentialID == "" {
		// A handshake, or a subscription the operator made with no token: no user to ask.
		return "", nil
	}
	cred, err := s.eng.GetCredential(ctx, sub.CredentialID)
	if errors.Is(err, engine.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("the subscription's access token: %w", err)
	}
	if cred.UserID == "" {
		return "", nil
	}
	set, err := s.channelSet()
	if err != nil {
		return "", err
	}
	ch, ok := set.byName[w.Event.Type]
	if !ok {
		// Not a channel of the loaded plugin: its shape refuses the event, which says more than
		// a permission could.
		return "", nil
	}
	user, err := s.eng.GetAccountUser(ctx, sub.AccountID, cred.UserID)
	if errors.Is(err, engine.ErrNotFound) {
		return fmt.Sprintf("the access token's user %q is no longer a user of the company, so the app receives nothing", cred.UserID), nil
	}
	if err != nil {
		return "", fmt.Errorf("user %s of the company: %w", cred.UserID, err)
	}
	if !permits(user.Permissions, ch) {
		return fmt.Sprintf("the access token's user %q may not see %s (permission %s:%s; the user has %q), so the app receives no callback",
			cred.UserID, ch.Name, ch.Plural, ch.Action, strings.Join(user.Permissions, " ")), nil
	}
	return "", nil
}

// permits reports whether a user's permissions let the user see ch's events: the same names and
// grammar as notification scopes ("invoices", "invoices:delete", "invoices:create,delete").
func permits(permissions []string, ch channel) bool { return allows(permissions, ch) }
