package dataset

import "testing"

// spec is the table "Who moves each transition" of SPEC.md, written out by
// hand, independently of the transitions map, so that a drift in either shows.
var spec = []struct {
	from, to Status
	by       Mover
}{
	{Queued, Fetching, Coordinator},
	{Queued, AuthError, Coordinator},
	{Queued, NotSupported, Either},
	{Fetching, Mapping, Agent},
	{Fetching, FetchError, Either},
	{Fetching, AuthError, Agent},
	{Fetching, NotSupported, Agent},
	{Mapping, Validating, Coordinator},
	{Mapping, MapError, Agent},
	{Validating, Processing, Coordinator},
	{Validating, ValidationError, Coordinator},
	{Processing, Complete, Coordinator},
	{Processing, ProcessingError, Coordinator},
	{Queued, InternalError, Either},
	{Fetching, InternalError, Either},
	{Mapping, InternalError, Either},
	{Validating, InternalError, Either},
	{Processing, InternalError, Either},
	{Fetching, Queued, Coordinator},
	{Mapping, Queued, Coordinator},
	{Mapping, FetchError, Coordinator},
}

func TestTransitionTable(t *testing.T) {
	want := map[[2]Status]Mover{}
	for _, r := range spec {
		want[[2]Status{r.from, r.to}] = r.by
	}
	refused := 0
	for _, from := range Statuses {
		for _, to := range Statuses {
			w := want[[2]Status{from, to}]
			if got := MovedBy(from, to); got != w {
				t.Errorf("MovedBy(%s, %s) = %v, want %v", from, to, got, w)
			}
			if got := CanTransition(from, to); got != (w != 0) {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, w != 0)
			}
			for _, m := range []Mover{Coordinator, Agent} {
				if got := CanMove(m, from, to); got != (w&m != 0) {
					t.Errorf("CanMove(%v, %s, %s) = %v, want %v", m, from, to, got, w&m != 0)
				}
			}
			if w == 0 {
				refused++
			}
		}
	}
	if want := len(Statuses)*len(Statuses) - len(spec); refused != want {
		t.Errorf("refused %d pairs, want %d", refused, want)
	}
}

func TestTerminal(t *testing.T) {
	nonTerminal := map[Status]bool{Queued: true, Fetching: true, Mapping: true, Validating: true, Processing: true}
	for _, s := range Statuses {
		if got := s.Terminal(); got == nonTerminal[s] {
			t.Errorf("%s.Terminal() = %v", s, got)
		}
		if s.Terminal() {
			for _, to := range Statuses {
				if CanTransition(s, to) {
					t.Errorf("terminal %s may move to %s", s, to)
				}
			}
		}
	}
	if Status("Cancelled").Valid() || Status("Cancelled").Terminal() {
		t.Error("an unknown status is neither valid nor terminal")
	}
	errs := map[Status]bool{FetchError: true, MapError: true, ValidationError: true, ProcessingError: true, InternalError: true, AuthError: true}
	for _, s := range Statuses {
		if got := s.IsError(); got != errs[s] {
			t.Errorf("%s.IsError() = %v, want %v", s, got, errs[s])
		}
	}
}

func TestDataTypes(t *testing.T) {
	for _, dt := range DataTypes {
		if !dt.Valid() {
			t.Errorf("%s not valid", dt)
		}
	}
	if DataType("items").Valid() {
		t.Error("items is not a Ferry data type")
	}
	if got := DataTypeNames(); got != "company, chartOfAccounts, taxRates, customers, suppliers, invoices, bills, journalEntries, "+
		"creditNotes, billCreditNotes, payments, billPayments, bankAccounts" {
		t.Errorf("DataTypeNames() = %q", got)
	}
}
