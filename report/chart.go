package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Chart is the selected run's pace, ready to draw as SVG: records/s and,
// when the run log has them, requests/s, with 429s and retries marked.
type Chart struct {
	// Source is "run log", "ledger" or "" when there is nothing to draw.
	Source string
	// Note says what is missing, e.g. the request series of an old ledger.
	Note          string
	Width, Height int
	Seconds       float64 // run time the x axis spans
	Points        int     // intervals drawn
	RecordsPath   string  // SVG path data
	RequestsPath  string  // "" without a run log
	PeakRecords   float64 // per second
	PeakRequests  float64
	Marks         []Mark
	XTicks        []Tick
	YTicks        []Tick
	PlotX, PlotY  float64 // top-left of the plot area
	PlotW, PlotH  float64
	PlotRight     float64
	PlotBottom    float64
	RateLimited   int64 // 429s marked
	Retries       int64 // retries marked
	HasRequests   bool
	RecordsSeries string // what the records line counts
}

// Mark is a 429 or a retry at one place on the chart.
type Mark struct {
	Kind  string // "429" or "retry"
	X, Y  float64
	Count int64
	At    string // run time, e.g. "1m05s"
}

// Tick is one axis label.
type Tick struct {
	Pos   float64
	Label string
}

// interval is one stretch of run time with the counts that happened in it.
type interval struct {
	from, to                       float64 // seconds since the run started
	records, requests, r429, retry int64
}

const (
	chartW, chartH = 900, 280
	padL, padR     = 64, 16
	padT, padB     = 16, 40
)

// buildChart draws the selected run from its run-log samples or, without
// them, from the ledger's created events counted in buckets.
func buildChart(sel *Run, buckets []int64, width float64) Chart {
	c := Chart{Width: chartW, Height: chartH, PlotX: padL, PlotY: padT,
		PlotW: chartW - padL - padR, PlotH: chartH - padT - padB,
		PlotRight: chartW - padR, PlotBottom: chartH - padB}
	var ivs []interval
	switch {
	case sel == nil:
		c.Note = "The ledger holds no runs."
		return c
	case len(sel.Samples) >= 2:
		c.Source, c.HasRequests, c.RecordsSeries = "run log", true, "records created"
		ivs = sampleIntervals(sel)
	case len(buckets) > 0:
		c.Source, c.RecordsSeries = "ledger", "created events"
		c.Note = "This run has no run log samples (an older ledger, or a run that did not finish): " +
			"records/s is derived from the ledger's event times; requests/s, 429s and retries are unavailable."
		for i, n := range buckets {
			ivs = append(ivs, interval{from: float64(i) * width, to: float64(i+1) * width, records: n})
		}
	default:
		c.Note = "This run recorded no events with times and no run log samples: nothing to chart."
		return c
	}
	ivs = coarsen(ivs, maxPoints)
	c.Points = len(ivs)
	if len(ivs) == 0 {
		c.Note = "This run lasted no measurable time: nothing to chart."
		return c
	}
	c.Seconds = ivs[len(ivs)-1].to
	for _, iv := range ivs {
		d := iv.to - iv.from
		c.PeakRecords = math.Max(c.PeakRecords, float64(iv.records)/d)
		c.PeakRequests = math.Max(c.PeakRequests, float64(iv.requests)/d)
	}
	yMax := niceCeil(math.Max(c.PeakRecords, c.PeakRequests))
	x := func(s float64) float64 { return c.PlotX + s/math.Max(c.Seconds, 1e-9)*c.PlotW }
	y := func(v float64) float64 { return c.PlotY + c.PlotH - v/yMax*c.PlotH }
	path := func(val func(interval) int64) string {
		var b strings.Builder
		for i, iv := range ivs {
			r := float64(val(iv)) / (iv.to - iv.from)
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&b, "%s%.1f,%.1f L%.1f,%.1f ", cmd, x(iv.from), y(r), x(iv.to), y(r))
		}
		return strings.TrimSpace(b.String())
	}
	c.RecordsPath = path(func(iv interval) int64 { return iv.records })
	if c.HasRequests {
		c.RequestsPath = path(func(iv interval) int64 { return iv.requests })
		for _, iv := range ivs {
			mid := (iv.from + iv.to) / 2
			at := fmtSeconds(mid)
			if iv.r429 > 0 {
				c.Marks = append(c.Marks, Mark{Kind: "429", X: x(mid), Y: c.PlotY + 6, Count: iv.r429, At: at})
				c.RateLimited += iv.r429
			}
			if iv.retry > 0 {
				c.Marks = append(c.Marks, Mark{Kind: "retry", X: x(mid), Y: c.PlotY + 18, Count: iv.retry, At: at})
				c.Retries += iv.retry
			}
		}
	}
	for i := 0; i <= 4; i++ {
		v := yMax * float64(i) / 4
		c.YTicks = append(c.YTicks, Tick{Pos: y(v), Label: fmtRate(v)})
	}
	for i := 0; i <= 6; i++ {
		s := c.Seconds * float64(i) / 6
		c.XTicks = append(c.XTicks, Tick{Pos: x(s), Label: fmtSeconds(s)})
	}
	return c
}

// sampleIntervals turns running totals into per-interval counts.
func sampleIntervals(r *Run) []interval {
	var out []interval
	s := r.Samples
	for i := 1; i < len(s); i++ {
		a, b := s[i-1], s[i]
		if !(b.Seconds > a.Seconds) {
			continue // equal or out-of-order sample times: nothing to divide by
		}
		out = append(out, interval{from: a.Seconds, to: b.Seconds,
			records: max(b.Created-a.Created, 0), requests: max(b.Requests-a.Requests, 0),
			r429: max(b.RateLimited-a.RateLimited, 0), retry: max(b.Retries-a.Retries, 0)})
	}
	return out
}

// coarsen merges neighbouring intervals until at most n remain.
func coarsen(ivs []interval, n int) []interval {
	if len(ivs) <= n {
		return ivs
	}
	k := (len(ivs) + n - 1) / n
	out := make([]interval, 0, n)
	for i := 0; i < len(ivs); i += k {
		m := ivs[i]
		for _, iv := range ivs[i+1 : min(i+k, len(ivs))] {
			m.to = iv.to
			m.records += iv.records
			m.requests += iv.requests
			m.r429 += iv.r429
			m.retry += iv.retry
		}
		out = append(out, m)
	}
	return out
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if !(v > 1) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func fmtRate(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f/s", v)
	}
	return fmt.Sprintf("%.1f/s", v)
}

func fmtSeconds(s float64) string {
	switch {
	case s < 1:
		return time.Duration(math.Round(s*1000) * float64(time.Millisecond)).String()
	case s < 10:
		return time.Duration(math.Round(s*10) * float64(100*time.Millisecond)).String()
	}
	return (time.Duration(math.Round(s)) * time.Second).String()
}
