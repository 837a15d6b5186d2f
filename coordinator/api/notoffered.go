package api

import (
	"net/http"
	"strings"

	"github.com/ferry-sync/ferry/coordinator/store"
)

// notOffered is an operation of Codat's Platform API that Ferry does not
// offer, with why. A call to one is authenticated as any other (a GET
// needs a support key, anything else a client key) and answered 501 in
// the error shape with CodeNotOffered, never a bare 404; docs/api.md
// lists the same operations, and TestCodatOperationsAnswered keeps every
// operation of Codat's document either served or here.
type notOffered struct {
	Method, Path string
	// Why completes "Ferry does not offer <what>: ".
	What, Why string
}

// Reasons shared by several refused operations.
const (
	whyProducts = "Ferry has no products to enable: every company gets every data type its connection supports"
	whySupp     = "a Ferry agent reads a fixed set of fields from the book; there is nothing more to configure per client"
	whyCustom   = "a Ferry agent reads the data types Ferry defines; an agent cannot be asked for others"
	whyTokens   = "there are no embedded Codat UIs to hand a company token to; a Ferry link page is opened by its linkUrl"
)

// notOfferedOps are Codat's operations Ferry refuses; keep docs/api.md's
// table in step.
var notOfferedOps = []notOffered{
	{"PUT", "/companies/{companyId}/products/{productIdentifier}", "products", whyProducts},
	{"DELETE", "/companies/{companyId}/products/{productIdentifier}", "products", whyProducts},
	{"POST", "/companies/{companyId}/products/{productIdentifier}/refresh", "products", whyProducts},
	{"PUT", "/companies/{companyId}/connections/{connectionId}/authorization", "connection authorization",
		"a connection is authorised by linking an agent with its one-time code (POST .../linkCode), not by a body of credentials"},
	{"GET", "/companies/{companyId}/accessToken", "company access tokens", whyTokens},
	{"GET", "/companies/{companyId}/connectionManagement/accessToken", "connection-management access tokens", whyTokens},
	{"POST", "/webhooks/integrationKeys/zapier", "Zapier keys", "Ferry delivers its events to webhook consumers only (POST /webhooks)"},
	{"GET", "/companies/{companyId}/connections/{connectionId}/options/{dataType}", "create and update options",
		"Ferry reads the books and does not write back to them"},
	{"GET", "/integrations/{platformKey}/dataTypes/{dataType}/supplementalDataConfig", "supplemental data", whySupp},
	{"PUT", "/integrations/{platformKey}/dataTypes/{dataType}/supplementalDataConfig", "supplemental data", whySupp},
	{"GET", "/integrations/{platformKey}/dataTypes/custom/{customDataIdentifier}", "custom data types", whyCustom},
	{"PUT", "/integrations/{platformKey}/dataTypes/custom/{customDataIdentifier}", "custom data types", whyCustom},
	{"POST", "/companies/{companyId}/connections/{connectionId}/data/queue/custom/{customDataIdentifier}", "custom data types", whyCustom},
	{"GET", "/companies/{companyId}/connections/{connectionId}/data/custom/{customDataIdentifier}", "custom data types", whyCustom},
}

// refusedOperation is the operation of notOfferedOps a request is for.
func refusedOperation(r *http.Request) (notOffered, bool) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for _, op := range notOfferedOps {
		if op.Method == r.Method && matchPattern(strings.Split(strings.Trim(op.Path, "/"), "/"), segs) {
			return op, true
		}
	}
	return notOffered{}, false
}

// matchPattern reports whether a path's segments fit a pattern's: a
// literal equal, a {wildcard} any non-empty segment.
func matchPattern(pattern, segs []string) bool {
	if len(pattern) != len(segs) {
		return false
	}
	for i, p := range pattern {
		wild := strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}")
		if segs[i] == "" || (!wild && p != segs[i]) {
			return false
		}
	}
	return true
}

// refuse answers a request for an operation Ferry does not offer, after
// authenticating it as its route would be.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, op notOffered) {
	need := store.ScopeClient
	if op.Method == http.MethodGet {
		need = store.ScopeSupport
	}
	key, err := s.authenticate(w, r)
	if err == nil {
		err = allowed(key.Scope, need)
	}
	if err == nil {
		err = errorf(http.StatusNotImplemented, CodeNotOffered,
			"Ferry does not offer %s (%s %s of Codat's API): %s", op.What, op.Method, op.Path, op.Why)
	}
	s.writeError(w, r, err)
}
