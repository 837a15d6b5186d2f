package portal

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ferry-sync/ferry/coordinator/financials"
	"github.com/ferry-sync/ferry/coordinator/store"
	"github.com/ferry-sync/ferry/shared/model"
)

// statementScans is how many statements the Portal computes at once (each
// reads the company's whole journal); others wait their turn.
const statementScans = 2

// financialsData is the statements page: the form's values, and each
// statement as a table, or why there is none.
type financialsData struct {
	Company                                    store.Company
	PeriodLength, PeriodsToCompare, StartMonth string
	Tables                                     []statementTable
	Problem                                    string
}

// statementTable is one statement: a column per period, a row per line,
// indented as the chart nests the accounts.
type statementTable struct {
	ID, Title string
	Columns   []string
	Rows      []statementRow
}

type statementRow struct {
	Name      string
	AccountID string
	Depth     int
	Total     bool
	Values    []string
}

// financialsPage shows a company's balance sheet and profit and loss, as
// the API computes them, for the periods of the form (one month, three of
// them, by default).
func (h *Handler) financialsPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	co, err := h.store.Company(ctx, r.PathValue("companyId"))
	if err != nil {
		h.storeFail(w, r, s, err, "There is no such company.")
		return
	}
	v := r.URL.Query()
	for name, def := range map[string]string{"periodLength": "1", "periodsToCompare": "3"} {
		if v.Get(name) == "" {
			v.Set(name, def)
		}
	}
	d := financialsData{Company: co, PeriodLength: v.Get("periodLength"), PeriodsToCompare: v.Get("periodsToCompare"), StartMonth: v.Get("startMonth")}
	status := http.StatusOK
	if err := h.statements(ctx, co.ID, v, &d); err != nil {
		var param *financials.ParamError
		var missing *financials.Unavailable
		switch {
		case errors.As(err, &param):
			status, d.Problem = http.StatusBadRequest, param.Message
		case errors.As(err, &missing):
			status, d.Problem = http.StatusConflict, missing.Message
		case errors.Is(err, financials.ErrTimeout):
			status, d.Problem = http.StatusServiceUnavailable, err.Error()
		default:
			h.storeFail(w, r, s, err, "There is no such company.")
			return
		}
	}
	h.render(w, r, status, "financials", h.signedPage(ctx, s, co.Name+": financial statements", d))
}

// statements computes both statements into d's tables, one at a time and
// at most statementScans across the Portal's requests.
func (h *Handler) statements(ctx context.Context, companyID string, v url.Values, d *financialsData) error {
	q, err := financials.ParseQuery(v)
	if err != nil {
		return err
	}
	select {
	case h.scans <- struct{}{}:
		defer func() { <-h.scans }()
	case <-ctx.Done():
		return ctx.Err()
	}
	bs, err := financials.GetBalanceSheet(ctx, h.store, companyID, q, h.now())
	if err != nil {
		return err
	}
	pl, err := financials.GetProfitAndLoss(ctx, h.store, companyID, q, h.now())
	if err != nil {
		return err
	}
	d.Tables = []statementTable{balanceSheetTable(bs), profitAndLossTable(pl)}
	return nil
}

func balanceSheetTable(bs *financials.BalanceSheet) statementTable {
	t := statementTable{ID: "balance-sheet", Title: "Balance sheet" + inCurrency(bs.Currency)}
	parts := map[string][]*financials.Line{}
	var net []model.Decimal
	for _, r := range bs.Reports {
		t.Columns = append(t.Columns, r.Date[:10])
		parts["assets"] = append(parts["assets"], r.Assets)
		parts["liabilities"] = append(parts["liabilities"], r.Liabilities)
		parts["equity"] = append(parts["equity"], r.Equity)
		net = append(net, r.NetAssets)
	}
	t.lines(parts["assets"], 0)
	t.lines(parts["liabilities"], 0)
	t.total("Net assets", net)
	t.lines(parts["equity"], 0)
	return t
}

func profitAndLossTable(pl *financials.ProfitAndLoss) statementTable {
	t := statementTable{ID: "profit-and-loss", Title: "Profit and loss" + inCurrency(pl.Currency)}
	var income, cost, expenses, otherIncome, otherExpenses []*financials.Line
	var gross, operating, other, net []model.Decimal
	for _, r := range pl.Reports {
		t.Columns = append(t.Columns, r.FromDate[:10]+" to "+r.ToDate[:10])
		income, cost, expenses = append(income, r.Income), append(cost, r.CostOfSales), append(expenses, r.Expenses)
		otherIncome, otherExpenses = append(otherIncome, r.OtherIncome), append(otherExpenses, r.OtherExpenses)
		gross, operating = append(gross, r.GrossProfit), append(operating, r.NetOperatingProfit)
		other, net = append(other, r.NetOtherIncome), append(net, r.NetProfit)
	}
	t.lines(income, 0)
	t.lines(cost, 0)
	t.total("Gross profit", gross)
	t.lines(expenses, 0)
	t.total("Net operating profit", operating)
	t.lines(otherIncome, 0)
	t.lines(otherExpenses, 0)
	t.total("Net other income", other)
	t.total("Net profit", net)
	return t
}

func inCurrency(c string) string {
	if c == "" {
		return ""
	}
	return " (" + c + ")"
}

// lines adds the rows of one line across the periods (every period's tree
// has the same shape), then its items', indented.
func (t *statementTable) lines(per []*financials.Line, depth int) {
	row := statementRow{Name: per[0].Name, AccountID: per[0].AccountID, Depth: depth, Total: depth == 0}
	for _, l := range per {
		row.Values = append(row.Values, l.Value.String())
	}
	t.Rows = append(t.Rows, row)
	for i := range per[0].Items {
		items := make([]*financials.Line, len(per))
		for k, l := range per {
			items[k] = l.Items[i]
		}
		t.lines(items, depth+1)
	}
}

func (t *statementTable) total(name string, values []model.Decimal) {
	row := statementRow{Name: name, Total: true}
	for _, v := range values {
		row.Values = append(row.Values, v.String())
	}
	t.Rows = append(t.Rows, row)
}

// indent is a row's left padding in the table.
func indent(depth int) string { return strings.Repeat("\u00a0\u00a0\u00a0", depth) }
