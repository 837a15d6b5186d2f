package linkcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
)

// SecretName is the name of the store secret (badgerstore.Badger.Secret, and every backend's) that keys
// link URL tokens.
const SecretName = "link-url"

// Links builds and checks the link pages' URLs. A link URL is a
// capability, as Codat's are: whoever holds it may ask for a link code. Its
// token is an HMAC-SHA256, under a secret the store keeps, of what the page
// shows (one connection, or a company's list of them): 256 bits nobody
// can make without the secret, the same on every read of the connection
// (the API shows the URL again each time) and never stored.
type Links struct {
	base   string
	secret []byte
}

// NewLinks returns the Links of a coordinator whose public URL is
// publicURL, keyed with secret.
func NewLinks(publicURL string, secret []byte) *Links {
	return &Links{base: strings.TrimRight(publicURL, "/"), secret: secret}
}

func (l *Links) token(parts ...string) string {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte("ferry-link-url\x00" + strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Key is a key for purpose (a word naming its use: a form's CSRF tokens)
// derived from the coordinator's secret: the same on every replica
// sharing the store, and across restarts.
func (l *Links) Key(purpose string) []byte {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte("ferry-key\x00" + purpose))
	return m.Sum(nil)
}

// check compares a presented token with the right one in constant time;
// an empty or oversized one never matches.
func (l *Links) check(got string, parts ...string) bool {
	if got == "" || len(got) > 128 {
		return false
	}
	return hmac.Equal([]byte(got), []byte(l.token(parts...)))
}

// ConnectionPath is the link page of a connection, without its token.
func ConnectionPath(companyID, connectionID string) string {
	return "/link/" + url.PathEscape(companyID) + "/" + url.PathEscape(connectionID)
}

// CompanyPath is the link page of a company, without its token.
func CompanyPath(companyID string) string { return "/link/" + url.PathEscape(companyID) }

// ConnectionToken is the token of a connection's link page.
func (l *Links) ConnectionToken(companyID, connectionID string) string {
	return l.token("connection", companyID, connectionID)
}

// CompanyToken is the token of a company's link page.
func (l *Links) CompanyToken(companyID string) string { return l.token("company", companyID) }

// ConnectionURL is a connection's linkUrl: its page with its token.
func (l *Links) ConnectionURL(companyID, connectionID string) string {
	return l.base + ConnectionPath(companyID, connectionID) + "?token=" + l.ConnectionToken(companyID, connectionID)
}

// CompanyURL is a company's redirect: its page with its token.
func (l *Links) CompanyURL(companyID string) string {
	return l.base + CompanyPath(companyID) + "?token=" + l.CompanyToken(companyID)
}

// BareConnectionURL is a connection's page without its token: it names the
// page and opens nothing. Support keys see this one.
func (l *Links) BareConnectionURL(companyID, connectionID string) string {
	return l.base + ConnectionPath(companyID, connectionID)
}

// BareCompanyURL is a company's page without its token.
func (l *Links) BareCompanyURL(companyID string) string { return l.base + CompanyPath(companyID) }

// CheckConnection reports whether token opens the connection's page.
func (l *Links) CheckConnection(companyID, connectionID, token string) bool {
	return l.check(token, "connection", companyID, connectionID)
}

// CheckCompany reports whether token opens the company's page.
func (l *Links) CheckCompany(companyID, token string) bool {
	return l.check(token, "company", companyID)
}

// Base is the coordinator's public URL the links are built on.
func (l *Links) Base() string { return l.base }
