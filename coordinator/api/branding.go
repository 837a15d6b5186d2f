package api

import (
	"net/http"

	"github.com/ferry-sync/ferry/shared/platform"
)

// brandingView is Codat's Branding: every image is one of the
// coordinator's own static files (GET /static/{file}), never an outside
// URL.
type brandingView struct {
	Logo     brandingPair `json:"logo"`
	Button   brandingPair `json:"button"`
	SourceID string       `json:"sourceId"`
}

// brandingPair is Codat's brandingLogo {full, square} or brandingButton
// {default, hover}; each is set for its own kind only.
type brandingPair struct {
	Full    *brandingImage `json:"full,omitempty"`
	Square  *brandingImage `json:"square,omitempty"`
	Default *brandingImage `json:"default,omitempty"`
	Hover   *brandingImage `json:"hover,omitempty"`
}

type brandingImage struct {
	Image imageReference `json:"image"`
}

type imageReference struct {
	Src string `json:"src"`
	Alt string `json:"alt"`
}

func (s *Server) getBranding(w http.ResponseWriter, r *http.Request) error {
	in, ok := platform.Lookup(r.PathValue("platformKey"))
	if !ok {
		return errorf(http.StatusNotFound, CodeNotFound, "no integration %q; valid: %s",
			truncate(r.PathValue("platformKey"), 64), integrationKeys())
	}
	image := func(file, alt string) *brandingImage {
		return &brandingImage{Image: imageReference{Src: s.publicURL + "/static/" + file, Alt: alt}}
	}
	logo := image(in.Key+".svg", in.Name+" logo")
	button := image(in.Key+"-button.svg", "Connect "+in.Name)
	writeJSON(w, http.StatusOK, brandingView{
		Logo:     brandingPair{Full: logo, Square: logo},
		Button:   brandingPair{Default: button, Hover: button},
		SourceID: in.SourceID,
	})
	return nil
}
