package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// openAPIDoc is the embedded openapi.json, decoded once.
var openAPIDoc = sync.OnceValues(func() (map[string]any, error) {
	var doc map[string]any
	err := json.Unmarshal(openapiJSON, &doc)
	return doc, err
})

func mustOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	doc, err := openAPIDoc()
	if err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// resolveRef follows a local reference such as "#/components/schemas/Company".
func resolveRef(doc map[string]any, ref string) (map[string]any, error) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %s is not local", ref)
	}
	var node any = doc
	for tok := range strings.SplitSeq(ptr, "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, _ := node.(map[string]any)
		if node = m[tok]; node == nil {
			return nil, fmt.Errorf("$ref %s does not resolve: no %q", ref, tok)
		}
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %s is not an object", ref)
	}
	return m, nil
}

// operations returns the document's operations keyed by "METHOD /path".
func operations(doc map[string]any) map[string]map[string]any {
	ops := map[string]map[string]any{}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		for m, op := range item.(map[string]any) {
			if slices.Contains(httpMethods, m) {
				ops[strings.ToUpper(m)+" "+path], _ = op.(map[string]any)
			}
		}
	}
	return ops
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	ops := operations(mustOpenAPI(t))
	routes := map[string]Route{}
	for _, rt := range New(Config{}).Routes() {
		routes[rt.Method+" "+rt.Path] = rt
	}
	for _, k := range slices.Sorted(maps.Keys(routes)) {
		if ops[k] == nil {
			t.Errorf("route %s is missing from openapi.json", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(ops)) {
		if _, ok := routes[k]; !ok {
			t.Errorf("openapi.json documents %s, which no route serves", k)
		}
	}
}

// TestOpenAPIOperations checks each documented route's operation: its
// operationId (Codat's where Codat has the operation), security and
// x-ferry-scope against the route's scope, path parameters against the
// pattern, and a success response.
func TestOpenAPIOperations(t *testing.T) {
	doc := mustOpenAPI(t)
	ops := operations(doc)
	codat := map[string]string{
		"GET /companies": "list-companies", "POST /companies": "create-company",
		"GET /companies/{companyId}": "get-company", "PATCH /companies/{companyId}": "update-company",
		"DELETE /companies/{companyId}":                            "delete-company",
		"GET /companies/{companyId}/connections":                   "list-connections",
		"POST /companies/{companyId}/connections":                  "create-connection",
		"GET /companies/{companyId}/connections/{connectionId}":    "get-connection",
		"PATCH /companies/{companyId}/connections/{connectionId}":  "unlink-connection",
		"DELETE /companies/{companyId}/connections/{connectionId}": "delete-connection",
		"GET /integrations":                                        "list-integrations",
		"GET /integrations/{platformKey}":                          "get-integration",
		"POST /companies/{companyId}/data/queue/{dataType}":        "refresh-data-type",
		"POST /companies/{companyId}/data/all":                     "refresh-company-data",
		"GET /companies/{companyId}/dataStatus":                    "get-company-data-status",
		"GET /companies/{companyId}/data/history":                  "list-pull-operations",
		"GET /companies/{companyId}/data/history/{datasetId}":      "get-pull-operation",
		"GET /companies/{companyId}/sync/{datasetId}/validation":   "get-read-validation-results",
		"GET /apiKeys": "list-api-keys", "POST /apiKeys": "create-api-key", "DELETE /apiKeys/{apiKeyId}": "delete-api-key",
		"PUT /companies/{companyId}":                         "replace-company",
		"GET /profile":                                       "get-profile",
		"PUT /profile":                                       "update-profile",
		"GET /corsSettings":                                  "get-cors-settings",
		"POST /corsSettings":                                 "set-cors-settings",
		"GET /connectionManagement/corsSettings":             "get-connection-management-cors-settings",
		"POST /connectionManagement/corsSettings":            "set-connection-management-cors-settings",
		"GET /integrations/{platformKey}/branding":           "get-integrations-branding",
		"GET /companies/{companyId}/push":                    "get-company-push-history",
		"GET /companies/{companyId}/push/{pushOperationKey}": "get-push-operation",
		"POST /webhooks":                                     "create-webhook-consumer",
	}
	seen := map[string]string{}
	for _, rt := range New(Config{}).Routes() {
		k := rt.Method + " " + rt.Path
		op := ops[k]
		if op == nil {
			continue // TestOpenAPIMatchesRoutes reports it
		}
		id, _ := op["operationId"].(string)
		if want, ok := codat[k]; ok && id != want {
			t.Errorf("%s: operationId %q, want Codat's %q", k, id, want)
		}
		if prev, dup := seen[id]; id == "" || dup {
			t.Errorf("%s: operationId %q is empty or also used by %s", k, id, prev)
		}
		seen[id] = k
		sec, ok := op["security"].([]any)
		if !ok || (len(sec) == 0) != (rt.Scope == "") {
			t.Errorf("%s: security %v does not fit scope %q", k, op["security"], rt.Scope)
		}
		if scope, _ := op["x-ferry-scope"].(string); scope != string(rt.Scope) {
			t.Errorf("%s: x-ferry-scope %q, want %q", k, scope, rt.Scope)
		}
		want := regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(rt.Path, -1)
		got := pathParams(t, doc, rt.Path, op)
		if len(got) != len(want) {
			t.Errorf("%s: path parameters %v, want %v", k, got, want)
		}
		for _, w := range want {
			if !slices.Contains(got, w[1]) {
				t.Errorf("%s: path parameter %s is not declared", k, w[1])
			}
		}
		resps, _ := op["responses"].(map[string]any)
		if !slices.ContainsFunc(slices.Collect(maps.Keys(resps)), func(c string) bool { return c[0] == '2' }) {
			t.Errorf("%s: no 2xx response", k)
		}
	}
}

// pathParams lists the names of the in: path parameters of an operation and
// of its path item.
func pathParams(t *testing.T, doc map[string]any, path string, op map[string]any) []string {
	t.Helper()
	item := doc["paths"].(map[string]any)[path].(map[string]any)
	list, _ := item["parameters"].([]any)
	opList, _ := op["parameters"].([]any)
	var names []string
	for _, p := range append(slices.Clone(list), opList...) {
		pm, _ := p.(map[string]any)
		if ref, ok := pm["$ref"].(string); ok {
			var err error
			if pm, err = resolveRef(doc, ref); err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
		}
		if pm["in"] == "path" {
			names = append(names, pm["name"].(string))
		}
	}
	return names
}

// schemaKeywords are the keywords checkSchema checks, and annotations it may
// ignore. TestOpenAPIDocument keeps the document's schemas to these so that
// checkSchema never silently skips a constraint.
var schemaKeywords = []string{
	"$ref", "allOf", "type", "nullable", "enum", "required", "properties", "additionalProperties",
	"items", "pattern", "minimum", "maximum", "minLength", "maxLength", "maxProperties",
	"title", "description", "format", "example", "default",
}

func TestOpenAPIDocument(t *testing.T) {
	doc := mustOpenAPI(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Errorf("openapi = %q, want 3.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] != "Ferry coordinator API" || info["version"] == nil || info["version"] == "" {
		t.Errorf("info = %v, want title Ferry coordinator API and a version", info)
	}
	if paths, _ := doc["paths"].(map[string]any); len(paths) == 0 {
		t.Error("no paths")
	}
	var walk func(at string, node any)
	walk = func(at string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				if _, err := resolveRef(doc, ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for k, v := range n {
				walk(at+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k), v)
			}
		case []any:
			for i, v := range n {
				walk(fmt.Sprintf("%s/%d", at, i), v)
			}
		}
	}
	walk("#", doc)

	var keywords func(at string, s map[string]any)
	keywords = func(at string, s map[string]any) {
		for k, v := range s {
			if !slices.Contains(schemaKeywords, k) {
				t.Errorf("%s: keyword %q is not one checkSchema checks", at, k)
			}
			switch k {
			case "properties":
				for name, p := range v.(map[string]any) {
					keywords(at+"/properties/"+name, p.(map[string]any))
				}
			case "items", "additionalProperties":
				if m, ok := v.(map[string]any); ok {
					keywords(at+"/"+k, m)
				}
			case "allOf":
				for i, sub := range v.([]any) {
					keywords(fmt.Sprintf("%s/allOf/%d", at, i), sub.(map[string]any))
				}
			}
		}
	}
	schemas, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for name, s := range schemas {
		keywords("#/components/schemas/"+name, s.(map[string]any))
	}
}

// errorfer is the part of testing.TB checkSchema reports through, so a test
// can pass a recorder.
type errorfer interface {
	Errorf(format string, args ...any)
	Helper()
}

// checkSchema checks a JSON body against a schema of openapi.json's
// components.schemas ("Company", "PullOperations"), reporting each mismatch
// with its JSON path, such as $.results[0].status. It knows the JSON Schema
// the document uses: $ref (local), allOf, type, nullable, enum, required,
// properties, additionalProperties, items, pattern, minimum, maximum,
// minLength, maxLength and maxProperties.
func checkSchema(t errorfer, schema string, body []byte) {
	t.Helper()
	doc, err := openAPIDoc()
	if err != nil {
		t.Errorf("openapi.json: %v", err)
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s: body is not JSON (%v): %.200s", schema, err, body)
		return
	}
	c := schemaChecker{t: t, doc: doc}
	c.check("$", map[string]any{"$ref": "#/components/schemas/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(schema)}, v)
}

type schemaChecker struct {
	t   errorfer
	doc map[string]any
}

func (c schemaChecker) check(at string, s map[string]any, v any) {
	c.t.Helper()
	if ref, ok := s["$ref"].(string); ok {
		target, err := resolveRef(c.doc, ref)
		if err != nil {
			c.t.Errorf("%s: %v", at, err)
			return
		}
		c.check(at, target, v)
		return
	}
	if v == nil {
		if s["nullable"] != true {
			c.t.Errorf("%s: null is not allowed", at)
		}
		return
	}
	for _, sub := range asList(s["allOf"]) {
		c.check(at, sub.(map[string]any), v)
	}
	if want, ok := s["type"].(string); ok && want != jsonType(v) && (want != "number" || jsonType(v) != "integer") {
		c.t.Errorf("%s: got %s %s, want %s", at, jsonType(v), brief(v), want)
		return
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		c.t.Errorf("%s: %s is not one of %s", at, brief(v), brief(enum))
	}
	switch v := v.(type) {
	case string:
		n := float64(utf8.RuneCountInString(v))
		if p, ok := s["pattern"].(string); ok {
			if re, err := regexp.Compile(p); err != nil || !re.MatchString(v) {
				c.t.Errorf("%s: %q does not match %s (%v)", at, v, p, err)
			}
		}
		c.bound(at, "length", n, s["minLength"], s["maxLength"])
	case float64:
		c.bound(at, "value", v, s["minimum"], s["maximum"])
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, it := range v {
				c.check(fmt.Sprintf("%s[%d]", at, i), items, it)
			}
		}
	case map[string]any:
		c.checkObject(at, s, v)
	}
}

func (c schemaChecker) checkObject(at string, s, obj map[string]any) {
	c.t.Helper()
	for _, r := range asList(s["required"]) {
		if _, ok := obj[r.(string)]; !ok {
			c.t.Errorf("%s: required field %q is missing", at, r)
		}
	}
	c.bound(at, "number of fields", float64(len(obj)), nil, s["maxProperties"])
	props, _ := s["properties"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		switch extra := s["additionalProperties"].(type) {
		case nil, bool:
			if p, ok := props[k].(map[string]any); ok {
				c.check(at+"."+k, p, obj[k])
			} else if extra == false {
				c.t.Errorf("%s: field %q is not allowed", at, k)
			}
		case map[string]any:
			if p, ok := props[k].(map[string]any); ok {
				extra = p
			}
			c.check(at+"."+k, extra, obj[k])
		}
	}
}

// bound reports n outside [lo, hi]; a nil bound is no bound.
func (c schemaChecker) bound(at, what string, n float64, lo, hi any) {
	c.t.Helper()
	if l, ok := lo.(float64); ok && n < l {
		c.t.Errorf("%s: %s %v is below %v", at, what, n, l)
	}
	if h, ok := hi.(float64); ok && n > h {
		c.t.Errorf("%s: %s %v is above %v", at, what, n, h)
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// brief is v as JSON, cut short for a message.
func brief(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// errorRecorder collects what checkSchema reports.
type errorRecorder struct{ errs []string }

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *errorRecorder) Helper() {}

func TestCheckSchemaCatchesMismatches(t *testing.T) {
	const op = `{"id":"943accd0-4247-42d8-865b-363c8629e1da","companyId":"c","connectionId":"n",` +
		`"dataType":"invoices","status":"Complete","requested":"2026-03-01T09:00:00.000Z",` +
		`"completed":"2026-03-01T09:01:00.000Z","progress":100,"isCompleted":true,"isErrored":false,` +
		`"attempt":1,"errorMessage":null,"timeline":[{"at":"2026-03-01T09:00:00.000Z","to":"Queued",` +
		`"actor":"coordinator","attempt":1}]}`
	page := func(result string) string {
		return `{"results":[` + result + `],"pageNumber":1,"pageSize":100,"totalResults":1,` +
			`"_links":{"self":{"href":"/x"},"current":{"href":"/x?page=1&pageSize=100"}}}`
	}
	tests := []struct {
		name, schema, body string
		want               string // "" for no error; else the one error must contain it
	}{
		{"valid", "PullOperation", op, ""},
		{"valid page", "PullOperations", page(op), ""},
		{"missing required", "PullOperation", strings.Replace(op, `"status":"Complete",`, "", 1), `$: required field "status"`},
		{"wrong type", "PullOperation", strings.Replace(op, `"progress":100`, `"progress":"100"`, 1), "$.progress: got string"},
		{"not an integer", "PullOperation", strings.Replace(op, `"progress":100`, `"progress":99.5`, 1), "$.progress: got number"},
		{"out of range", "PullOperation", strings.Replace(op, `"progress":100`, `"progress":101`, 1), "$.progress: value 101 is above 100"},
		{"bad enum", "PullOperation", strings.Replace(op, `"Complete"`, `"Done"`, 1), `$.status: "Done" is not one of`},
		{"bad enum in array", "PullOperation", strings.Replace(op, `"to":"Queued"`, `"to":"Waiting"`, 1), "$.timeline[0].to:"},
		{"bad timestamp", "PullOperation", strings.Replace(op, "09:01:00.000Z", "09:01:00Z", 1), "$.completed:"},
		{"null not nullable", "PullOperation", strings.Replace(op, `"attempt":1,`, `"attempt":null,`, 1), "$.attempt: null is not allowed"},
		{"nested in page", "PullOperations", page(strings.Replace(op, `"isErrored":false`, `"isErrored":0`, 1)), "$.results[0].isErrored: got integer"},
		{"page without links", "PullOperations", strings.Replace(page(op), `"_links"`, `"links"`, 1), `$: required field "_links"`},
		{"additionalProperties false", "Connection", `{"id":"i","integrationId":"g","sourceId":"s",` +
			`"platformName":"GnuCash","linkUrl":"http://x/link","status":"Linked","created":"2026-03-01T09:00:00.000Z",` +
			`"sourceType":"Accounting","agentId":"a"}`, `$: field "agentId" is not allowed`},
		{"map values", "DataStatuses", `{"invoices":{"dataType":"invoices"},"bills":{}}`, `$.bills: required field "dataType"`},
		{"canBeRetried is a string", "ErrorMessage", `{"statusCode":404,"service":"Ferry","error":"x",` +
			`"correlationId":"c","canBeRetried":false,"detailedErrorCode":30001}`, "$.canBeRetried: got boolean"},
		{"not JSON", "Company", `{"id":`, "body is not JSON"},
		{"unknown schema", "NoSuchThing", `{}`, "does not resolve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec errorRecorder
			checkSchema(&rec, tt.schema, []byte(tt.body))
			switch {
			case tt.want == "" && len(rec.errs) > 0:
				t.Errorf("got errors %q, want none", rec.errs)
			case tt.want != "" && (len(rec.errs) != 1 || !strings.Contains(rec.errs[0], tt.want)):
				t.Errorf("got errors %q, want one containing %q", rec.errs, tt.want)
			}
		})
	}
}
