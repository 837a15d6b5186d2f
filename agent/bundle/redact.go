package bundle

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// removed replaces a secret in a bundle.
const removed = "[removed]"

// secretKeys are the parts of a config key that name a secret, matched
// without regard to case: the agent's credential today, and any password,
// token or key a later field holds.
var secretKeys = []string{"credential", "password", "secret", "token", "apikey", "privatekey"}

// Redact returns the JSON document raw with every secret removed: the
// value of each key that names one (secretKeys), and the password of each
// URL with credentials (a proxy's, say).
func Redact(raw []byte) ([]byte, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(redact(v), "", "  ")
	return append(out, '\n'), err
}

func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if isSecretKey(k) {
				x[k] = removed
				continue
			}
			x[k] = redact(val)
		}
	case []any:
		for i := range x {
			x[i] = redact(x[i])
		}
	case string:
		return redactURL(x)
	}
	return v
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// redactURL removes the user information of a URL that has any.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil || u.Host == "" {
		return s
	}
	u.User = url.User(removed)
	return u.String()
}
