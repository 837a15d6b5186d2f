package api

import (
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// codatReference is the Codat Platform OpenAPI document, beside the repo.
const codatReference = "../../../shared/reference/codat-platform.yaml"

// ferryOmits lists Codat-required fields Ferry leaves out on purpose, each
// written down in docs/decisions.md.
var ferryOmits = map[string]string{
	"DataStatus.currentStatus": "absent for a type never synced, as SPEC.md says",
}

// TestShapesFollowCodat checks Ferry's schemas against Codat's: every field
// Codat requires is one Ferry requires, every field both have has the same
// type, and Ferry's enum values are Codat's.
func TestShapesFollowCodat(t *testing.T) {
	raw, err := os.ReadFile(codatReference)
	if err != nil {
		t.Fatalf("the Codat reference must sit beside the repo: %v", err)
	}
	var codat map[string]any
	if err := yaml.Unmarshal(raw, &codat); err != nil {
		t.Fatal(err)
	}
	var ferry map[string]any
	if err := json.Unmarshal(openapiJSON, &ferry); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Company", "Connection", "PullOperation", "DataStatus", "ErrorMessage", "Integration", "ValidationResult", "PagingInfo", "SyncSetting", "SyncSettings", "CompanySyncSettings", "WebhookConsumer", "ApiKeyDetails", "ApiKeys", "CreateApiKey",
		"Profile", "ConnectionManagementAllowedOrigins", "Branding", "PushOperation"} {
		c := flatten(t, codat, "#/components/schemas/"+name)
		f := flatten(t, ferry, "#/components/schemas/"+name)
		for _, req := range c.required {
			if _, why := ferryOmits[name+"."+req]; why {
				continue
			}
			if !slices.Contains(f.required, req) {
				t.Errorf("%s: Codat requires %q, Ferry does not", name, req)
			}
		}
		for prop, cp := range c.props {
			fp, ok := f.props[prop]
			if !ok {
				continue
			}
			ct, ft := typeOf(t, codat, cp), typeOf(t, ferry, fp)
			if ct != "" && ft != "" && ct != ft {
				t.Errorf("%s.%s: Codat's type is %s, Ferry's %s", name, prop, ct, ft)
			}
			for _, v := range enumOf(t, ferry, fp) {
				if ce := enumOf(t, codat, cp); len(ce) > 0 && !slices.Contains(ce, v) {
					t.Errorf("%s.%s: Ferry's value %v is not one of Codat's", name, prop, v)
				}
			}
		}
		if len(c.props) == 0 || len(f.props) == 0 {
			t.Errorf("%s: no properties found (Codat %d, Ferry %d)", name, len(c.props), len(f.props))
		}
	}
}

type flat struct {
	required []string
	props    map[string]map[string]any
}

// flatten follows $ref and allOf into one list of required fields and
// properties.
func flatten(t *testing.T, doc map[string]any, ref string) flat {
	t.Helper()
	out := flat{props: map[string]map[string]any{}}
	var walk func(s map[string]any)
	walk = func(s map[string]any) {
		if r, ok := s["$ref"].(string); ok {
			walk(lookupRef(t, doc, r))
		}
		for _, sub := range asList(s["allOf"]) {
			walk(sub.(map[string]any))
		}
		for _, r := range asList(s["required"]) {
			out.required = append(out.required, r.(string))
		}
		props, _ := s["properties"].(map[string]any)
		for k, v := range props {
			out.props[k] = v.(map[string]any)
		}
	}
	walk(lookupRef(t, doc, ref))
	return out
}

// typeOf is a property's JSON type, through $ref.
func typeOf(t *testing.T, doc map[string]any, s map[string]any) string {
	for range 8 {
		if typ, ok := s["type"].(string); ok {
			return typ
		}
		r, ok := s["$ref"].(string)
		if !ok {
			return ""
		}
		s = lookupRef(t, doc, r)
	}
	return ""
}

func enumOf(t *testing.T, doc map[string]any, s map[string]any) []any {
	for range 8 {
		if e := asList(s["enum"]); e != nil {
			return e
		}
		r, ok := s["$ref"].(string)
		if !ok {
			return nil
		}
		s = lookupRef(t, doc, r)
	}
	return nil
}

// lookupRef resolves a local JSON pointer, as Codat writes them (with
// ~1 and %-escapes in path segments).
func lookupRef(t *testing.T, doc map[string]any, ref string) map[string]any {
	t.Helper()
	var node any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		if u, err := url.PathUnescape(tok); err == nil {
			tok = u
		}
		switch n := node.(type) {
		case map[string]any:
			node = n[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				t.Fatalf("$ref %s: bad index %q", ref, tok)
			}
			node = n[i]
		}
	}
	m, ok := node.(map[string]any)
	if !ok {
		t.Fatalf("$ref %s does not resolve", ref)
	}
	return m
}

// TestCodatOperationsAnswered reads Codat's document and fails for an
// operation of it that Ferry neither serves (a route of the same method
// and path, whatever its wildcards are named) nor refuses (notOfferedOps,
// each listed in docs/api.md as `METHOD path`); a refusal that is not
// Codat's, or that a route serves, fails too.
func TestCodatOperationsAnswered(t *testing.T) {
	raw, err := os.ReadFile(codatReference)
	if err != nil {
		t.Fatalf("the Codat reference must sit beside the repo: %v", err)
	}
	var codat map[string]any
	if err := yaml.Unmarshal(raw, &codat); err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	wild := regexp.MustCompile(`\{[^}]*\}`)
	norm := func(method, path string) string { return method + " " + wild.ReplaceAllString(path, "{}") }
	served := map[string]bool{}
	for _, rt := range New(Config{}).Routes() {
		served[norm(rt.Method, rt.Path)] = true
	}
	refused := map[string]bool{}
	for _, op := range notOfferedOps {
		k := norm(op.Method, op.Path)
		refused[k] = true
		if served[k] {
			t.Errorf("%s %s is refused and served both", op.Method, op.Path)
		}
		if !strings.Contains(string(docs), "`"+op.Method+" "+op.Path+"`") {
			t.Errorf("%s %s is refused but docs/api.md does not list it", op.Method, op.Path)
		}
	}
	ops := operations(codat)
	if len(ops) < 50 {
		t.Fatalf("read %d operations from Codat's document; want its 52", len(ops))
	}
	codatOps := map[string]bool{}
	for k := range ops {
		method, path, _ := strings.Cut(k, " ")
		codatOps[norm(method, path)] = true
		if !served[norm(method, path)] && !refused[norm(method, path)] {
			t.Errorf("Codat's %s has neither a route nor a documented refusal", k)
		}
	}
	for _, op := range notOfferedOps {
		if !codatOps[norm(op.Method, op.Path)] {
			t.Errorf("%s %s is refused but is not an operation of Codat's", op.Method, op.Path)
		}
	}
}
