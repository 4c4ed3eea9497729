package sdk

import (
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/sdk/wire"
)

// The ABI's messages. Each call's input is a frame (see package wire) whose payload is the event's
// data (shape), the response body (on_response) or nothing (on_subscribe). Its head carries the
// fields below: in ABI version 2 as the tagged binary fields of head.go, in version 1 (which the
// host still speaks to plugins that ask for it) as this JSON object:
//
//	{"event": {"id", "type", "account_id", "entity": {"type", "id"}, "occurred_at": <unix ms>,
//	           "user": {"id", "name", "email"}, "source": {"type", "info": <raw JSON>},
//	           "previous": <raw JSON>},
//	 "subscription": {"id", "account_id", "app_id", "url", "format", "entity_key", "has_secret",
//	                  "options": {"k": "v"}},
//	 "account": {"id", "name", "external_id"}, "app": {"id", "name", "url", "external_id"},
//	 "delivery": {"id", "attempt", "kind", "callback_url", "confirm_url", "unsubscribe_url",
//	              "certificate_url"},
//	 "state": <raw JSON>,
//	 "response": {"status", "headers": [["name", "value"], ...]}}
//
// shape and on_subscribe return a frame whose head is {"method", "url", "path", "headers", "secrets"}
// and whose payload is the body. "secrets" is [["placeholder", "key_ref", "encoding"], ...]: after
// the call the host replaces each placeholder in the body and the header values with the secret
// key_ref names, written raw or JSON-escaped (encoding "raw" or "json"), so a format that sends a
// shared key can send it although the key never enters the sandbox (see Input.Secret). on_response returns {"outcome", "retry_after_ms", "message", "keep"}. A result
// flagged as an error is {"message", "retryable"}. Unknown keys are ignored both ways, so either side
// may add fields within one ABI version.

// AppendFrame appends in, encoded as a call's input frame for a plugin of this SDK's ABI version,
// to dst. payload is what follows the head: the event's data for shape, the response body for
// on_response.
func (in *Input) AppendFrame(dst []byte, payload []byte) []byte {
	return in.AppendFrameFor(ABIVersion, dst, payload)
}

// AppendFrameFor is AppendFrame for a plugin that speaks ABI version abi: version 1's head is the
// JSON object above, version 2's the binary fields of head.go. The host keeps speaking version 1
// to plugins built with an SDK before version 2; it loads no plugin of another version, so any
// other abi gets version 2's head.
func (in *Input) AppendFrameFor(abi int, dst []byte, payload []byte) []byte {
	dst, head := wire.BeginFrame(dst)
	if abi == 1 {
		dst = in.appendJSONHead(dst)
	} else {
		dst = in.appendBinaryHead(dst)
	}
	return append(wire.EndHead(dst, head), payload...)
}

