package web

import (
	"errors"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/engine"
	"github.com/switchyard/switchyard/sdk/wire"
)

// BindEvent decodes a published event, as Bind would. Every request to the publish endpoints
// passes here, and encoding/json, which scans the body twice and matches fields by reflection, was
// 4% of the server's CPU in the load generator's 64 x 1 run; a body in the plain form every client
// sends (the fields spelled as documented, each once) is read in one pass by wire.Reader instead.
// Anything else goes to Decode, so what is accepted, and every error, stays encoding/json's.
func BindEvent(c echo.Context, ev *engine.NewEvent) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	r := wire.NewSharingReader(body)
	if readNewEvent(r, ev) != nil || r.End() != nil {
		*ev = engine.NewEvent{}
		if err := Decode(body, ev); err != nil {
			return err
		}
	}
	ev.DataChecked = true // as markChecked says
	return nil
}

// BindEvents is BindEvent for {"events": [...]}.
func BindEvents(c echo.Context, events *[]engine.NewEvent) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	r := wire.NewSharingReader(body)
	if readNewEvents(r, events) != nil || r.End() != nil {
		var in struct {
			Events []engine.NewEvent `json:"events"`
		}
		if err := Decode(body, &in); err != nil {
			return err
		}
		*events = in.Events
	}
	markChecked(*events)
	return nil
}

// markChecked marks decoded events' data as checked: wire.Reader.Raw accepts exactly what
// encoding/json.Valid does (FuzzReader), and encoding/json checks the whole body before it decodes
// any of it.
func markChecked(events []engine.NewEvent) {
	for i := range events {
		events[i].DataChecked = true
	}
}

// errNotPlain refuses a body to the one-pass reader; Decode then reads it, and says what is wrong
// with it if anything is.
var errNotPlain = errors.New("not in the plain form")

func readNewEvents(r *wire.Reader, events *[]engine.NewEvent) error {
	return readMembers(r, []string{"events"}, func(int) error {
		if r.Null() {
			return errNotPlain
		}
		return r.Array(func() error {
			*events = append(*events, engine.NewEvent{})
			return readNewEvent(r, &(*events)[len(*events)-1])
		})
	})
}

// readMembers reads an object whose members are the given names, each at most once and spelled
// exactly so, calling read with the index of each; anything else is errNotPlain. encoding/json also
// matches names case-insensitively and merges a repeated object into the first, which is left to it.
func readMembers(r *wire.Reader, names []string, read func(member int) error) error {
	var seen uint32
	return r.Object(func(key []byte) error {
		for i, name := range names {
			if string(key) == name && seen&(1<<i) == 0 {
				seen |= 1 << i
				return read(i)
			}
		}
		return errNotPlain
	})
}

var eventMembers = []string{"account_id", "type", "entity", "data", "previous_data", "user", "source",
	"idempotency_key", "occurred_at", "deliver_at"}

// readNewEvent reads one event object.
func readNewEvent(r *wire.Reader, ev *engine.NewEvent) error {
	return readMembers(r, eventMembers, func(member int) (err error) {
		switch eventMembers[member] {
		case "account_id":
			ev.AccountID, err = r.String()
		case "type":
			ev.Type, err = r.String()
		case "entity":
			if !r.Null() {
				err = readMembers(r, entityMembers, func(member int) (err error) {
					if member == 0 {
						ev.Entity.Type, err = r.String()
					} else {
						ev.Entity.ID, err = r.String()
					}
					return err
				})
			}
		case "data":
			ev.Data, err = r.Raw()
		case "previous_data":
			ev.PreviousData, err = r.Raw()
		case "user":
			if !r.Null() {
				ev.User = &engine.User{}
				err = readMembers(r, userMembers, func(member int) (err error) {
					switch member {
					case 0:
						ev.User.ID, err = r.String()
					case 1:
						ev.User.Name, err = r.String()
					default:
						ev.User.Email, err = r.String()
					}
					return err
				})
			}
		case "source":
			if !r.Null() {
				ev.Source = &engine.EventSource{}
				err = readMembers(r, sourceMembers, func(member int) (err error) {
					if member == 0 {
						ev.Source.Type, err = r.String()
					} else {
						ev.Source.Info, err = r.Raw()
					}
					return err
				})
			}
		case "idempotency_key":
			ev.IdempotencyKey, err = r.String()
		case "occurred_at":
			ev.OccurredAt, err = readTime(r)
		case "deliver_at":
			ev.DeliverAt, err = readTime(r)
		}
		return err
	})
}

var (
	entityMembers = []string{"type", "id"}
	userMembers   = []string{"id", "name", "email"}
	sourceMembers = []string{"type", "info"}
)

// readTime reads a time as encoding/json does: by time.Time's own UnmarshalJSON, null as none.
func readTime(r *wire.Reader) (*time.Time, error) {
	if r.Null() {
		return nil, nil
	}
	raw, err := r.Raw()
	if err != nil {
		return nil, err
	}
	t := new(time.Time)
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, errNotPlain
	}
	return t, nil
}
