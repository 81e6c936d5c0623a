package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// GoalResult is one goal of the issue, checked against a measured value.
type GoalResult struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Op     string  `json:"op"` // ">=", "<", "<=" or "=="
	Target float64 `json:"target"`
	Unit   string  `json:"unit,omitempty"`
	OK     bool    `json:"ok"`
}

func goal(name string, value float64, op string, target float64, unit string) GoalResult {
	g := GoalResult{Name: name, Value: value, Op: op, Target: target, Unit: unit}
	switch op {
	case ">=":
		g.OK = value >= target
	case "<":
		g.OK = value < target
	case "<=":
		g.OK = value <= target
	case "==":
		g.OK = value == target
	}
	return g
}

// checkGoals lists the goals of the measurements that were taken.
func checkGoals(r *Results) []GoalResult {
	var gs []GoalResult
	if x := r.Rate; x != nil {
		gs = append(gs,
			goal("rate: requests sent ÷ allowed", x.Utilisation, ">=", 0.97, ""),
			goal("rate: 429 responses", float64(max(x.RateLimited, x.SandboxRateLimited)), "==", 0, ""),
			goal("rate: rows created", float64(x.Created), "==", float64(x.Rows), ""),
			goal("rate: window the client learnt", float64(x.LearntWindowMax), "==", float64(x.WindowMax), ""),
		)
	}
	if x := r.Pipeline; x != nil {
		gs = append(gs,
			goal("pipeline: speed ÷ encoding/csv", x.Ratio, ">=", 0.5, ""),
			goal("pipeline: rows created", float64(x.Created), "==", float64(x.Rows), ""),
		)
	}
	if x := r.Memory; x != nil {
		gs = append(gs,
			goal(fmt.Sprintf("memory: peak RSS, %s rows", count(x.LargeRows)), x.LargeRSSMB, "<", 150, "MB"),
			goal("memory: large ÷ small peak RSS", x.Ratio, "<=", 1.5, "×"),
			goal("memory: re-run (all done) ÷ small peak RSS", x.RerunRatio, "<=", 1.5, "×"),
			goal("memory: archive of them all ÷ import peak RSS", x.ArchiveRatio, "<=", 1.5, "×"),
			goal("memory: restore of them all ÷ import peak RSS", x.RestoreRatio, "<=", 1.5, "×"),
		)
	}
	if x := r.Export; x != nil {
		gs = append(gs,
			goal("export: full, records written", float64(x.FullRecords), "==", float64(x.FullExpected), ""),
			goal("export: incremental, changes written", float64(x.IncrementalRecords), ">=", float64(x.IncrementalExpected), ""),
		)
	}
	return gs
}

// count writes n the way the issue does: 10,000 → "10k", 1,000,000 → "1M".
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// WriteTable prints the figures and the goals for people.
func WriteTable(w io.Writer, r *Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	row("measurement", "figure", "value")
	if x := r.Rate; x != nil {
		what := fmt.Sprintf("import %s rows, Pro limits (%d/%gs), %s", count(x.Rows), x.WindowMax, x.WindowSeconds, x.Latency)
		row(what, "requests sent ÷ allowed", fmt.Sprintf("%.3f (%d ÷ %.1f)", x.Utilisation, x.Requests, x.Allowed))
		row("", "429s (client / sandbox)", fmt.Sprintf("%d / %d", x.RateLimited, x.SandboxRateLimited))
		row("", "records/s", fmt.Sprintf("%.0f", x.RecordsPerSecond))
		row("", "elapsed", fmt.Sprintf("%.1f s", x.ElapsedSeconds))
	}
	if x := r.Pipeline; x != nil {
		what := fmt.Sprintf("local pipeline, %.0f MB CSV (%s rows)", float64(x.Bytes)/(1<<20), count(int(x.Rows)))
		row(what, "encoding/csv", fmt.Sprintf("%.0f MB/s", x.CSVMBPerSecond))
		row("", "parse + map + batch + ledger", fmt.Sprintf("%.1f MB/s (%.0f rows/s)", x.PipelineMBPerSecond, x.PipelineRowsPerSecond))
		row("", "ratio", fmt.Sprintf("%.3f", x.Ratio))
	}
	if x := r.Memory; x != nil {
		row("import peak RSS (limits off)", count(x.SmallRows)+" rows", fmt.Sprintf("%.1f MB", x.SmallRSSMB))
		row("", count(x.LargeRows)+" rows", fmt.Sprintf("%.1f MB (%.0f records/s)", x.LargeRSSMB, x.LargeRecordsPerSecond))
		row("", "ratio", fmt.Sprintf("%.2f×", x.Ratio))
		row("", count(x.LargeRows)+" rows again, all done", fmt.Sprintf("%.1f MB (%.1f s)", x.RerunRSSMB, x.RerunSeconds))
		row("archive, restore peak RSS", "archive of the "+count(x.LargeRows), fmt.Sprintf("%.1f MB (%.1f s)", x.ArchiveRSSMB, x.ArchiveSeconds))
		row("", "restore of the "+count(x.LargeRows), fmt.Sprintf("%.1f MB (%.1f s)", x.RestoreRSSMB, x.RestoreSeconds))
	}
	if x := r.Export; x != nil {
		row("export (limits off)", fmt.Sprintf("full, %s records", count(int(x.FullRecords))),
			fmt.Sprintf("%.0f records/s (%.1f s)", x.FullRecordsPerSecond, x.FullSeconds))
		row("", fmt.Sprintf("incremental, %s changes", count(x.IncrementalExpected)),
			fmt.Sprintf("%.0f records/s (%.1f s, %d written)", x.IncrementalRecordsPerSecond, x.IncrementalSeconds, x.IncrementalRecords))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row("goal", "measured", "target", "")
	for _, g := range r.Goals {
		verdict := "ok"
		if !g.OK {
			verdict = "MISSED"
		}
		row(g.Name, num(g.Value)+g.Unit, g.Op+" "+num(g.Target)+g.Unit, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "ERROR %s\n", e)
	}
	verdict := "all goals met"
	if !r.OK {
		verdict = "GOALS MISSED"
	}
	_, err := fmt.Fprintf(w, "\n%s (%.0f s, %d CPUs, %s, %s)\n", verdict, r.ElapsedSeconds, r.CPUs, r.GoVersion, r.CommlogVersion)
	return err
}

// num prints whole numbers whole and others with up to 4 significant digits.
func num(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
