package sdk

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/switchyard/switchyard/sdk/wire"
)

// ABI version 2's input head is a run of fields, each a tag byte, the value's length as a uvarint,
// and the value: a string's bytes, raw JSON's bytes, an integer as 8 little-endian bytes, a bool as
// one byte. Version 1's JSON head cost the guest a scan of every byte (about 9 µs of a 23 µs shape
// with the standard plugin, in BenchmarkABIOverhead); this one costs a step per field. Empty strings,
// absent values and raw JSON that is null are left out, as the JSON head leaves them out; but a
// user's ID and a source's type are written even when empty, since they mark the user or source
// there, and so are option and header values, which always follow their name. A reader skips tags
// it does not know (except between a name and its value), so either side may add fields within the
// version. No tag is '{' (TestNoTagIsAnOpeningBrace), which is how DecodeInput tells the two heads
// apart.
const (
	tagEventID         byte = 1
	tagEventType       byte = 2
	tagEventAccountID  byte = 3
	tagEntityType      byte = 4
	tagEntityID        byte = 5
	tagOccurredAt      byte = 6  // unix milliseconds
	tagUserID          byte = 8  // present whenever the event has a user
	tagUserName        byte = 9  //
	tagUserEmail       byte = 10 //
	tagSourceType      byte = 11 // present whenever the event has a source
	tagSourceInfo      byte = 12 // raw JSON
	tagPrevious        byte = 13 // raw JSON
	tagSubID           byte = 20
	tagSubAccountID    byte = 21
	tagSubAppID        byte = 22
	tagSubURL          byte = 23
	tagSubFormat       byte = 24
	tagSubEntityKey    byte = 25
	tagSubHasSecret    byte = 26
	tagOptionName      byte = 27 // followed by its tagOptionValue
	tagOptionValue     byte = 28
	tagAccountID       byte = 30
	tagAccountName     byte = 31
	tagAccountExtID    byte = 32
	tagAppID           byte = 35
	tagAppName         byte = 36
	tagAppURL          byte = 37
	tagAppExtID        byte = 38
	tagDeliveryID      byte = 40
	tagAttempt         byte = 41
	tagDeliveryKind    byte = 42
	tagCallbackURL     byte = 43
	tagConfirmURL      byte = 44
	tagUnsubscribeURL  byte = 45
	tagCertificateURL  byte = 46
	tagState           byte = 50 // raw JSON
	tagResponseStatus  byte = 60 // present whenever the input has a response
	tagResponseHdrName byte = 61 // followed by its tagResponseHdrValue
	tagResponseHdrVal  byte = 62
)

// headTags lists every tag, for the test that none is '{'.
var headTags = []byte{tagEventID, tagEventType, tagEventAccountID, tagEntityType, tagEntityID, tagOccurredAt,
	tagUserID, tagUserName, tagUserEmail, tagSourceType, tagSourceInfo, tagPrevious, tagSubID, tagSubAccountID,
	tagSubAppID, tagSubURL, tagSubFormat, tagSubEntityKey, tagSubHasSecret, tagOptionName, tagOptionValue,
	tagAccountID, tagAccountName, tagAccountExtID, tagAppID, tagAppName, tagAppURL, tagAppExtID, tagDeliveryID,
	tagAttempt, tagDeliveryKind, tagCallbackURL, tagConfirmURL, tagUnsubscribeURL, tagCertificateURL, tagState,
	tagResponseStatus, tagResponseHdrName, tagResponseHdrVal}

