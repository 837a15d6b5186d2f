package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCompaniesCRUD(t *testing.T) {
	e := newEnv(t)
	body := e.must(200, "POST", "/companies", map[string]any{
		"name": "Müller & Söhne GmbH", "description": "customer 42", "tags": map[string]string{"region": "de"},
	}, nil)
	checkSchema(t, "Company", body)
	var c companyView
	e.must(200, "GET", "/companies/"+mustID(t, body), nil, &c)
	if c.Name != "Müller & Söhne GmbH" || c.Description != "customer 42" || c.Tags["region"] != "de" {
		t.Errorf("got %+v", c)
	}
	if c.Created != "2026-03-01T09:00:00.000Z" {
		t.Errorf("created = %q, want RFC 3339 UTC with milliseconds", c.Created)
	}
	if c.Redirect != "http://ferry.test/link/"+c.ID+"?token="+e.srv.links.CompanyToken(c.ID) || c.DataConnections == nil {
		t.Errorf("redirect %q, dataConnections %v", c.Redirect, c.DataConnections)
	}

	var patched companyView
	body = e.must(200, "PATCH", "/companies/"+c.ID, map[string]any{"name": "Müller AG"}, &patched)
	checkSchema(t, "Company", body)
	if patched.Name != "Müller AG" || patched.Description != "customer 42" {
		t.Errorf("patch changed more than the name: %+v", patched)
	}

	e.must(204, "DELETE", "/companies/"+c.ID, nil, nil)
	status, out := e.call("GET", "/companies/"+c.ID, nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("DELETE", "/companies/"+c.ID, nil)
	e.apiError(status, out, 404, CodeNotFound)
	status, out = e.call("PATCH", "/companies/"+c.ID, map[string]any{"name": "x"})
	e.apiError(status, out, 404, CodeNotFound)
}

func TestListCompaniesPaging(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.company(fmt.Sprintf("Company %d", i))
		e.clock.Add(time.Second)
	}
	var page struct {
		Results      []companyView `json:"results"`
		PageNumber   int           `json:"pageNumber"`
		PageSize     int           `json:"pageSize"`
		TotalResults int           `json:"totalResults"`
		Links        map[string]struct {
			Href string `json:"href"`
		} `json:"_links"`
	}
	body := e.must(200, "GET", "/companies?page=2&pageSize=2", nil, &page)
	checkSchema(t, "Companies", body)
	if page.PageNumber != 2 || page.PageSize != 2 || page.TotalResults != 5 || len(page.Results) != 2 {
		t.Fatalf("got page %d size %d total %d results %d", page.PageNumber, page.PageSize, page.TotalResults, len(page.Results))
	}
	if page.Results[0].Name != "Company 2" || page.Results[1].Name != "Company 3" {
		t.Errorf("page 2 holds %s, %s", page.Results[0].Name, page.Results[1].Name)
	}
	for _, l := range []string{"self", "current", "next", "previous"} {
		if page.Links[l].Href == "" {
			t.Errorf("_links.%s missing", l)
		}
	}
	e.must(200, "GET", "/companies?query="+urlq("name=Company 4"), nil, &page)
	if page.TotalResults != 1 || page.Results[0].Name != "Company 4" {
		t.Errorf("query name=Company 4: %d results", page.TotalResults)
	}
	e.must(200, "GET", "/companies?orderBy=-created&pageSize=1", nil, &page)
	if page.Results[0].Name != "Company 4" {
		t.Errorf("orderBy=-created first is %s", page.Results[0].Name)
	}
	e.must(200, "GET", "/companies?query="+urlq("name!=Company 4&&name!=Company 0"), nil, &page)
	if page.TotalResults != 3 {
		t.Errorf("query with != and &&: %d results, want 3", page.TotalResults)
	}
}

func TestCompanyBadInput(t *testing.T) {
	e := newEnv(t)
	id := e.company("Acme")
	tooManyTags := map[string]string{}
	for i := range 11 {
		tooManyTags[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name, method, path string
		body               any
		status, code       int
		mention            string
	}{
		{"no name", "POST", "/companies", map[string]any{"description": "x"}, 400, CodeInvalidField, "name is required"},
		{"empty name", "POST", "/companies", map[string]any{"name": ""}, 400, CodeInvalidField, "name must be"},
		{"bad name", "POST", "/companies", map[string]any{"name": "<script>"}, 400, CodeInvalidField, "name must be"},
		{"long name", "POST", "/companies", map[string]any{"name": strings.Repeat("a", 201)}, 400, CodeInvalidField, "name must be"},
		{"too many tags", "POST", "/companies", map[string]any{"name": "a", "tags": tooManyTags}, 400, CodeInvalidField, "tags"},
		{"long tag key", "POST", "/companies", map[string]any{"name": "a", "tags": map[string]string{strings.Repeat("k", 28): "v"}}, 400, CodeInvalidField, "tags"},
		{"unknown field", "POST", "/companies", map[string]any{"name": "a", "nmae": "b"}, 400, CodeBadJSON, "nmae"},
		{"wrong type", "POST", "/companies", map[string]any{"name": 7}, 400, CodeBadJSON, "name"},
		{"malformed", "POST", "/companies", `{"name": "a"`, 400, CodeBadJSON, "JSON"},
		{"not an object", "POST", "/companies", `[1,2]`, 400, CodeBadJSON, ""},
		{"trailing data", "POST", "/companies", `{"name":"a"} {"name":"b"}`, 400, CodeBadJSON, "after"},
		{"empty body", "POST", "/companies", ``, 400, CodeBadJSON, "empty"},
		{"oversized", "POST", "/companies", `{"name":"a","description":"` + strings.Repeat("x", maxBody) + `"}`, 413, CodeBodyTooLarge, "bytes"},
		{"patch bad name", "PATCH", "/companies/" + id, map[string]any{"name": "\x00"}, 400, CodeInvalidField, "name"},
		{"bad page", "GET", "/companies?page=0", nil, 400, CodeBadParameter, "page"},
		{"bad pageSize", "GET", "/companies?pageSize=5001", nil, 400, CodeBadParameter, "pageSize"},
		{"bad query", "GET", "/companies?query=" + urlq("=x"), nil, 400, CodeBadParameter, "query"},
		{"unknown company", "GET", "/companies/nope", nil, 404, CodeNotFound, ""},
		{"unknown path", "GET", "/nothing/here", nil, 404, CodeNotFound, "/nothing/here"},
		{"wrong method", "POST", "/companies/" + id, map[string]any{"name": "a"}, 405, CodeMethodRefused, "PATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.call(tt.method, tt.path, tt.body)
			e.apiError(status, out, tt.status, tt.code, tt.mention)
		})
	}
	var c companyView
	e.must(200, "GET", "/companies/"+id, nil, &c)
	if c.Name != "Acme" {
		t.Errorf("a refused request changed the company: %+v", c)
	}
	status, out := e.call("GET", "/companies", nil)
	if status != http.StatusOK || strings.Count(string(out), `"id"`) != 1 {
		t.Errorf("refused creates stored something: %s", out)
	}
}
