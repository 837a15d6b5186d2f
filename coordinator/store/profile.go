package store

import "context"

// Profile is the client's profile, Codat's Profile, with the origins
// browsers may call the API from (Codat's CORS settings): one value, so
// that the link page and the API read both in one look-up.
type Profile struct {
	Name    string `json:"name"`
	LogoURL string `json:"logoUrl"`
	IconURL string `json:"iconUrl"`
	// RedirectURL is where the link page sends the end user once the
	// agent is linked ("{companyId}" filled in), when its origin is one
	// of WhiteListURLs'.
	RedirectURL        string   `json:"redirectUrl"`
	WhiteListURLs      []string `json:"whiteListUrls"`
	ConfirmCompanyName bool     `json:"confirmCompanyName"`
	// AllowedOrigins are the origins ("https://app.example.com") whose
	// browser pages may call the API.
	AllowedOrigins []string `json:"allowedOrigins"`
}

// Kind makes a Profile a dump item; a dump holds it only when it was set.
func (Profile) Kind() Kind { return KindProfile }

// ProfileStore keeps the client's profile.
type ProfileStore interface {
	// Profile returns the client's profile; the zero Profile when none was
	// set.
	Profile(ctx context.Context) (Profile, error)
	// UpdateProfile applies fn to the stored profile (the zero Profile when
	// none was set) and stores the result atomically; the result must
	// pass rules.CheckProfile. An error from fn aborts the update.
	UpdateProfile(ctx context.Context, fn func(*Profile) error) (Profile, error)
}
