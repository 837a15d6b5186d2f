package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/webhook"
)

// TestReadmeRecipe checks the README's verification snippet, copied here
// verbatim, against Sign.
func TestReadmeRecipe(t *testing.T) {
	body := []byte(`{"id":"ev-1","eventType":"read.completed"}`)
	now := time.Now()
	h := webhook.Sign("whsec_test", now, body)
	if !verify("whsec_test", h, body, now) {
		t.Errorf("the README's recipe refuses a good signature")
	}
	if verify("whsec_test", h, append(body, ' '), now) || verify("other", h, body, now) || verify("whsec_test", h, body, now.Add(time.Hour)) {
		t.Errorf("the README's recipe accepts a bad signature")
	}
}

func verify(secret, header string, body []byte, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		if k == "t" {
			ts = v
		} else if k == "v1" {
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return hmac.Equal([]byte(sig), []byte(hex.EncodeToString(mac.Sum(nil))))
}
