// Package engine is Switchyard's domain: accounts, apps and their credentials, subscriptions,
// events, deliveries and attempts; routing an event to the subscriptions it matches; dispatching
// deliveries through plugins; retrying them; and the scheduler that keeps all of it moving. It owns
// the Store interface it needs (store/sqlite implements it) and the style contract (Style) that
// vendor styles under plugins/<style>/host implement. Who is calling is found out beside it, in
// engine/auth.
//
// Where things are: accounts.go (accounts and apps), credentials.go, subscriptions.go, events.go
// (publishing) and ingest.go (group commit), routing.go, dispatcher.go (claim, shape, send,
// record), pacing.go (per-subscription rates), retry.go, scheduler.go (jobs on robfig/cron's
// schedules), styles.go (the style contract and hooks), service.go (the start/stop lifecycle),
// plugins.go (the loaded formats), model.go (the types), store.go (the Store interface),
// errors.go (the conditions the API maps to statuses).
package engine
