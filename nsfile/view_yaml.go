package nsfile

import (
	"encoding/json"

	"go.yaml.in/yaml/v3"
)

// ConfigView is backend_config as a View shows it: the stored JSON object,
// numbers kept as json.Number so no precision is lost. In JSON they print
// as numbers; MarshalYAML makes them YAML numbers too (yaml.v3 would print a
// json.Number, a string type, as a quoted string), so YAML output parses
// back to the same values.
type ConfigView map[string]any

// MarshalYAML renders every json.Number as a plain YAML int or float.
func (c ConfigView) MarshalYAML() (any, error) {
	return yamlValue(map[string]any(c)), nil
}

func yamlValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = yamlValue(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = yamlValue(e)
		}
		return out
	case json.Number:
		// JSON's number grammar is a subset of YAML 1.2's int and float,
		// so the text is printed as written, untagged.
		tag := tagFloat
		if _, err := t.Int64(); err == nil {
			tag = tagInt
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}
	}
	return v
}
