package financials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/dataset"
	"github.com/ferry-sync/ferry/shared/model"
)

// Store is what a statement is computed from. Each method keeps the
// contract written on it, which every backend keeps and storetest checks.
type Store interface {
	// DataStatus returns, per data type that has ever been queued for the
	// company, its newest and newest Complete datasets; store.ErrNotFound
	// if the company is missing.
	DataStatus(ctx context.Context, companyID string) (map[dataset.DataType]store.TypeStatus, error)
	// CachedRecords calls fn with each record of the current snapshot of
	// (company, data type) in id order, from one consistent read; no
	// snapshot means no calls. store.ErrNotFound if the company is missing.
	CachedRecords(ctx context.Context, companyID string, dt string, fn func(id string, record []byte) error) error
}

// Timeout bounds the time one statement may take: it reads the whole
// journal, once, or twice without startMonth.
const Timeout = 2 * time.Minute

// Unavailable says why a statement cannot be computed from what is cached
// now: a type it needs has no Complete dataset, or the journal names an
// account the cached chart lacks (the chart is older than the journal),
// or holds more than one currency. The API answers it with 409.
type Unavailable struct{ Message string }

func (e *Unavailable) Error() string { return e.Message }

// ErrTimeout is the refusal of a statement that took longer than Timeout.
var ErrTimeout = errors.New("the statement took longer than " + Timeout.String() + " to compute")

// ledger is the journal summed per account and period: what both
// statements are made from.
type ledger struct {
	q        Query
	periods  []period
	accounts []account
	byID     map[string]int
	// sums holds, per account, the sum of its lines' netAmount (debit
	// positive) in each period, newest first, then before the oldest;
	// nil for an account with no line up to the newest period's end.
	sums        [][]model.Decimal
	currency    string
	first, last time.Time // days of the earliest and latest entries
}

// journalEntry is what a report reads of a journalEntries record.
type journalEntry struct {
	ID       string     `json:"id"`
	PostedOn model.Date `json:"postedOn"`
	Lines    []struct {
		AccountRef struct {
			ID string `json:"id"`
		} `json:"accountRef"`
		NetAmount model.Decimal `json:"netAmount"`
		Currency  string        `json:"currency"`
	} `json:"journalLines"`
}

// load reads the company's cached chart of accounts and journal into a
// ledger for q. now gives the current month when the journal is empty
// and q has no StartMonth.
func load(ctx context.Context, st Store, companyID string, q Query, now time.Time) (*ledger, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	l, err := loadLedger(ctx, st, companyID, q, now)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, ErrTimeout
	}
	return l, err
}

func loadLedger(ctx context.Context, st Store, companyID string, q Query, now time.Time) (*ledger, error) {
	if err := ready(ctx, st, companyID); err != nil {
		return nil, err
	}
	l := &ledger{q: q, byID: map[string]int{}}
	if err := l.readChart(ctx, st, companyID); err != nil {
		return nil, err
	}
	if l.q.StartMonth.IsZero() {
		if err := l.findLatest(ctx, st, companyID); err != nil {
			return nil, err
		}
		l.q.StartMonth = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		if !l.last.IsZero() {
			l.q.StartMonth = l.last.AddDate(0, 0, 1-l.last.Day())
		}
	}
	l.periods = l.q.periods()
	l.sums = make([][]model.Decimal, len(l.accounts))
	err := st.CachedRecords(ctx, companyID, string(dataset.JournalEntries), func(id string, rec []byte) error {
		return l.post(id, rec)
	})
	if err != nil {
		return nil, err
	}
	if l.currency == "" {
		l.currency = l.chartCurrency()
	}
	return l, nil
}

// ready checks that the chart of accounts and the journal each have a
// Complete dataset.
func ready(ctx context.Context, st Store, companyID string) error {
	status, err := st.DataStatus(ctx, companyID)
	if err != nil {
		return err
	}
	for _, dt := range []dataset.DataType{dataset.ChartOfAccounts, dataset.JournalEntries} {
		ts, ok := status[dt]
		switch {
		case !ok:
			return &Unavailable{fmt.Sprintf("%s has never been synced for this company: the statements are computed "+
				"from the latest Complete chartOfAccounts and journalEntries; queue it (POST /companies/%s/data/queue/%s)", dt, companyID, dt)}
		case ts.LatestSuccessful == nil:
			return &Unavailable{fmt.Sprintf("%s has no Complete dataset yet (the newest, %s, is %s): the statements are "+
				"computed from the latest Complete chartOfAccounts and journalEntries", dt, ts.Latest.ID, ts.Latest.Status)}
		}
	}
	return nil
}

