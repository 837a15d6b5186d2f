package portal

import (
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/coordinator/rules"
)

// The Portal's charts are SVG drawn here, on the server: no script, no
// library, nothing fetched from elsewhere. Each tells its states apart by
// pattern as well as colour, names each part in a <title> (shown on
// hover), and comes with a text alternative.

// stripView is an agent's connectivity strip with its text alternative.
type stripView struct {
	SVG         template.HTML
	Summary     string
	Intervals   []rules.Interval
	Disconnects int
}

// stripDefs are the patterns of the strip's states, once per page.
const stripDefs = `<svg width="0" height="0" aria-hidden="true" style="position:absolute"><defs>` +
	`<pattern id="pat-offline" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
	`<rect width="8" height="8" fill="#f3c9c5"/><line x1="0" y1="0" x2="0" y2="8" stroke="#b3261e" stroke-width="4"/></pattern>` +
	`<pattern id="pat-unknown" width="6" height="6" patternUnits="userSpaceOnUse">` +
	`<rect width="6" height="6" fill="#eceff2"/><circle cx="3" cy="3" r="1.2" fill="#5f6b76"/></pattern>` +
	`</defs></svg>`

// stripFill is how a state is drawn.
func stripFill(state string) string {
	switch state {
	case rules.StateOnline:
		return "#2e9e5b"
	case rules.StateOffline:
		return "url(#pat-offline)"
	}
	return "url(#pat-unknown)"
}

// strip draws c over [from, to) as a bar: Online solid, Offline hatched,
// Unknown dotted; each span's <title> gives its state, times (UTC) and
// why it ended.
func strip(c rules.Connectivity, from, to time.Time, label string) stripView {
	const w, h = 1000.0, 28.0
	span := to.Sub(from).Seconds()
	var b strings.Builder
	uptime := "unknown"
	if p, ok := c.UptimePercent(); ok {
		uptime = fmt.Sprintf("%.1f%%", p)
	}
	summary := fmt.Sprintf("%s from %s to %s: online %s of the known time, %d disconnects, %d intervals.",
		label, utc(from), utc(to), uptime, c.Disconnects, len(c.Intervals))
	fmt.Fprintf(&b, `<svg class="strip" viewBox="0 0 %.0f %.0f" preserveAspectRatio="none" role="img" aria-label="%s">`,
		w, h+14, template.HTMLEscapeString(summary))
	for _, iv := range c.Intervals {
		x := iv.Start.Sub(from).Seconds() / span * w
		wd := max(iv.End.Sub(iv.Start).Seconds()/span*w, 0.5)
		title := fmt.Sprintf("%s from %s to %s", iv.State, utc(iv.Start), utc(iv.End))
		if iv.EndReason != "" {
			title += "; ended: " + iv.EndReason
		}
		fmt.Fprintf(&b, `<rect class="span %s" data-state="%s" x="%.2f" y="0" width="%.2f" height="%.0f" fill="%s"><title>%s</title></rect>`,
			strings.ToLower(iv.State), iv.State, x, wd, h, stripFill(iv.State), template.HTMLEscapeString(title))
	}
	// Day ticks along the bottom.
	days := int(span / 86400)
	step := max(1, days/10)
	for d := 0; d <= days; d += step {
		x := float64(d) * 86400 / span * w
		fmt.Fprintf(&b, `<line x1="%.2f" y1="%.0f" x2="%.2f" y2="%.0f" stroke="#5f6b76"/>`, x, h, x, h+4)
	}
	fmt.Fprintf(&b, `<text x="0" y="%.0f" font-size="10" fill="#5f6b76">%s</text>`, h+13, from.UTC().Format("Jan 2 15:04"))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="10" fill="#5f6b76" text-anchor="end">%s</text>`, w, h+13, to.UTC().Format("Jan 2 15:04 UTC"))
	b.WriteString(`</svg>`)
	return stripView{SVG: template.HTML(b.String()), Summary: summary, Intervals: c.Intervals, Disconnects: c.Disconnects}
}

// utc is a time as the charts' titles show it.
func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// point is a value at a time, for lineChart.
type point struct {
	At    time.Time
	Value float64
}

// lineView is a line chart with its text alternative.
type lineView struct {
	SVG     template.HTML
	Summary string
	// Rows are the points shown in the text alternative: at most one an
	// hour (the hour's largest).
	Rows []point
	Unit string
}

// lineChart draws points over [from, to) as a line with a dot at each
// point, the largest value marked on the axis; label and unit name what
// is drawn.
func lineChart(points []point, from, to time.Time, label, unit string) lineView {
	const w, h, left = 1000.0, 160.0, 44.0
	v := lineView{Unit: unit}
	if len(points) == 0 {
		v.Summary = fmt.Sprintf("%s from %s to %s: no samples.", label, utc(from), utc(to))
		v.SVG = template.HTML(`<p class="hint">No samples.</p>`)
		return v
	}
	vals := make([]float64, len(points))
	for i, p := range points {
		vals[i] = p.Value
	}
	lo, hi := slices.Min(vals), slices.Max(vals)
	top := max(hi, 1)
	last := points[len(points)-1]
	v.Summary = fmt.Sprintf("%s from %s to %s: %d samples, lowest %g %s, highest %g %s, latest %g %s at %s.",
		label, utc(from), utc(to), len(points), lo, unit, hi, unit, last.Value, unit, utc(last.At))
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 { return left + t.Sub(from).Seconds()/span*(w-left) }
	y := func(val float64) float64 { return h - val/top*(h-10) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="line" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, w, h+16, template.HTMLEscapeString(v.Summary))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#5f6b76"/>`, left, h, w, h)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="10" x2="%.0f" y2="10" stroke="#d8dde2" stroke-dasharray="4 4"/>`, left, w)
	fmt.Fprintf(&b, `<text x="%.0f" y="14" font-size="11" fill="#5f6b76" text-anchor="end">%g</text>`, left-4, top)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11" fill="#5f6b76" text-anchor="end">0 %s</text>`, left-4, h, unit)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11" fill="#5f6b76">%s</text>`, left, h+14, from.UTC().Format("Jan 2 15:04"))
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11" fill="#5f6b76" text-anchor="end">%s</text>`, w, h+14, to.UTC().Format("Jan 2 15:04 UTC"))
	b.WriteString(`<polyline fill="none" stroke="#1f5fa8" stroke-width="2" points="`)
	for _, p := range points {
		fmt.Fprintf(&b, "%.1f,%.1f ", x(p.At), y(p.Value))
	}
	b.WriteString(`"/>`)
	for _, p := range points {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="#1f5fa8"><title>%g %s at %s</title></circle>`,
			x(p.At), y(p.Value), p.Value, unit, utc(p.At))
	}
	b.WriteString(`</svg>`)
	v.SVG = template.HTML(b.String())
	v.Rows = hourly(points)
	return v
}

// hourly keeps the largest point of each hour.
func hourly(points []point) []point {
	var out []point
	for _, p := range points {
		hour := p.At.UTC().Truncate(time.Hour)
		if n := len(out); n > 0 && out[n-1].At.Equal(hour) {
			out[n-1].Value = max(out[n-1].Value, p.Value)
			continue
		}
		out = append(out, point{At: hour, Value: p.Value})
	}
	return out
}
