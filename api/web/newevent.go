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
	if readNewEvent(r, ev) == nil && r.End() == nil {
		return nil
	}
	*ev = engine.NewEvent{}
	return Decode(body, ev)
}

// BindEvents is BindEvent for {"events": [...]}.
func BindEvents(c echo.Context, events *[]engine.NewEvent) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	r := wire.NewSharingReader(body)
	if readNewEvents(r, events) == nil && r.End() == nil {
		return nil
	}
	var in struct {
		Events []engine.NewEvent `json:"events"`
	}
	err = Decode(body, &in)
	*events = in.Events
	return err
}

// errNotPlain refuses a body to the one-pass reader; Decode then reads it, and says what is wrong
// with it if anything is.
var errNotPlain = errors.New("not in the plain form")

func readNewEvents(r *wire.Reader, events *[]engine.NewEvent) error {
	seen := false
	return r.Object(func(key []byte) error {
		if string(key) != "events" || seen || r.Null() {
			return errNotPlain
		}
		seen = true
		return r.Array(func() error {
			*events = append(*events, engine.NewEvent{})
			return readNewEvent(r, &(*events)[len(*events)-1])
		})
	})
}

// readNewEvent reads one event object. Each field is taken once and only by its exact name:
// encoding/json also matches names case-insensitively and merges a repeated object into the first,
// which is left to it.
func readNewEvent(r *wire.Reader, ev *engine.NewEvent) error {
	var seen uint16
	once := func(bit uint16) error {
		if seen&bit != 0 {
			return errNotPlain
		}
		seen |= bit
		return nil
	}
	return r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "account_id":
			if err = once(1 << 0); err == nil {
				ev.AccountID, err = r.String()
			}
		case "type":
			if err = once(1 << 1); err == nil {
				ev.Type, err = r.String()
			}
		case "entity":
			if err = once(1 << 2); err == nil && !r.Null() {
				err = readEntity(r, &ev.Entity)
			}
		case "data":
			if err = once(1 << 3); err == nil {
				ev.Data, err = r.Raw()
			}
		case "previous_data":
			if err = once(1 << 4); err == nil {
				ev.PreviousData, err = r.Raw()
			}
		case "user":
			if err = once(1 << 5); err == nil && !r.Null() {
				ev.User = &engine.User{}
				err = readUser(r, ev.User)
			}
		case "source":
			if err = once(1 << 6); err == nil && !r.Null() {
				ev.Source = &engine.EventSource{}
				err = readSource(r, ev.Source)
			}
		case "idempotency_key":
			if err = once(1 << 7); err == nil {
				ev.IdempotencyKey, err = r.String()
			}
		case "occurred_at":
			if err = once(1 << 8); err == nil {
				ev.OccurredAt, err = readTime(r)
			}
		case "deliver_at":
			if err = once(1 << 9); err == nil {
				ev.DeliverAt, err = readTime(r)
			}
		default:
			err = errNotPlain
		}
		return err
	})
}

func readEntity(r *wire.Reader, e *engine.Entity) error {
	var seen [2]bool
	return r.Object(func(key []byte) (err error) {
		switch k := string(key); {
		case k == "type" && !seen[0]:
			seen[0] = true
			e.Type, err = r.String()
		case k == "id" && !seen[1]:
			seen[1] = true
			e.ID, err = r.String()
		default:
			err = errNotPlain
		}
		return err
	})
}

func readUser(r *wire.Reader, u *engine.User) error {
	var seen [3]bool
	return r.Object(func(key []byte) (err error) {
		switch k := string(key); {
		case k == "id" && !seen[0]:
			seen[0] = true
			u.ID, err = r.String()
		case k == "name" && !seen[1]:
			seen[1] = true
			u.Name, err = r.String()
		case k == "email" && !seen[2]:
			seen[2] = true
			u.Email, err = r.String()
		default:
			err = errNotPlain
		}
		return err
	})
}

func readSource(r *wire.Reader, s *engine.EventSource) error {
	var seen [2]bool
	return r.Object(func(key []byte) (err error) {
		switch k := string(key); {
		case k == "type" && !seen[0]:
			seen[0] = true
			s.Type, err = r.String()
		case k == "info" && !seen[1]:
			seen[1] = true
			s.Info, err = r.Raw()
		default:
			err = errNotPlain
		}
		return err
	})
}

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
