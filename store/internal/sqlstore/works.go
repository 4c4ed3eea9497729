package sqlstore

import (
	"fmt"

	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/store/internal/sqlrow"
)

// Works puts claimed deliveries together with what shaping needs of them, in their order: their
// events, subscriptions, apps and the subscriptions' accounts, which each driver reads its own way
// (SQLite in chunked IN lists, PostgreSQL with = ANY). A delivery whose subscription is gone is
// left out.
func Works(rows []sqlrow.Delivery, eventRows []sqlrow.Event, subRows []sqlrow.Subscription, appRows []sqlrow.App, accountRows []sqlrow.Account) ([]*engine.Work, error) {
	events := make(map[string]*engine.Event, len(eventRows))
	for i := range eventRows {
		ev, err := eventRows[i].Engine()
		if err != nil {
			return nil, fmt.Errorf("%w", err)
		}
		events[ev.ID] = ev
	}
	subs := make(map[string]*engine.Subscription, len(subRows))
	for i := range subRows {
		sub, err := subRows[i].Engine()
		if err != nil {
			return nil, fmt.Errorf("%w", err)
		}
		subs[sub.ID] = sub
	}
	apps := make(map[string]*engine.App, len(appRows))
	for i := range appRows {
		apps[appRows[i].ID] = appRows[i].Engine()
	}
	accounts := make(map[string]*engine.Account, len(accountRows))
	for i := range accountRows {
		accounts[accountRows[i].ID] = accountRows[i].Engine()
	}

	works := make([]*engine.Work, 0, len(rows))
	for i := range rows {
		d := rows[i].Engine()
		sub := subs[d.SubscriptionID]
		if sub == nil {
			continue // deleted since the claim, with the delivery
		}
		w := &engine.Work{Delivery: d, Subscription: sub, App: apps[d.AppID], Account: accounts[sub.AccountID]}
		if d.EventID != "" {
			w.Event = events[d.EventID]
		}
		works = append(works, w)
	}
	return works, nil
}
