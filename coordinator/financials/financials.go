// Package financials computes the financial statements Codat's Lending API
// serves, the balance sheet (AccountingBalanceSheet) and the profit and
// loss (AccountingProfitAndLossReport), from a company's cached chart of
// accounts and journal entries: the latest Complete dataset of each.
//
// The journal is read as a stream, once (twice without startMonth, the
// first time for its dates alone), summing each line's netAmount (debit
// positive, exact) into its account's bucket for the period its entry was
// posted in, or into the opening balance before the oldest. A report holds
// one sum per account and period, at most MaxLines, and takes at most
// Timeout. Accounts nest as the chart nests them (fullyQualifiedName);
// each line's value is its account's own plus its children's.
//
// Signs are Codat's: assets, liabilities, equity, income and expenses are
// positive when they hold what their kind holds (a liability owed, an
// income earned). The balance sheet's equity has one line more, Retained
// Earnings: income less expenses from the first entry to the date, as
// GnuCash's balance sheet shows it, so that netAssets (assets less
// liabilities) equals equity at every date. Accounts of type Unknown are
// in neither statement.
package financials

import (
	"context"
	"time"

	"github.com/ferry-sync/ferry/shared/model"
)

// Line is Codat's ReportLine: an account, or a level of the chart that
// groups accounts (accountId empty), or a part of a statement; value is
// its own and its items' together.
type Line struct {
	AccountID string        `json:"accountId"`
	Name      string        `json:"name"`
	Value     model.Decimal `json:"value"`
	Items     []*Line       `json:"items"`
}

// BalanceSheet is Codat's AccountingBalanceSheet.
type BalanceSheet struct {
	Currency                 string               `json:"currency,omitempty"`
	Reports                  []BalanceSheetReport `json:"reports"`
	MostRecentAvailableMonth *string              `json:"mostRecentAvailableMonth"`
	EarliestAvailableMonth   *string              `json:"earliestAvailableMonth"`
}

// BalanceSheetReport is the balance sheet at the end of one period.
type BalanceSheetReport struct {
	Date        string        `json:"date"`
	Assets      *Line         `json:"assets"`
	Liabilities *Line         `json:"liabilities"`
	NetAssets   model.Decimal `json:"netAssets"`
	Equity      *Line         `json:"equity"`
}

// ProfitAndLoss is Codat's AccountingProfitAndLossReport.
type ProfitAndLoss struct {
	Reports                  []ProfitAndLossReport `json:"reports"`
	ReportBasis              string                `json:"reportBasis"`
	Currency                 string                `json:"currency,omitempty"`
	MostRecentAvailableMonth *string               `json:"mostRecentAvailableMonth"`
	EarliestAvailableMonth   *string               `json:"earliestAvailableMonth"`
}

// ProfitAndLossReport is the profit and loss of one period.
type ProfitAndLossReport struct {
	FromDate           string        `json:"fromDate"`
	ToDate             string        `json:"toDate"`
	Income             *Line         `json:"income"`
	CostOfSales        *Line         `json:"costOfSales"`
	GrossProfit        model.Decimal `json:"grossProfit"`
	Expenses           *Line         `json:"expenses"`
	NetOperatingProfit model.Decimal `json:"netOperatingProfit"`
	OtherExpenses      *Line         `json:"otherExpenses"`
	OtherIncome        *Line         `json:"otherIncome"`
	NetOtherIncome     model.Decimal `json:"netOtherIncome"`
	NetProfit          model.Decimal `json:"netProfit"`
}

// dateLayout is how the statements write a day: Codat's date-time, UTC,
// as Ferry's records write dates.
const dateLayout = "2006-01-02T15:04:05Z"

// GetBalanceSheet computes the company's balance sheet at the end of each
// of q's periods. Its errors: store.ErrNotFound (no such company),
// *Unavailable, *ParamError (the chart is too large for so many periods),
// ErrTimeout.
func GetBalanceSheet(ctx context.Context, st Store, companyID string, q Query, now time.Time) (*BalanceSheet, error) {
	l, err := load(ctx, st, companyID, q, now)
	if err != nil {
		return nil, err
	}
	assets := l.section("Assets", model.AccountTypeAsset)
	liabilities := l.section("Liabilities", model.AccountTypeLiability)
	equity := l.section("Equity", model.AccountTypeEquity)
	out := &BalanceSheet{Currency: l.currency, Reports: make([]BalanceSheetReport, len(l.periods))}
	out.EarliestAvailableMonth, out.MostRecentAvailableMonth = l.available()
	for k, bal := range l.balances() {
		r := BalanceSheetReport{Date: l.periods[k].to.Format(dateLayout),
			Assets: l.lines(assets, bal), Liabilities: l.lines(liabilities, bal), Equity: l.lines(equity, bal)}
		earnings := model.Decimal{}
		for i, a := range l.accounts {
			if a.Type == model.AccountTypeIncome || a.Type == model.AccountTypeExpense {
				earnings = earnings.Sub(bal[i])
			}
		}
		r.Equity.Items = append(r.Equity.Items, &Line{Name: "Retained Earnings", Value: earnings, Items: []*Line{}})
		r.Equity.Value = r.Equity.Value.Add(earnings)
		r.NetAssets = r.Assets.Value.Sub(r.Liabilities.Value)
		out.Reports[k] = r
	}
	return out, nil
}

