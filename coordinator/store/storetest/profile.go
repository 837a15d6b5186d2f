package storetest

import (
	"errors"
	"slices"

	"github.com/ferry-sync/ferry/coordinator/rules"
	"github.com/ferry-sync/ferry/coordinator/store"
)

// profileTests are the tests of the client's profile.
var profileTests = []struct {
	name string
	run  func(*fixture)
}{
	{"Profile", testProfile},
}

// testProfile: none set reads as the zero Profile; an update applies to
// what is stored and keeps what it does not touch; a profile the rules
// refuse, or an error from fn, changes nothing.
func testProfile(f *fixture) {
	t, s, ctx := f.T, f.s, f.ctx
	if p, err := s.Profile(ctx); err != nil || p.Name != "" || p.RedirectURL != "" || p.AllowedOrigins != nil {
		t.Errorf("Profile before any = %+v, %v; want the zero Profile", p, err)
	}
	_, err := s.UpdateProfile(ctx, func(p *store.Profile) error {
		p.Name, p.RedirectURL = "Lender", "https://app.example.com/done/{companyId}"
		p.WhiteListURLs = []string{"https://app.example.com"}
		return nil
	})
	noErr(f, "UpdateProfile", err)
	got, err := s.UpdateProfile(ctx, func(p *store.Profile) error {
		p.AllowedOrigins = []string{"https://app.example.com"}
		return nil
	})
	noErr(f, "UpdateProfile", err)
	read, err := s.Profile(ctx)
	noErr(f, "Profile", err)
	for _, p := range []store.Profile{got, read} {
		if p.Name != "Lender" || p.RedirectURL != "https://app.example.com/done/{companyId}" ||
			!slices.Equal(p.WhiteListURLs, []string{"https://app.example.com"}) || !slices.Equal(p.AllowedOrigins, []string{"https://app.example.com"}) {
			t.Errorf("after two updates: %+v; want the name, redirect and white list of the first and the origins of the second", p)
		}
	}
	_, err = s.UpdateProfile(ctx, func(p *store.Profile) error {
		p.Name, p.AllowedOrigins = "Changed", []string{"*"}
		return nil
	})
	var fe *rules.FieldError
	if !errors.As(err, &fe) || fe.Field != "allowedOrigins[0]" {
		t.Errorf("UpdateProfile with origin *: %v; want a FieldError on allowedOrigins[0]", err)
	}
	abort := errors.New("abort")
	if _, err := s.UpdateProfile(ctx, func(p *store.Profile) error { p.Name = "Changed"; return abort }); !errors.Is(err, abort) {
		t.Errorf("UpdateProfile whose fn fails: %v; want its error", err)
	}
	if p, err := s.Profile(ctx); err != nil || p.Name != "Lender" || !slices.Equal(p.AllowedOrigins, []string{"https://app.example.com"}) {
		t.Errorf("after refused updates: %+v, %v; want it unchanged", p, err)
	}
}
