package rules

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// This file holds the rules of the client's profile: which URLs and
// origins it may hold, where the link page may send the end user once
// linked, and which browser origins may call the API.

// Bounds of a profile.
const (
	// MaxProfileURLs bounds whiteListUrls and allowedOrigins, each.
	MaxProfileURLs = 50
	// maxURL bounds each URL or origin of a profile.
	maxURL = 2048
	// maxProfileName bounds the profile's name.
	maxProfileName = 200
)

// companyIDField is the placeholder of a redirect URL that the link page
// fills in with the company's id.
const companyIDField = "{companyId}"

// CheckProfile refuses a profile with a name too long, a logo, icon,
// redirect or white-listed URL that is not an absolute http(s) URL, or
// an allowed origin that is not an origin; the FieldError names the field.
func CheckProfile(p store.Profile) error {
	if utf8.RuneCountInString(p.Name) > maxProfileName {
		return &FieldError{"name", fmt.Sprintf("must be at most %d characters", maxProfileName)}
	}
	for field, raw := range map[string]string{"logoUrl": p.LogoURL, "iconUrl": p.IconURL} {
		if raw == "" {
			continue
		}
		if _, err := webOrigin(raw); err != nil {
			return &FieldError{field, err.Error()}
		}
	}
	if p.RedirectURL != "" {
		if _, err := redirectOrigin(p.RedirectURL); err != nil {
			return &FieldError{"redirectUrl", err.Error()}
		}
	}
	if len(p.WhiteListURLs) > MaxProfileURLs {
		return &FieldError{"whiteListUrls", fmt.Sprintf("must hold at most %d URLs", MaxProfileURLs)}
	}
	for i, raw := range p.WhiteListURLs {
		if _, err := webOrigin(raw); err != nil {
			return &FieldError{fmt.Sprintf("whiteListUrls[%d]", i), err.Error()}
		}
	}
	return CheckOrigins(p.AllowedOrigins)
}

// CheckOrigins refuses a list of CORS origins longer than MaxProfileURLs
// or with one that is not exactly an origin, in lower case:
// "https://app.example.com" or "http://localhost:3000", no path, no "*".
func CheckOrigins(origins []string) error {
	if len(origins) > MaxProfileURLs {
		return &FieldError{"allowedOrigins", fmt.Sprintf("must hold at most %d origins", MaxProfileURLs)}
	}
	for i, o := range origins {
		field := fmt.Sprintf("allowedOrigins[%d]", i)
		origin, err := webOrigin(o)
		if err != nil {
			return &FieldError{field, err.Error()}
		}
		if o != origin || o != strings.ToLower(o) {
			return &FieldError{field, fmt.Sprintf("must be an origin in lower case, scheme://host[:port] with no path, such as %q", strings.ToLower(origin))}
		}
	}
	return nil
}

// LinkRedirect is where the link page sends the end user of company
// companyID once the agent is linked: the profile's redirect URL with
// {companyId} filled in, when one is set and its origin is one of the
// white-listed URLs'; false otherwise.
func LinkRedirect(p store.Profile, companyID string) (string, bool) {
	if p.RedirectURL == "" {
		return "", false
	}
	origin, err := redirectOrigin(p.RedirectURL)
	if err != nil {
		return "", false
	}
	listed := slices.ContainsFunc(p.WhiteListURLs, func(raw string) bool {
		o, err := webOrigin(raw)
		return err == nil && strings.EqualFold(o, origin)
	})
	if !listed {
		return "", false
	}
	return strings.ReplaceAll(p.RedirectURL, companyIDField, url.PathEscape(companyID)), true
}

// OriginAllowed reports whether a browser page of origin (a request's
// Origin header) may call the API: it is one of the profile's allowed
// origins. "null" and "" never are.
func OriginAllowed(p store.Profile, origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	return slices.Contains(p.AllowedOrigins, strings.ToLower(origin))
}

// webOrigin is the origin (scheme://host[:port]) of an absolute http or
// https URL; an error says what is wrong with another.
func webOrigin(raw string) (string, error) {
	if len(raw) > maxURL {
		return "", fmt.Errorf("must be at most %d characters", maxURL)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", fmt.Errorf("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("must be an http or https URL")
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("must be an absolute URL with a host")
	case u.User != nil:
		return "", fmt.Errorf("must not hold a user name or password")
	case strings.ContainsAny(u.Host, "{}*"):
		return "", fmt.Errorf("must name its host in full (no placeholder or wildcard)")
	}
	return u.Scheme + "://" + u.Host, nil
}

// redirectOrigin is the origin of a redirect URL, which may hold
// {companyId} in its path or query but nowhere else.
func redirectOrigin(raw string) (string, error) {
	origin, err := webOrigin(strings.ReplaceAll(raw, companyIDField, "c"))
	if err != nil {
		return "", err
	}
	if len(raw) < len(origin) || !strings.EqualFold(raw[:len(origin)], origin) {
		return "", fmt.Errorf("may hold %s in its path or query only", companyIDField)
	}
	if rest := strings.ReplaceAll(raw, companyIDField, ""); strings.ContainsAny(rest, "{}") {
		return "", fmt.Errorf("may hold no placeholder but %s", companyIDField)
	}
	return origin, nil
}
