package financials

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzParseQuery: any query string is either periods within the bounds
// or a *ParamError naming one of the three parameters.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"periodLength=1&periodsToCompare=3", "periodLength=12&periodsToCompare=36&startMonth=2024-03",
		"periodLength=0", "periodLength=1&periodsToCompare=2&startMonth=2024-03-01T00:00:00Z", "startMonth=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) || !strings.HasPrefix(pe.Message, pe.Param+": ") {
				t.Fatalf("ParseQuery(%q): %v is not a *ParamError naming its parameter", raw, err)
			}
			switch pe.Param {
			case "periodLength", "periodsToCompare", "startMonth":
			default:
				t.Fatalf("ParseQuery(%q) names %q", raw, pe.Param)
			}
			return
		}
		if q.PeriodLength < 1 || q.PeriodLength > MaxPeriodLength || q.PeriodsToCompare < 1 || q.PeriodsToCompare > MaxPeriodsToCompare ||
			(!q.StartMonth.IsZero() && q.StartMonth.Day() != 1) {
			t.Fatalf("ParseQuery(%q) = %+v, out of bounds", raw, q)
		}
	})
}
