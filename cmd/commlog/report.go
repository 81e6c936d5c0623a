package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/report"
)

// reportOptions are the report command's flags.
type reportOptions struct {
	Ledger string
	Out    string // "-" writes the page to stdout
	RunID  string
	JSON   bool
	LogPII bool
}

func newReportCommand(g *globals) *cli.Command {
	var o reportOptions
	return &cli.Command{
		Name:  "report",
		Usage: "write a run's ledger and run log as one self-contained HTML page",
		Description: "Reads the ledger (and the run log beside it, LEDGER.runs.jsonl) and writes one HTML file with\n" +
			"no external scripts, fonts or images: outcome counts, failures grouped by HubSpot's category and\n" +
			"message with the first file:line examples and the command that retries them, unresolved\n" +
			"associations, records/s and requests/s over the run with 429s and retries marked, a per-file\n" +
			"breakdown, the command that produced the run, and every run. Phone-number-like text is masked\n" +
			"unless --log-pii. Ledgers of millions of rows take seconds and about 50 MB per million rows.\n\n" +
			"Examples:\n" +
			"  commlog report --ledger chats.csv.ledger.csv\n" +
			"  commlog report --ledger chats.csv.ledger.csv --run 20250110T100000-ab12 --out run1.html",
		Flags: []cli.Flag{
			// Not Required: urfave reports a missing required flag as a plain
			// error (exit 1); a missing --ledger is a usage error (exit 2).
			&cli.StringFlag{Name: "ledger", Usage: "the result ledger to report on (required)", Destination: &o.Ledger},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "report.html", Usage: `HTML file to write ("-" for stdout)`, Destination: &o.Out},
			&cli.StringFlag{Name: "run", Usage: "detail this run id (default: the latest run)", Destination: &o.RunID},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usagef("report: unexpected argument %q (the ledger is given with --ledger)", c.Args().First())
			}
			if o.Ledger == "" {
				return usagef("report: --ledger is required (commlog report --ledger LEDGER.csv)")
			}
			o.JSON, o.LogPII = g.json, g.logPII
			return runReport(c.Context, o, g.env.stdout, g.env.stderr)
		},
	}
}

// reportSummary is what report prints after writing the page.
type reportSummary struct {
	Out    string           `json:"out"`
	Ledger string           `json:"ledger"`
	Events int64            `json:"events"`
	Rows   int64            `json:"rows"`
	Runs   int              `json:"runs"`
	RunID  string           `json:"run_id,omitempty"`
	States map[string]int64 `json:"states"`
}

func runReport(ctx context.Context, o reportOptions, stdout, stderr io.Writer) error {
	ro := report.Options{Ledger: o.Ledger, RunID: o.RunID, LogPII: o.LogPII}
	if o.Out == "-" {
		_, err := report.Write(ctx, stdout, ro)
		return err
	}
	rep, err := report.Build(ctx, ro)
	if err != nil {
		return err
	}
	if err := writeReportFile(o.Out, func(w io.Writer) error { return report.Render(w, rep) }); err != nil {
		return err
	}
	sum := reportSummary{Out: o.Out, Ledger: o.Ledger, Events: rep.Events, Rows: rep.Rows, Runs: len(rep.Runs),
		States: map[string]int64{}}
	if rep.Selected >= 0 {
		sum.RunID = rep.Runs[rep.Selected].ID
	}
	for _, s := range report.States() {
		if n := rep.States.Of(s); n > 0 {
			sum.States[s] = n
		}
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprintf(stderr, "report written to %s: %d rows, %d runs", o.Out, sum.Rows, sum.Runs)
	if sum.RunID != "" {
		fmt.Fprintf(stderr, ", showing run %s", sum.RunID)
	}
	fmt.Fprintln(stderr)
	return nil
}

// writeReportFile writes path through a temporary file in the same
// directory, so a reader never sees half a page.
func writeReportFile(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".commlog-report-*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
