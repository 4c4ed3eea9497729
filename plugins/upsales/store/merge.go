package store

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MergePatch applies patch to saved as a JSON merge patch (RFC 7386): the patch's keys replace the
// saved ones, recursively into objects, and a key set to null is removed. A callback's appData is
// applied this way, so an app that saves {"externalId": "abc"} keeps whatever else it saved before,
// and can remove a key by sending it as null. Numbers keep their exact text.
func MergePatch(saved, patch json.RawMessage) (json.RawMessage, error) {
	var target any = map[string]any{}
	if len(bytes.TrimSpace(saved)) > 0 {
		v, err := decodeNumbers(saved)
		if err != nil {
			return nil, fmt.Errorf("saved app data: %w", err)
		}
		target = v
	}
	p, err := decodeNumbers(patch)
	if err != nil {
		return nil, fmt.Errorf("app data: %w", err)
	}
	return json.Marshal(mergeValue(target, p))
}

func decodeNumbers(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func mergeValue(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergeValue(t[k], v)
	}
	return t
}
