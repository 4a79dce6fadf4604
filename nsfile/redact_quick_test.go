package nsfile

import (
	"reflect"
	"testing"
)

func TestMayHoldSecretsAgreesWithRedactConfig(t *testing.T) {
	for _, raw := range []string{
		`{"postgres":{"schema":"s","table_name":"t"}}`,
		`{"kafka":{"partitions":3,"configs":{"cleanup.policy":"compact"}}}`,
		`{"redis":{"AUTH_TOKEN":"x"}}`,
		`{"postgres":{"connection_string":"postgres://u:p@h/db"}}`,
		`{"x":{"dsn":"host=h pwd=s3cret"}}`,
		`{"x":{"list":["a",{"client_secret":"y"}]}}`,
	} {
		m := configMap([]byte(raw))
		changed := !reflect.DeepEqual(m, RedactConfig(m))
		if changed != MayHoldSecrets([]byte(raw)) {
			t.Errorf("%s: RedactConfig changes it: %v, MayHoldSecrets says %v", raw, changed, !changed)
		}
	}
}

func BenchmarkMayHoldSecrets(b *testing.B) {
	raw := []byte(`{"postgres":{"schema":"public","table_name":"bench_table","pool_size":20,"padding":"` + string(make([]byte, 400)) + `"}}`)
	for i := range raw {
		if raw[i] == 0 {
			raw[i] = 'x'
		}
	}
	for b.Loop() {
		if MayHoldSecrets(raw) {
			b.Fatal("no secret there")
		}
	}
}
