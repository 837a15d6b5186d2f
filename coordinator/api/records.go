package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/ferry-sync/ferry/coordinator/api/paging"
)

// recordPage is a page of cached records: Codat's paged shape with the
// records as they were synced.
type recordPage struct {
	Results      []json.RawMessage `json:"results"`
	PageNumber   int               `json:"pageNumber"`
	PageSize     int               `json:"pageSize"`
	TotalResults int               `json:"totalResults"`
	Links        paging.Links      `json:"_links"`
}

// listRecords serves the cached records of the last Complete dataset of a
// type. Without orderBy it streams: memory holds one page, whatever the
// size of the cache.
func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) error {
	companyID := r.PathValue("companyId")
	dt, err := dataTypeParam(r)
	if err != nil {
		return err
	}
	p, err := paging.Parse(r.URL.Query())
	if err != nil {
		return err
	}
	out := recordPage{Results: []json.RawMessage{}, PageNumber: p.Page, PageSize: p.PageSize}
	first := (p.Page - 1) * p.PageSize
	var sorted []map[string]any
	err = s.store.CachedRecords(r.Context(), companyID, string(dt), func(_ string, rec []byte) error {
		if p.Query == nil && p.OrderBy == "" {
			if out.TotalResults >= first && len(out.Results) < p.PageSize {
				out.Results = append(out.Results, json.RawMessage(bytes.Clone(rec)))
			}
			out.TotalResults++
			return nil
		}
		m, err := decodeRecord(rec)
		if err != nil || !p.Query.Match(m) {
			return err
		}
		if p.OrderBy != "" {
			sorted = append(sorted, m)
			return nil
		}
		if out.TotalResults >= first && len(out.Results) < p.PageSize {
			out.Results = append(out.Results, json.RawMessage(bytes.Clone(rec)))
		}
		out.TotalResults++
		return nil
	})
	if err != nil {
		return err
	}
	if p.OrderBy != "" {
		page, total := paging.Apply(sorted, p)
		out.TotalResults = total
		for _, m := range page {
			raw, err := json.Marshal(m)
			if err != nil {
				return err
			}
			out.Results = append(out.Results, raw)
		}
	}
	out.Links = paging.MakeLinks(r.URL.Path, p, out.TotalResults)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request) error {
	dt, err := dataTypeParam(r)
	if err != nil {
		return err
	}
	rec, err := s.store.CachedRecord(r.Context(), r.PathValue("companyId"), string(dt), r.PathValue("recordId"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, err = w.Write(append(rec, '\n'))
	return err
}

func decodeRecord(rec []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber()
	var m map[string]any
	return m, dec.Decode(&m)
}