func (in *Input) appendJSONHead(dst []byte) []byte {
	var w wire.Writer
	w.Reset(dst)
	w.BeginObject()

	w.Key("event")
	w.BeginObject()
	w.StringFieldOmitEmpty("id", in.Event.ID)
	w.StringFieldOmitEmpty("type", in.Event.Type)
	w.StringFieldOmitEmpty("account_id", in.Event.AccountID)
	if in.Event.Entity != (Entity{}) {
		w.Key("entity")
		w.BeginObject()
		w.StringField("type", in.Event.Entity.Type)
		w.StringField("id", in.Event.Entity.ID)
		w.EndObject()
	}
	if !in.Event.OccurredAt.IsZero() {
		w.IntField("occurred_at", in.Event.OccurredAt.UnixMilli())
	}
	if u := in.Event.User; u != nil {
		w.Key("user")
		w.BeginObject()
		w.StringField("id", u.ID)
		w.StringFieldOmitEmpty("name", u.Name)
		w.StringFieldOmitEmpty("email", u.Email)
		w.EndObject()
	}
	if src := in.Event.Source; src != nil {
		w.Key("source")
		w.BeginObject()
		w.StringField("type", src.Type)
		w.RawFieldOmitEmpty("info", src.Info)
		w.EndObject()
	}
	w.RawFieldOmitEmpty("previous", in.Event.Previous)
	w.EndObject()

	s := &in.Subscription
	w.Key("subscription")
	w.BeginObject()
	w.StringFieldOmitEmpty("id", s.ID)
	w.StringFieldOmitEmpty("account_id", s.AccountID)
	w.StringFieldOmitEmpty("app_id", s.AppID)
	w.StringFieldOmitEmpty("url", s.URL)
	w.StringFieldOmitEmpty("format", s.Format)
	w.StringFieldOmitEmpty("entity_key", s.EntityKey)
	w.BoolField("has_secret", s.HasSecret)
	if len(s.Options) > 0 {
		w.Key("options")
		w.BeginObject()
		keys := make([]string, 0, len(s.Options))
		for k := range s.Options {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.StringField(k, s.Options[k])
		}
		w.EndObject()
	}
	w.EndObject()

	w.Key("account")
	w.BeginObject()
	w.StringFieldOmitEmpty("id", in.Account.ID)
	w.StringFieldOmitEmpty("name", in.Account.Name)
	if in.Account.ExternalID != 0 {
		w.IntField("external_id", in.Account.ExternalID)
	}
	w.EndObject()

	w.Key("app")
	w.BeginObject()
	w.StringFieldOmitEmpty("id", in.App.ID)
	w.StringFieldOmitEmpty("name", in.App.Name)
	w.StringFieldOmitEmpty("url", in.App.URL)
	if in.App.ExternalID != 0 {
		w.IntField("external_id", in.App.ExternalID)
	}
	w.EndObject()

	d := &in.Delivery
	w.Key("delivery")
	w.BeginObject()
	w.StringFieldOmitEmpty("id", d.ID)
	w.IntField("attempt", int64(d.Attempt))
	w.StringFieldOmitEmpty("kind", d.Kind)
	w.StringFieldOmitEmpty("callback_url", d.CallbackURL)
	w.StringFieldOmitEmpty("confirm_url", d.ConfirmURL)
	w.StringFieldOmitEmpty("unsubscribe_url", d.UnsubscribeURL)
	w.StringFieldOmitEmpty("certificate_url", d.CertificateURL)
	w.EndObject()

	w.RawFieldOmitEmpty("state", in.State)

	if r := in.Response; r != nil {
		w.Key("response")
		w.BeginObject()
		w.IntField("status", int64(r.Status))
		appendHeaders(&w, r.Headers)
		w.EndObject()
	}
	w.EndObject()
	return w.Buf
}

func appendHeaders(w *wire.Writer, headers []Header) {
	if len(headers) == 0 {
		return
	}
	w.Key("headers")
	w.BeginArray()
	for _, h := range headers {
		w.BeginArray()
		w.String(h.Name)
		w.String(h.Value)
		w.EndArray()
	}
	w.EndArray()
}

// DecodeInput decodes an input frame into in, replacing its contents (but not its host). The
// payload becomes Event.Data, or Response.Body when the head has a response; it aliases frame.
func DecodeInput(frame []byte, in *Input) error {
	head, payload, err := wire.SplitFrame(frame)
	if err != nil {
		return err
	}
	host := in.host
	*in = Input{host: host}
	if len(head) > 0 && head[0] == '{' {
		err = in.decodeJSONHead(head)
	} else {
		err = in.decodeBinaryHead(head)
	}
	if err != nil {
		return wire.Wrap("decode input", err)
	}
	if in.Response != nil {
		in.Response.Body = payload
	} else if len(payload) > 0 {
		in.Event.Data = payload
	}
	return nil
}

func (in *Input) decodeJSONHead(head []byte) error {
	r := wire.NewSharingReader(head)
	err := r.Object(func(key []byte) error {
		switch string(key) {
		case "event":
			return decodeEvent(r, &in.Event)
		case "subscription":
			return decodeSubscription(r, &in.Subscription)
		case "account":
			return r.Object(func(key []byte) (err error) {
				switch string(key) {
				case "id":
					in.Account.ID, err = r.String()
				case "name":
					in.Account.Name, err = r.String()
				case "external_id":
					in.Account.ExternalID, err = r.Int()
				default:
					err = r.Skip()
				}
				return err
			})
		case "app":
			return r.Object(func(key []byte) (err error) {
				switch string(key) {
				case "id":
					in.App.ID, err = r.String()
				case "name":
					in.App.Name, err = r.String()
				case "url":
					in.App.URL, err = r.String()
				case "external_id":
					in.App.ExternalID, err = r.Int()
				default:
					err = r.Skip()
				}
				return err
			})
		case "delivery":
			return decodeDelivery(r, &in.Delivery)
		case "state":
			raw, err := rawOrNil(r)
			in.State = raw
			return err
		case "response":
			in.Response = &Response{}
			return r.Object(func(key []byte) (err error) {
				switch string(key) {
				case "status":
					var n int64
					n, err = r.Int()
					in.Response.Status = int(n)
				case "headers":
					in.Response.Headers, err = decodeHeaders(r)
				default:
					err = r.Skip()
				}
				return err
			})
		}
		return r.Skip()
	})
	if err != nil {
		return err
	}
	return r.End()
}

