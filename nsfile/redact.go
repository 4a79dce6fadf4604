package nsfile

import (
	"encoding/json"
	"net/url"
	"reflect"
	"regexp"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// Redacted replaces the value of a secret key.
const Redacted = "[REDACTED]"

// secretWords mark a key (lowercased) whose value is a secret.
var secretWords = []string{"password", "secret", "token", "apikey", "api_key", "credential", "private_key"}

// dsnPasswordRE finds password=... in key=value connection strings
// ("host=db user=u password=s3cret").
// and in URL queries ("?password=s3cret&x=1").
var dsnPasswordRE = regexp.MustCompile(`(?i)\b(password|pwd)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s;&]+)`)

// userinfoRE finds scheme://user:password@ in strings net/url cannot parse
// (a password holding '/', '#' or '?').
var userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^:@/\s]*):\S*@`)

// RedactConfig returns a deep copy of m in which the value of every key
// naming a secret is "[REDACTED]", and passwords inside connection strings
// (URL userinfo, or password= in key=value strings) read "REDACTED".
// A nil map gives an empty map.
func RedactConfig(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if isSecretKey(k) {
			out[k] = Redacted
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func redactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return RedactConfig(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = redactValue(e)
		}
		return out
	case string:
		return redactString(t)
	}
	return v
}

func redactString(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && hasPassword(u) {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			s = u.String()
		} else {
			s = userinfoRE.ReplaceAllString(s, "${1}:REDACTED@")
		}
	}
	return dsnPasswordRE.ReplaceAllString(s, "${1}=REDACTED")
}

func hasPassword(u *url.URL) bool {
	_, has := u.User.Password()
	return has
}

// isRedactedPlaceholder says whether s is what RedactConfig shows in place
// of a secret: "[REDACTED]", or a connection string whose password reads
// REDACTED where redaction puts it.
func isRedactedPlaceholder(s string) bool {
	if s == Redacted {
		return true
	}
	if !strings.Contains(s, "REDACTED") {
		return false
	}
	other := strings.ReplaceAll(s, "REDACTED", "x")
	return redactString(s) == s && redactString(other) != other
}

// MayHoldSecrets is a quick check of a config's raw JSON: false means
// RedactConfig would change nothing in it (no key or value names a secret
// word, a password or a URL), so callers can skip decoding it. One pass,
// no allocation: it runs for every archived change.
func MayHoldSecrets(raw []byte) bool {
	for i, c := range raw {
		for _, w := range quickWords[c] {
			if hasPrefixFold(raw[i:], w) {
				return true
			}
		}
	}
	return false
}

// quickWords are secretWords, plus what the connection-string rules look
// for ("pwd=", "://"), by their first byte in either case.
var quickWords = func() (t [256][]string) {
	for _, w := range append(append([]string(nil), secretWords...), "pwd", "://") {
		t[w[0]] = append(t[w[0]], w)
		if up := w[0] - ('a' - 'A'); 'a' <= w[0] && w[0] <= 'z' {
			t[up] = append(t[up], w)
		}
	}
	return t
}()

// hasPrefixFold: b starts with the lower-case ASCII word w, ignoring case.
func hasPrefixFold(b []byte, w string) bool {
	if len(b) < len(w) {
		return false
	}
	for j := 0; j < len(w); j++ {
		c := b[j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != w[j] {
			return false
		}
	}
	return true
}

// RedactNamespace returns ns with the values of secret keys of its
// backend_config replaced as RedactConfig does, or ns itself (not a copy)
// when it holds none: what leaves a node (API answers, watch events, the
// archive) never carries a secret.
func RedactNamespace(ns *fsmpb.Namespace) *fsmpb.Namespace {
	raw := ns.GetSpec().GetBackendConfigJson()
	if len(raw) == 0 || !MayHoldSecrets(raw) {
		return ns
	}
	m, err := fsm.ConfigMap(raw)
	if err != nil || m == nil {
		return ns
	}
	red := RedactConfig(m)
	if reflect.DeepEqual(m, red) {
		return ns
	}
	b, err := json.Marshal(red)
	if err != nil {
		return ns
	}
	out := proto.Clone(ns).(*fsmpb.Namespace)
	out.Spec.BackendConfigJson = b
	return out
}
