package sdk

import "github.com/switchyard/switchyard/sdk/wire"

// AppendJSON appends m as JSON: the manifest export's answer. It writes what encoding/json writes
// for m (the struct tags name the keys; TestManifestJSONIsEncodingJSONs checks it), without
// encoding/json, whose reflection-based encoder a plugin module would otherwise carry for this one
// call (see wire's errors.go). SampleEvent must be valid JSON, as encoding/json requires.
func (m *Manifest) AppendJSON(dst []byte) ([]byte, error) {
	if len(m.SampleEvent) > 0 {
		r := wire.NewReader(m.SampleEvent)
		if err := r.Skip(); err != nil {
			return dst, wire.Wrap("manifest: sample_event", err)
		}
		if err := r.End(); err != nil {
			return dst, wire.Wrap("manifest: sample_event", err)
		}
	}
	w := wire.NewWriter(dst)
	w.BeginObject()
	w.StringField("name", m.Name)
	w.StringField("version", m.Version)
	w.StringFieldOmitEmpty("description", m.Description)
	w.IntField("abi", int64(m.ABI))
	w.Key("events")
	if m.Events == nil {
		w.Null()
	} else {
		w.BeginArray()
		for _, e := range m.Events {
			w.BeginObject()
			w.StringField("type", e.Type)
			w.StringFieldOmitEmpty("name", e.Name)
			w.StringFieldOmitEmpty("group", e.Group)
			w.EndObject()
		}
		w.EndArray()
	}
	if len(m.Hooks) > 0 {
		w.Key("hooks")
		appendStrings(w, m.Hooks)
	}
	if len(m.Options) > 0 {
		w.Key("options")
		w.BeginArray()
		for _, o := range m.Options {
			w.BeginObject()
			w.StringField("name", o.Name)
			w.StringFieldOmitEmpty("description", o.Description)
			w.StringFieldOmitEmpty("default", o.Default)
			if len(o.Values) > 0 {
				w.Key("values")
				appendStrings(w, o.Values)
			}
			w.EndObject()
		}
		w.EndArray()
	}
	w.RawFieldOmitEmpty("sample_event", m.SampleEvent)
	if m.DeliveryTimeoutMS != 0 {
		w.IntField("delivery_timeout_ms", int64(m.DeliveryTimeoutMS))
	}
	if m.MaxResponseBytes != 0 {
		w.IntField("max_response_bytes", int64(m.MaxResponseBytes))
	}
	if m.VerbatimSecrets {
		w.BoolField("verbatim_secrets", true)
	}
	w.EndObject()
	return w.Buf, nil
}

func appendStrings(w *wire.Writer, values []string) {
	w.BeginArray()
	for _, v := range values {
		w.String(v)
	}
	w.EndArray()
}
