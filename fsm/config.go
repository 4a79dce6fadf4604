package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// backend_config travels and is stored as canonical JSON: an object, keys
// sorted (encoding/json sorts map keys), numbers exactly as written. Equal
// configurations are equal bytes, so an identical re-apply is Unchanged.

// ConfigJSON renders a backend_config mapping canonically (nil when empty).
func ConfigJSON(m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("fsm: backend_config: %w", err)
	}
	return b, nil
}

// ConfigMap parses backend_config JSON (nil map when empty). Numbers are
// json.Number, so no precision is lost.
func ConfigMap(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("fsm: backend_config is not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("fsm: backend_config has trailing data")
	}
	return m, nil
}

// CanonicalConfig re-renders backend_config JSON canonically.
func CanonicalConfig(b []byte) ([]byte, error) {
	m, err := ConfigMap(b)
	if err != nil {
		return nil, err
	}
	return ConfigJSON(m)
}