// readChart reads the accounts, at most what MaxLines allows for q.
func (l *ledger) readChart(ctx context.Context, st Store, companyID string) error {
	most := MaxLines / l.q.PeriodsToCompare
	return st.CachedRecords(ctx, companyID, string(dataset.ChartOfAccounts), func(id string, rec []byte) error {
		if len(l.accounts) == most {
			if l.q.PeriodsToCompare == 1 {
				return &Unavailable{fmt.Sprintf("the chart of accounts has more than %d accounts, more than a statement holds", most)}
			}
			return paramErrorf("periodsToCompare", "the chart of accounts has more than %d accounts: %d periods of them "+
				"would be more than %d lines; ask for fewer periods", most, l.q.PeriodsToCompare, MaxLines)
		}
		var a account
		if err := json.Unmarshal(rec, &a); err != nil {
			return fmt.Errorf("cached account %s: %w", id, err)
		}
		a.ID = id
		l.byID[id] = len(l.accounts)
		l.accounts = append(l.accounts, a)
		return nil
	})
}

// findLatest reads the journal's dates alone.
func (l *ledger) findLatest(ctx context.Context, st Store, companyID string) error {
	return st.CachedRecords(ctx, companyID, string(dataset.JournalEntries), func(id string, rec []byte) error {
		var e struct {
			PostedOn model.Date `json:"postedOn"`
		}
		if err := json.Unmarshal(rec, &e); err != nil {
			return fmt.Errorf("cached journal entry %s: %w", id, err)
		}
		_, err := l.day(id, e.PostedOn)
		return err
	})
}

// day is the calendar day an entry was posted on, as written, and notes
// it among the first and last.
func (l *ledger) day(id string, posted model.Date) (time.Time, error) {
	t, err := posted.Time()
	if err != nil {
		return time.Time{}, fmt.Errorf("cached journal entry %s: postedOn %q: %w", id, posted, err)
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if l.first.IsZero() || d.Before(l.first) {
		l.first = d
	}
	if d.After(l.last) {
		l.last = d
	}
	return d, nil
}

// post adds one journal entry's lines to their accounts' sums.
func (l *ledger) post(id string, rec []byte) error {
	var e journalEntry
	if err := json.Unmarshal(rec, &e); err != nil {
		return fmt.Errorf("cached journal entry %s: %w", id, err)
	}
	d, err := l.day(id, e.PostedOn)
	if err != nil {
		return err
	}
	b := l.q.bucket(d)
	if b < 0 {
		return nil
	}
	for _, line := range e.Lines {
		i, ok := l.byID[line.AccountRef.ID]
		if !ok {
			return &Unavailable{fmt.Sprintf("journal entry %s names account %q, which the cached chart of accounts "+
				"lacks: the chart is older than the journal; queue chartOfAccounts again", id, line.AccountRef.ID)}
		}
		if c := line.Currency; c != "" && c != l.currency {
			if l.currency != "" {
				return &Unavailable{fmt.Sprintf("the journal holds amounts in %s and %s (journal entry %s): "+
					"Ferry's statements are in one currency and it keeps no exchange rates", l.currency, c, id)}
			}
			l.currency = c
		}
		if l.sums[i] == nil {
			l.sums[i] = make([]model.Decimal, len(l.periods)+1)
		}
		l.sums[i][b] = l.sums[i][b].Add(line.NetAmount)
	}
	return nil
}

// chartCurrency is the currency most accounts are in: the statements'
// when the journal names none.
func (l *ledger) chartCurrency() string {
	count := map[string]int{}
	best := ""
	for _, a := range l.accounts {
		if a.Currency == "" {
			continue
		}
		count[a.Currency]++
		if n := count[a.Currency]; n > count[best] || (n == count[best] && a.Currency < best) {
			best = a.Currency
		}
	}
	return best
}

// balances are each account's sum of lines up to the end of each period:
// balances[k][i] for period k, account i.
func (l *ledger) balances() [][]model.Decimal {
	n := len(l.periods)
	out := make([][]model.Decimal, n)
	running := make([]model.Decimal, len(l.accounts))
	for k := n; k >= 0; k-- {
		for i, s := range l.sums {
			if s != nil {
				running[i] = running[i].Add(s[k])
			}
		}
		if k < n {
			out[k] = append([]model.Decimal(nil), running...)
		}
	}
	return out
}

// movements are each account's sum of lines in each period:
// movements[k][i].
func (l *ledger) movements() [][]model.Decimal {
	out := make([][]model.Decimal, len(l.periods))
	for k := range out {
		out[k] = make([]model.Decimal, len(l.accounts))
		for i, s := range l.sums {
			if s != nil {
				out[k][i] = s[k]
			}
		}
	}
	return out
}