func appendField(dst []byte, tag byte, v string) []byte {
	if !utf8.ValidString(v) {
		// The ABI carries text, as version 1's JSON head made it: a plugin that signed an id's
		// raw bytes would sign what no receiver sees.
		v = string(wire.ValidUTF8([]byte(v)))
	}
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

func appendFieldOmitEmpty(dst []byte, tag byte, v string) []byte {
	if v == "" {
		return dst
	}
	return appendField(dst, tag, v)
}

// appendRawField writes raw JSON as the JSON head's reader gives it to a plugin: without the
// space around it, and not at all when it is null.
func appendRawField(dst []byte, tag byte, v []byte) []byte {
	v = bytes.Trim(v, " \t\r\n")
	if len(v) == 0 || string(v) == "null" {
		return dst
	}
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

func appendIntField(dst []byte, tag byte, v int64) []byte {
	dst = append(dst, tag, 8)
	return binary.LittleEndian.AppendUint64(dst, uint64(v))
}

func (in *Input) appendBinaryHead(dst []byte) []byte {
	e := &in.Event
	dst = appendFieldOmitEmpty(dst, tagEventID, e.ID)
	dst = appendFieldOmitEmpty(dst, tagEventType, e.Type)
	dst = appendFieldOmitEmpty(dst, tagEventAccountID, e.AccountID)
	dst = appendFieldOmitEmpty(dst, tagEntityType, e.Entity.Type)
	dst = appendFieldOmitEmpty(dst, tagEntityID, e.Entity.ID)
	if !e.OccurredAt.IsZero() {
		dst = appendIntField(dst, tagOccurredAt, e.OccurredAt.UnixMilli())
	}
	if u := e.User; u != nil {
		dst = appendField(dst, tagUserID, u.ID)
		dst = appendFieldOmitEmpty(dst, tagUserName, u.Name)
		dst = appendFieldOmitEmpty(dst, tagUserEmail, u.Email)
	}
	if src := e.Source; src != nil {
		dst = appendField(dst, tagSourceType, src.Type)
		dst = appendRawField(dst, tagSourceInfo, src.Info)
	}
	dst = appendRawField(dst, tagPrevious, e.Previous)

	s := &in.Subscription
	dst = appendFieldOmitEmpty(dst, tagSubID, s.ID)
	dst = appendFieldOmitEmpty(dst, tagSubAccountID, s.AccountID)
	dst = appendFieldOmitEmpty(dst, tagSubAppID, s.AppID)
	dst = appendFieldOmitEmpty(dst, tagSubURL, s.URL)
	dst = appendFieldOmitEmpty(dst, tagSubFormat, s.Format)
	dst = appendFieldOmitEmpty(dst, tagSubEntityKey, s.EntityKey)
	if s.HasSecret {
		dst = append(dst, tagSubHasSecret, 1, 1)
	}
	if len(s.Options) > 0 {
		// Sorted, so that the same input is always the same bytes.
		names := make([]string, 0, len(s.Options))
		for name := range s.Options {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			dst = appendField(dst, tagOptionName, name)
			dst = appendField(dst, tagOptionValue, s.Options[name])
		}
	}

	dst = appendFieldOmitEmpty(dst, tagAccountID, in.Account.ID)
	dst = appendFieldOmitEmpty(dst, tagAccountName, in.Account.Name)
	if in.Account.ExternalID != 0 {
		dst = appendIntField(dst, tagAccountExtID, in.Account.ExternalID)
	}
	dst = appendFieldOmitEmpty(dst, tagAppID, in.App.ID)
	dst = appendFieldOmitEmpty(dst, tagAppName, in.App.Name)
	dst = appendFieldOmitEmpty(dst, tagAppURL, in.App.URL)
	if in.App.ExternalID != 0 {
		dst = appendIntField(dst, tagAppExtID, in.App.ExternalID)
	}

	d := &in.Delivery
	dst = appendFieldOmitEmpty(dst, tagDeliveryID, d.ID)
	if d.Attempt != 0 {
		dst = appendIntField(dst, tagAttempt, int64(d.Attempt))
	}
	dst = appendFieldOmitEmpty(dst, tagDeliveryKind, d.Kind)
	dst = appendFieldOmitEmpty(dst, tagCallbackURL, d.CallbackURL)
	dst = appendFieldOmitEmpty(dst, tagConfirmURL, d.ConfirmURL)
	dst = appendFieldOmitEmpty(dst, tagUnsubscribeURL, d.UnsubscribeURL)
	dst = appendFieldOmitEmpty(dst, tagCertificateURL, d.CertificateURL)

	dst = appendRawField(dst, tagState, in.State)

	if r := in.Response; r != nil {
		dst = appendIntField(dst, tagResponseStatus, int64(r.Status))
		for _, h := range r.Headers {
			dst = appendField(dst, tagResponseHdrName, h.Name)
			dst = appendField(dst, tagResponseHdrVal, h.Value)
		}
	}
	return dst
}

// decodeBinaryHead reads a version 2 head into in. Strings are cut from one copy of the head, so
// that they outlive the frame for the price of a single allocation; raw JSON is copied on its own,
// as decodeJSONHead copies it.
func (in *Input) decodeBinaryHead(head []byte) error {
	shared := string(head)
	var optionName, headerName string
	pendingOption, pendingHeader := false, false
	for i := 0; i < len(head); {
		tag := head[i]
		n, size := binary.Uvarint(head[i+1:])
		if size <= 0 || n > uint64(len(head)-i-1-size) {
			return wire.Detail(wire.ErrSyntax, "field "+strconv.Itoa(int(tag))+" at byte "+strconv.Itoa(i)+" has a bad length")
		}
		start := i + 1 + size
		end := start + int(n)
		i = end
		str := shared[start:end]
		raw := head[start:end]
		var integer int64
		switch tag {
		case tagOccurredAt, tagAccountExtID, tagAppExtID, tagAttempt, tagResponseStatus:
			if len(raw) != 8 {
				return wire.Detail(wire.ErrSyntax, "field "+strconv.Itoa(int(tag))+" is an integer of "+strconv.Itoa(len(raw))+" bytes, want 8")
			}
			integer = int64(binary.LittleEndian.Uint64(raw))
		}
		if pendingOption && tag != tagOptionValue || pendingHeader && tag != tagResponseHdrVal {
			return wire.Detail(wire.ErrSyntax, "a name without its value before field "+strconv.Itoa(int(tag)))
		}
		switch tag {
		case tagEventID:
			in.Event.ID = str
		case tagEventType:
			in.Event.Type = str
		case tagEventAccountID:
			in.Event.AccountID = str
		case tagEntityType:
			in.Event.Entity.Type = str
		case tagEntityID:
			in.Event.Entity.ID = str
		case tagOccurredAt:
			in.Event.OccurredAt = time.UnixMilli(integer).UTC()
		case tagUserID, tagUserName, tagUserEmail:
			if in.Event.User == nil {
				in.Event.User = &User{}
			}
			switch tag {
			case tagUserID:
				in.Event.User.ID = str
			case tagUserName:
				in.Event.User.Name = str
			default:
				in.Event.User.Email = str
			}
		case tagSourceType, tagSourceInfo:
			if in.Event.Source == nil {
				in.Event.Source = &Source{}
			}
			if tag == tagSourceType {
				in.Event.Source.Type = str
			} else {
				in.Event.Source.Info = append([]byte(nil), raw...)
			}
		case tagPrevious:
			in.Event.Previous = append([]byte(nil), raw...)
		case tagSubID:
			in.Subscription.ID = str
		case tagSubAccountID:
			in.Subscription.AccountID = str
		case tagSubAppID:
			in.Subscription.AppID = str
		case tagSubURL:
			in.Subscription.URL = str
		case tagSubFormat:
			in.Subscription.Format = str
		case tagSubEntityKey:
			in.Subscription.EntityKey = str
		case tagSubHasSecret:
			in.Subscription.HasSecret = len(raw) == 1 && raw[0] == 1
		case tagOptionName:
			optionName, pendingOption = str, true
		case tagOptionValue:
			if !pendingOption {
				return wire.Detail(wire.ErrSyntax, "an option value without its name")
			}
			if in.Subscription.Options == nil {
				in.Subscription.Options = map[string]string{}
			}
			in.Subscription.Options[optionName] = str
			pendingOption = false
		case tagAccountID:
			in.Account.ID = str
		case tagAccountName:
			in.Account.Name = str
		case tagAccountExtID:
			in.Account.ExternalID = integer
		case tagAppID:
			in.App.ID = str
		case tagAppName:
			in.App.Name = str
		case tagAppURL:
			in.App.URL = str
		case tagAppExtID:
			in.App.ExternalID = integer
		case tagDeliveryID:
			in.Delivery.ID = str
		case tagAttempt:
			in.Delivery.Attempt = int(integer)
		case tagDeliveryKind:
			in.Delivery.Kind = str
		case tagCallbackURL:
			in.Delivery.CallbackURL = str
		case tagConfirmURL:
			in.Delivery.ConfirmURL = str
		case tagUnsubscribeURL:
			in.Delivery.UnsubscribeURL = str
		case tagCertificateURL:
			in.Delivery.CertificateURL = str
		case tagState:
			in.State = append([]byte(nil), raw...)
		case tagResponseStatus:
			if in.Response == nil {
				in.Response = &Response{}
			}
			in.Response.Status = int(integer)
		case tagResponseHdrName:
			headerName, pendingHeader = str, true
		case tagResponseHdrVal:
			if !pendingHeader {
				return wire.Detail(wire.ErrSyntax, "a header value without its name")
			}
			if in.Response == nil {
				in.Response = &Response{}
			}
			in.Response.Headers = append(in.Response.Headers, Header{Name: headerName, Value: str})
			pendingHeader = false
		}
	}
	if pendingOption || pendingHeader {
		return wire.Detail(wire.ErrSyntax, "the head ends with a name without its value")
	}
	return nil
}
