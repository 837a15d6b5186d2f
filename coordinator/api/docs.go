package api

import (
	"embed"
	"net/http"
)

// openapiJSON is Ferry's OpenAPI 3 document; TestOpenAPIMatchesRoutes keeps
// it and Routes in step.
//
//go:embed openapi.json
var openapiJSON []byte

//go:embed static/*.svg
var staticFiles embed.FS

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, err := w.Write(openapiJSON)
	return err
}

// logo serves an integration's logo, the Integration's logoUrl.
func (s *Server) logo(w http.ResponseWriter, r *http.Request) error {
	b, err := staticFiles.ReadFile("static/" + r.PathValue("file"))
	if err != nil {
		return errorf(http.StatusNotFound, CodeNotFound, "no such file")
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, err = w.Write(b)
	return err
}