func decodeEvent(r *wire.Reader, e *Event) error {
	return r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "id":
			e.ID, err = r.String()
		case "type":
			e.Type, err = r.String()
		case "account_id":
			e.AccountID, err = r.String()
		case "entity":
			err = r.Object(func(key []byte) (err error) {
				switch string(key) {
				case "type":
					e.Entity.Type, err = r.String()
				case "id":
					e.Entity.ID, err = r.String()
				default:
					err = r.Skip()
				}
				return err
			})
		case "occurred_at":
			var ms int64
			if ms, err = r.Int(); err == nil {
				e.OccurredAt = time.UnixMilli(ms).UTC()
			}
		case "user":
			if r.Null() {
				return nil
			}
			e.User = &User{}
			err = r.Object(func(key []byte) (err error) {
				switch string(key) {
				case "id":
					e.User.ID, err = r.String()
				case "name":
					e.User.Name, err = r.String()
				case "email":
					e.User.Email, err = r.String()
				default:
					err = r.Skip()
				}
				return err
			})
		case "source":
			if r.Null() {
				return nil
			}
			e.Source = &Source{}
			err = r.Object(func(key []byte) (err error) {
				switch string(key) {
				case "type":
					e.Source.Type, err = r.String()
				case "info":
					e.Source.Info, err = rawOrNil(r)
				default:
					err = r.Skip()
				}
				return err
			})
		case "previous":
			e.Previous, err = rawOrNil(r)
		default:
			err = r.Skip()
		}
		return err
	})
}

func decodeSubscription(r *wire.Reader, s *Subscription) error {
	return r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "id":
			s.ID, err = r.String()
		case "account_id":
			s.AccountID, err = r.String()
		case "app_id":
			s.AppID, err = r.String()
		case "url":
			s.URL, err = r.String()
		case "format":
			s.Format, err = r.String()
		case "entity_key":
			s.EntityKey, err = r.String()
		case "has_secret":
			s.HasSecret, err = r.Bool()
		case "options":
			if r.Null() {
				return nil
			}
			s.Options = map[string]string{}
			err = r.Object(func(key []byte) error {
				k := string(key)
				v, err := r.String()
				s.Options[k] = v
				return err
			})
		default:
			err = r.Skip()
		}
		return err
	})
}

func decodeDelivery(r *wire.Reader, d *Delivery) error {
	return r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "id":
			d.ID, err = r.String()
		case "attempt":
			var n int64
			n, err = r.Int()
			d.Attempt = int(n)
		case "kind":
			d.Kind, err = r.String()
		case "callback_url":
			d.CallbackURL, err = r.String()
		case "confirm_url":
			d.ConfirmURL, err = r.String()
		case "unsubscribe_url":
			d.UnsubscribeURL, err = r.String()
		case "certificate_url":
			d.CertificateURL, err = r.String()
		default:
			err = r.Skip()
		}
		return err
	})
}

func decodeHeaders(r *wire.Reader) ([]Header, error) {
	var headers []Header
	if r.Null() {
		return nil, nil
	}
	err := r.Array(func() error {
		var h Header
		i := 0
		err := r.Array(func() (err error) {
			switch i {
			case 0:
				h.Name, err = r.String()
			case 1:
				h.Value, err = r.String()
			default:
				return wire.Detail(wire.ErrSyntax, "a header is a [name, value] pair")
			}
			i++
			return err
		})
		if err == nil && i != 2 {
			err = wire.Detail(wire.ErrSyntax, "a header is a [name, value] pair")
		}
		headers = append(headers, h)
		return err
	})
	return headers, err
}

func decodeSecrets(r *wire.Reader) ([]SecretRef, error) {
	if r.Null() {
		return nil, nil
	}
	var refs []SecretRef
	err := r.Array(func() error {
		var s SecretRef
		i := 0
		err := r.Array(func() (err error) {
			switch i {
			case 0:
				s.Placeholder, err = r.String()
			case 1:
				s.Key, err = r.String()
			case 2:
				s.Encoding, err = r.String()
			default:
				return wire.Detail(wire.ErrSyntax, "a secret is a [placeholder, key, encoding] triple")
			}
			i++
			return err
		})
		if err == nil && i != 3 {
			err = wire.Detail(wire.ErrSyntax, "a secret is a [placeholder, key, encoding] triple")
		}
		refs = append(refs, s)
		return err
	})
	return refs, err
}

