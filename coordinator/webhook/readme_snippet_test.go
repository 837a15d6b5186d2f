package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/coordinator/webhook"
)

// TestReadmeRecipe checks the verification snippet of docs/api.md, copied
// here verbatim (TestRecipeIsTheDocs holds the copy to it), against Sign.
func TestReadmeRecipe(t *testing.T) {
	body := []byte(`{"id":"ev-1","eventType":"read.completed"}`)
	now := time.Now()
	h := webhook.Sign("whsec_test", now, body)
	if !verify("whsec_test", h, body, now) {
		t.Errorf("the docs' recipe refuses a good signature")
	}
	if verify("whsec_test", h, append(body, ' '), now) || verify("other", h, body, now) || verify("whsec_test", h, body, now.Add(time.Hour)) {
		t.Errorf("the docs' recipe accepts a bad signature")
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

// TestRecipeIsTheDocs: the Go block of docs/api.md is verify, as above.
func TestRecipeIsTheDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```go\n")
	block, _, _ = strings.Cut(block, "```")
	src, err := os.ReadFile("readme_snippet_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, copied, _ := strings.Cut(string(src), "\nfunc verify(")
	copied, _, _ = strings.Cut(copied, "\n}\n")
	copied = "func verify(" + copied + "\n}\n"
	if !ok || block != copied {
		t.Errorf("docs/api.md's Go block is not verify of this file:\n%s\nwant:\n%s", block, copied)
	}
}
