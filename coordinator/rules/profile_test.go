package rules

import (
	"errors"
	"testing"

	"github.com/ferry-sync/ferry/coordinator/store"
)

func TestLinkRedirect(t *testing.T) {
	tests := []struct {
		name, redirect string
		white          []string
		want           string // "" for no redirect
	}{
		{"listed", "https://app.example.com/linked/{companyId}?c={companyId}", []string{"https://app.example.com"}, "https://app.example.com/linked/co%20x?c=co%20x"},
		{"listed with a path", "https://app.example.com/x", []string{"https://app.example.com/other/page"}, "https://app.example.com/x"},
		{"host case", "https://APP.example.com/x", []string{"https://app.example.com"}, "https://APP.example.com/x"},
		{"none set", "", []string{"https://app.example.com"}, ""},
		{"not listed", "https://app.example.com/x", []string{"https://app.example.org"}, ""},
		{"other scheme", "http://app.example.com/x", []string{"https://app.example.com"}, ""},
		{"other port", "https://app.example.com:8443/x", []string{"https://app.example.com"}, ""},
		{"suffix host", "https://app.example.com.evil.test/x", []string{"https://app.example.com"}, ""},
		{"placeholder in host", "https://{companyId}.example.com/", []string{"https://c.example.com"}, ""},
		{"not http", "javascript:alert(1)", []string{"https://app.example.com"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LinkRedirect(store.Profile{RedirectURL: tt.redirect, WhiteListURLs: tt.white}, "co x")
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("LinkRedirect = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

func TestOriginAllowed(t *testing.T) {
	p := store.Profile{AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000"}}
	for origin, want := range map[string]bool{
		"https://app.example.com": true, "HTTPS://APP.EXAMPLE.COM": true, "http://localhost:3000": true,
		"http://app.example.com": false, "https://app.example.com:443": false, "https://app.example.com.evil.test": false,
		"null": false, "": false, "*": false,
	} {
		if got := OriginAllowed(p, origin); got != want {
			t.Errorf("OriginAllowed(%q) = %v, want %v", origin, got, want)
		}
	}
	if OriginAllowed(store.Profile{AllowedOrigins: []string{"null"}}, "null") {
		t.Error(`"null" is allowed`)
	}
}

func TestCheckProfile(t *testing.T) {
	ok := store.Profile{Name: "n", LogoURL: "https://cdn.example.com/l.png", RedirectURL: "https://a.example.com/{companyId}",
		WhiteListURLs: []string{"https://a.example.com"}, AllowedOrigins: []string{"https://a.example.com", "http://localhost:3000"}}
	if err := CheckProfile(ok); err != nil {
		t.Fatalf("a good profile: %v", err)
	}
	for field, edit := range map[string]func(*store.Profile){
		"logoUrl":           func(p *store.Profile) { p.LogoURL = "data:image/png;base64,AAAA" },
		"redirectUrl":       func(p *store.Profile) { p.RedirectURL = "//a.example.com/x" },
		"whiteListUrls[0]":  func(p *store.Profile) { p.WhiteListURLs = []string{"https://u:p@a.example.com"} },
		"allowedOrigins[1]": func(p *store.Profile) { p.AllowedOrigins = []string{"https://a.example.com", "https://a.example.com/"} },
		"allowedOrigins":    func(p *store.Profile) { p.AllowedOrigins = make([]string, MaxProfileURLs+1) },
	} {
		p := ok
		edit(&p)
		var fe *FieldError
		if err := CheckProfile(p); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("CheckProfile with a bad %s: %v; want a FieldError naming it", field, err)
		}
	}
}
