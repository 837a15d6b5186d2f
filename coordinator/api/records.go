package api

import (
	"bytes"
	"context"
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
// type. It streams the cache in id order and holds one page, filtering as
// it goes; with orderBy it ranks as it goes and holds page × pageSize
// records (at most paging.MaxSortWindow), and at most Config.SortScans
// such requests scan at once.
func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) error {
	dt, err := dataTypeParam(r)
	if err != nil {
		return err
	}
	p, err := paging.Parse(r.URL.Query())
	if err != nil {
		return err
	}
	var rank *paging.Ranker[json.RawMessage]
	if p.OrderBy != "" {
		window, err := p.SortWindow()
		if err != nil {
			return err
		}
		release, err := s.sortSlot(r.Context())
		if err != nil {
			return err
		}
		defer release()
		rank = paging.NewRanker[json.RawMessage](p.OrderBy, window)
	}
	out, err := s.scanRecords(r, string(dt), p, rank)
	if err != nil {
		return err
	}
	out.Links = paging.MakeLinks(r.URL.Path, p, out.TotalResults)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// scanRecords streams the cache into a page of p: the records that match
// p.Query, ranked by rank when it is not nil. A page whose offset
// overflows is past the end: empty.
func (s *Server) scanRecords(r *http.Request, dt string, p paging.Params, rank *paging.Ranker[json.RawMessage]) (recordPage, error) {
	out := recordPage{Results: []json.RawMessage{}, PageNumber: p.Page, PageSize: p.PageSize}
	offset, inRange := p.Offset()
	err := s.store.CachedRecords(r.Context(), r.PathValue("companyId"), dt, func(_ string, rec []byte) error {
		if p.Query != nil || rank != nil {
			m, err := decodeRecord(rec)
			if err != nil {
				return err
			}
			if !p.Query.Match(m) {
				return nil
			}
			if rank != nil {
				rank.Add(m, func() json.RawMessage { return bytes.Clone(rec) })
				out.TotalResults++
				return nil
			}
		}
		if inRange && out.TotalResults >= offset && len(out.Results) < p.PageSize {
			out.Results = append(out.Results, json.RawMessage(bytes.Clone(rec)))
		}
		out.TotalResults++
		return nil
	})
	if rank != nil {
		if ranked := rank.Sorted(); offset < len(ranked) { // a sort window is in range
			out.Results = ranked[offset:]
		}
	}
	return out, err
}

// sortSlot waits, with the request, for one of the Config.SortScans
// sorted scans of the cache allowed at once, and returns its release.
func (s *Server) sortSlot(ctx context.Context) (func(), error) {
	s.sortWaiting.Add(1)
	defer s.sortWaiting.Add(-1)
	select {
	case s.sorts <- struct{}{}:
		return func() { <-s.sorts }, nil
	case <-ctx.Done(): // the caller went away; the answer is for the log
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
			Message: "the request ended while waiting for its turn to sort", Retry: true}
	}
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