// rawOrNil returns the next value's bytes as a copy, or nil for null: raw JSON kept in a result must
// not alias a buffer that the next call overwrites.
func rawOrNil(r *wire.Reader) ([]byte, error) {
	if r.Null() {
		return nil, nil
	}
	raw, err := r.Raw()
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), raw...), nil
}

// AppendFrame appends req, encoded as shape's result frame, to dst.
func (req *Request) AppendFrame(dst []byte) []byte {
	dst, head := wire.BeginFrame(dst)
	var w wire.Writer
	w.Reset(dst)
	w.BeginObject()
	w.StringFieldOmitEmpty("method", req.Method)
	w.StringFieldOmitEmpty("url", req.URL)
	w.StringFieldOmitEmpty("path", req.Path)
	appendHeaders(&w, req.Headers)
	if len(req.Secrets) > 0 {
		w.Key("secrets")
		w.BeginArray()
		for _, s := range req.Secrets {
			w.BeginArray()
			w.String(s.Placeholder)
			w.String(s.Key)
			w.String(s.Encoding)
			w.EndArray()
		}
		w.EndArray()
	}
	w.EndObject()
	return append(wire.EndHead(w.Buf, head), req.Body...)
}

// DecodeRequest decodes shape's result frame. The body aliases frame.
func DecodeRequest(frame []byte) (*Request, error) {
	head, payload, err := wire.SplitFrame(frame)
	if err != nil {
		return nil, wire.Wrap("decode request", err)
	}
	req := &Request{Body: payload}
	r := wire.NewReader(head)
	err = r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "method":
			req.Method, err = r.String()
		case "url":
			req.URL, err = r.String()
		case "path":
			req.Path, err = r.String()
		case "headers":
			req.Headers, err = decodeHeaders(r)
		case "secrets":
			req.Secrets, err = decodeSecrets(r)
		default:
			err = r.Skip()
		}
		return err
	})
	if err == nil {
		err = r.End()
	}
	if err != nil {
		return nil, wire.Wrap("decode request", err)
	}
	return req, nil
}

// AppendJSON appends v, encoded as on_response's result, to dst.
func (v *Verdict) AppendJSON(dst []byte) []byte {
	w := wire.NewWriter(dst)
	w.BeginObject()
	w.StringField("outcome", v.Outcome)
	if v.RetryAfter > 0 {
		w.IntField("retry_after_ms", v.RetryAfter.Milliseconds())
	}
	w.StringFieldOmitEmpty("message", v.Message)
	w.RawFieldOmitEmpty("keep", v.Keep)
	w.EndObject()
	return w.Buf
}

// DecodeVerdict decodes on_response's result.
func DecodeVerdict(b []byte) (*Verdict, error) {
	v := &Verdict{}
	r := wire.NewReader(b)
	err := r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "outcome":
			v.Outcome, err = r.String()
		case "retry_after_ms":
			var ms int64
			ms, err = r.Int()
			v.RetryAfter = time.Duration(ms) * time.Millisecond
		case "message":
			v.Message, err = r.String()
		case "keep":
			v.Keep, err = rawOrNil(r)
		default:
			err = r.Skip()
		}
		return err
	})
	if err == nil {
		err = r.End()
	}
	if err != nil {
		return nil, wire.Wrap("decode verdict", err)
	}
	switch v.Outcome {
	case OutcomeSuccess, OutcomeRetry, OutcomeGiveUp, OutcomeDisable:
	default:
		return nil, errors.New("decode verdict: unknown outcome " + strconv.Quote(v.Outcome))
	}
	return v, nil
}

// AppendError appends err, encoded as an error result, to dst.
func AppendError(dst []byte, err error) []byte {
	e, ok := err.(*Error)
	if !ok {
		e = &Error{Message: err.Error()}
	}
	w := wire.NewWriter(dst)
	w.BeginObject()
	w.StringField("message", e.Message)
	w.BoolField("retryable", e.Retryable)
	w.EndObject()
	return w.Buf
}

// DecodeError decodes an error result. Bytes that are not a well-formed error object still yield an
// Error that quotes them, because the host must report something useful about a misbehaving plugin.
func DecodeError(b []byte) *Error {
	e := &Error{}
	r := wire.NewReader(b)
	err := r.Object(func(key []byte) (err error) {
		switch string(key) {
		case "message":
			e.Message, err = r.String()
		case "retryable":
			e.Retryable, err = r.Bool()
		default:
			err = r.Skip()
		}
		return err
	})
	if err != nil || e.Message == "" {
		const max = 200
		s := string(b)
		if len(s) > max {
			s = s[:max] + "..."
		}
		return &Error{Message: "plugin returned a malformed error: " + strconv.Quote(s)}
	}
	return e
}
