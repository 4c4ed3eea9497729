package sdk

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/switchyard/switchyard/sdk/wire"
)

// fill sets every field of the struct v points to, recursively, to a value that is not its zero,
// so that a field AppendJSON leaves out shows as a difference from encoding/json's output.
func fill(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch {
		case f.Type() == reflect.TypeFor[json.RawMessage]():
			f.SetBytes([]byte(` {"type": "client.create", "data": {"n": 1}} `))
		case f.Kind() == reflect.String:
			f.SetString(name + ` <é> "quoted" \ ` + "\x01\xff")
		case f.Kind() == reflect.Int:
			f.SetInt(int64(7 + i))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{name + "-1", name + "-2"}))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			s := reflect.MakeSlice(f.Type(), 2, 2)
			fill(t, s.Index(0))
			f.Set(s) // the second element stays zero: its omitempty fields are left out
		default:
			t.Fatalf("field %s of %s: kind %s, which the test cannot fill: teach fill, and AppendJSON", name, v.Type(), f.Kind())
		}
	}
}

// sameJSON fails unless a and b are the same JSON value.
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: AppendJSON wrote invalid JSON %s: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\nAppendJSON    %s\nencoding/json %s", what, got, want)
	}
}

func TestManifestJSONIsEncodingJSONs(t *testing.T) {
	var full Manifest
	fill(t, reflect.ValueOf(&full).Elem())
	cases := map[string]Manifest{
		"every field set":  full,
		"nothing set":      {},
		"no events at all": {Name: "x", Version: "1", Events: []EventType{}},
	}
	for name, m := range cases {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.AppendJSON([]byte("prefix"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(got[:6]) != "prefix" {
			t.Fatalf("%s: AppendJSON did not append: %q", name, got)
		}
		sameJSON(t, name, got[6:], want)
	}
}

func TestManifestJSONRefusesASampleEventThatIsNotJSON(t *testing.T) {
	for _, sample := range []string{`{"type":`, `{} {}`, `nope`} {
		m := Manifest{Name: "x", Version: "1", SampleEvent: json.RawMessage(sample)}
		if _, jsonErr := json.Marshal(m); jsonErr == nil {
			t.Fatalf("encoding/json took sample %q: the case tests nothing", sample)
		}
		if _, err := m.AppendJSON(nil); !errors.Is(err, wire.ErrSyntax) {
			t.Fatalf("sample %q: err %v, want one wrapping wire.ErrSyntax", sample, err)
		}
	}
}

// The manifest export answers with the manifest the host reads, ABI version and hooks filled in.
func TestManifestExportAnswersTheCompleteManifest(t *testing.T) {
	p := Plugin{
		Manifest:    Manifest{Name: "demo", Version: "1.2.0", Events: []EventType{{Type: "*"}}},
		Shape:       func(*Input) (*Request, error) { return &Request{}, nil },
		OnSubscribe: func(*Input) (*Request, error) { return &Request{}, nil },
	}
	got, isError := p.Call(ExportManifest, nil, nil, nil)
	if isError {
		t.Fatalf("manifest export failed: %s", got)
	}
	want, err := json.Marshal(p.CompleteManifest())
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "manifest export", got, want)
	var m Manifest
	if err := json.Unmarshal(got, &m); err != nil || m.ABI != ABIVersion || len(m.Hooks) != 1 || m.Hooks[0] != HookOnSubscribe {
		t.Fatalf("manifest export gave %s (%v), want ABI %d and hook %s", got, err, ABIVersion, HookOnSubscribe)
	}
}