// GetProfitAndLoss computes the company's profit and loss over each of
// q's periods; its errors are GetBalanceSheet's. GnuCash's chart marks no
// account as cost of sales, other income or other expenses: those parts
// are there, at 0, so that the totals read as Codat's.
func GetProfitAndLoss(ctx context.Context, st Store, companyID string, q Query, now time.Time) (*ProfitAndLoss, error) {
	l, err := load(ctx, st, companyID, q, now)
	if err != nil {
		return nil, err
	}
	income := l.section("Income", model.AccountTypeIncome)
	expenses := l.section("Expenses", model.AccountTypeExpense)
	out := &ProfitAndLoss{ReportBasis: "Accrual", Currency: l.currency, Reports: make([]ProfitAndLossReport, len(l.periods))}
	out.EarliestAvailableMonth, out.MostRecentAvailableMonth = l.available()
	for k, mv := range l.movements() {
		r := ProfitAndLossReport{FromDate: l.periods[k].from.Format(dateLayout), ToDate: l.periods[k].to.Format(dateLayout),
			Income: l.lines(income, mv), Expenses: l.lines(expenses, mv),
			CostOfSales:   &Line{Name: "Cost of Sales", Items: []*Line{}},
			OtherIncome:   &Line{Name: "Other Income", Items: []*Line{}},
			OtherExpenses: &Line{Name: "Other Expenses", Items: []*Line{}}}
		r.GrossProfit = r.Income.Value.Sub(r.CostOfSales.Value)
		r.NetOperatingProfit = r.GrossProfit.Sub(r.Expenses.Value)
		r.NetOtherIncome = r.OtherIncome.Value.Sub(r.OtherExpenses.Value)
		r.NetProfit = r.NetOperatingProfit.Add(r.NetOtherIncome)
		out.Reports[k] = r
	}
	return out, nil
}

// section is the tree of the accounts of type t under a line named name.
func (l *ledger) section(name string, t model.AccountType) *section {
	byName := make(map[string]*account, len(l.accounts))
	for i := range l.accounts {
		a := &l.accounts[i]
		if _, dup := byName[a.FullyQualifiedName]; !dup && a.FullyQualifiedName != "" {
			byName[a.FullyQualifiedName] = a
		}
	}
	s := newSection(name)
	for i := range l.accounts {
		if l.accounts[i].Type == t {
			s.add(i, &l.accounts[i], byName)
		}
	}
	sortTree(s.root)
	return s
}

// lines is a section's tree with the values of one period: each account's
// from sums (debit positive), turned to Codat's sign for the section's
// type.
func (l *ledger) lines(s *section, sums []model.Decimal) *Line {
	var walk func(n *node) *Line
	walk = func(n *node) *Line {
		line := &Line{AccountID: n.id, Name: n.name, Items: make([]*Line, 0, len(n.children))}
		if n.acct >= 0 {
			line.Value = sums[n.acct]
			if creditNormal(l.accounts[n.acct].Type) {
				line.Value = model.Decimal{}.Sub(line.Value)
			}
		}
		for _, c := range n.children {
			cl := walk(c)
			line.Items = append(line.Items, cl)
			line.Value = line.Value.Add(cl.Value)
		}
		return line
	}
	return walk(s.root)
}

// creditNormal reports whether accounts of type t hold credits: their
// value is their lines' sum negated.
func creditNormal(t model.AccountType) bool {
	return t == model.AccountTypeLiability || t == model.AccountTypeEquity || t == model.AccountTypeIncome
}

// available are the first day of the journal's earliest month and the
// last day of its latest; nil when it is empty.
func (l *ledger) available() (earliest, latest *string) {
	if l.first.IsZero() {
		return nil, nil
	}
	e := l.first.AddDate(0, 0, 1-l.first.Day()).Format(dateLayout)
	m := l.last.AddDate(0, 1, -l.last.Day()).Format(dateLayout)
	return &e, &m
}
