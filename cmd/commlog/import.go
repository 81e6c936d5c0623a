package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/batch"
	"github.com/commlog/commlog/mapping"
)

// importOptions are the import command's flags.
type importOptions struct {
	Mapping      string
	Inputs       []string
	Ledger       string
	Format       string
	Encoding     string
	Workers      int
	BatchSize    int
	Plan         bool
	RetryFailed  bool
	MaxErrors    string
	MaxDuration  time.Duration
	DailyReserve int64
	TPS          float64
	ContactsFile string
	SearchSettle time.Duration
}

func newImportCommand(g *globals) *cli.Command {
	var o importOptions
	return &cli.Command{
		Name:      "import",
		Usage:     "create communications from exported chat logs, exactly once, with a result ledger",
		ArgsUsage: "INPUT...",
		Description: "Reads every INPUT, maps it through --mapping, resolves association targets, and creates\n" +
			"communications in batches of up to 100. Every row lands in the ledger; running the same command\n" +
			"again resumes, reconciles rows left in doubt, and never creates a message twice.\n\n" +
			"Examples:\n" +
			"  commlog --sandbox import --mapping samples/whatsapp.yaml samples/whatsapp.txt\n" +
			"  commlog import --mapping chats.yaml --plan chats.csv\n" +
			"  commlog import --mapping chats.yaml --max-duration 1h --daily-reserve 50000 chats.csv",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mapping", Aliases: []string{"m"}, Required: true, Usage: "YAML mapping file", Destination: &o.Mapping},
			&cli.StringFlag{Name: "ledger", Usage: "result ledger (default: INPUT.ledger.csv next to the first input)", Destination: &o.Ledger},
			&cli.StringFlag{Name: "format", Usage: "override the mapping's source format (csv, jsonl, whatsapp, linkedin, sms-xml, twilio, auto)", Destination: &o.Format},
			&cli.StringFlag{Name: "encoding", Usage: "input encoding: utf-8, windows-1252, latin1, utf-16", Destination: &o.Encoding},
			&cli.IntFlag{Name: "workers", Usage: "concurrent batch requests (default: derived from the rate budget)", Destination: &o.Workers},
			&cli.IntFlag{Name: "batch-size", Value: 100, Usage: "inputs per batch request, 1 to 100", Destination: &o.BatchSize},
			&cli.BoolFlag{Name: "plan", Usage: "do everything except writing to HubSpot; print the would-be counts and write a plan ledger", Destination: &o.Plan},
			&cli.BoolFlag{Name: "retry-failed", Usage: "send rows that failed in an earlier run again", Destination: &o.RetryFailed},
			&cli.StringFlag{Name: "max-errors", Usage: "stop (resumably) after N failed or invalid rows, or P% of the rows read", Destination: &o.MaxErrors},
			&cli.DurationFlag{Name: "max-duration", Usage: "stop (resumably) after this long, e.g. 2h", Destination: &o.MaxDuration},
			&cli.Int64Flag{Name: "daily-reserve", Usage: "stop (resumably) when the portal's remaining daily API calls fall to this", Destination: &o.DailyReserve},
			&cli.Float64Flag{Name: "tps", Usage: "cap requests per second (default: as fast as HubSpot's limits allow)", Destination: &o.TPS},
			&cli.StringFlag{Name: "contacts-file", Usage: "resolve contacts from this HubSpot contacts export instead of listing them", Destination: &o.ContactsFile},
			&cli.DurationFlag{Name: "search-settle", Value: 30 * time.Second, Usage: "how long HubSpot's search may lag behind writes (reconciliation waits for it)", Destination: &o.SearchSettle},
		},
		Action: func(c *cli.Context) error {
			o.Inputs = c.Args().Slice()
			if len(o.Inputs) == 0 {
				return usagef("import: name at least one INPUT file")
			}
			return runImport(c.Context, g, o)
		},
	}
}

func runImport(ctx context.Context, g *globals, o importOptions) error {
	maxErrs, err := batch.ParseMaxErrors(o.MaxErrors)
	if err != nil {
		return usageError{err: err}
	}
	m, err := mapping.Load(o.Mapping)
	if err != nil {
		return err
	}
	client, closeClient, err := g.connect(ctx, clientOptions{TPS: o.TPS, DailyReserve: o.DailyReserve})
	if err != nil {
		return err
	}
	defer closeClient()
	b := g.newBar(0, "importing")
	sum, err := batch.Import(ctx, batch.ImportOptions{
		RunOptions: batch.RunOptions{
			Ledger: o.Ledger, Workers: o.Workers, BatchSize: o.BatchSize, Plan: o.Plan, RetryFailed: o.RetryFailed,
			MaxErrors: maxErrs, MaxDuration: o.MaxDuration, Logger: g.logger, LogPII: g.logPII, Command: g.args,
			Progress: func(s batch.Summary) {
				if b.pb != nil && s.InputBytes > 0 {
					b.pb.ChangeMax64(s.InputBytes)
				}
				b.update(s.BytesRead, fmt.Sprintf("%d rows · %d created · %d failed", s.Rows, s.Created, s.Failed+s.Invalid+s.Unresolved))
			},
		},
		Mapping: m, Inputs: o.Inputs, Format: o.Format, Encoding: o.Encoding,
		ContactsFile: o.ContactsFile, SearchSettle: o.SearchSettle, API: client,
	})
	b.finish()
	if sum != nil {
		if rerr := g.report(importTitle(sum), sum, importLines(sum)); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}

func importTitle(s *batch.Summary) string {
	if s.Plan {
		return "import plan (nothing was written to HubSpot)"
	}
	return "import summary"
}

func importLines(s *batch.Summary) [][2]string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	lines := [][2]string{{"rows read", n(s.Rows)}}
	if s.Plan {
		lines = append(lines, [2]string{"would create", n(s.Planned)})
	} else {
		lines = append(lines, [2]string{"created", n(s.Created)})
	}
	// Counters that are zero are left out, except the ones a reader looks for.
	for _, c := range []struct {
		name   string
		v      int64
		always bool
	}{
		{"already done", s.AlreadyDone, false}, {"reconciled", s.Reconciled, false},
		{"skipped", s.Skipped, false}, {"duplicates", s.Duplicates, false},
		{"failed", s.Failed + s.PreviouslyFailed, true}, {"invalid", s.Invalid, false},
		{"unresolved", s.Unresolved, false}, {"in doubt", s.InDoubt, false},
		{"not sent", s.NotSent, false}, {"requests", s.Requests, true}, {"429s", s.RateLimited, true},
		{"retries", s.Retries, false}, {"duplicates found in HubSpot", s.DuplicatesFound, false},
	} {
		if c.always || c.v != 0 {
			lines = append(lines, [2]string{c.name, n(c.v)})
		}
	}
	lines = append(lines,
		[2]string{"elapsed", fmt.Sprintf("%.1fs", s.ElapsedSeconds)},
		[2]string{"records/s", fmt.Sprintf("%.1f", s.RecordsPerSecond)},
		[2]string{"ledger", s.Ledger},
	)
	if s.Stopped != "" {
		lines = append(lines, [2]string{"stopped", s.Stopped})
	}
	for _, w := range s.Warnings {
		lines = append(lines, [2]string{"warning", w})
	}
	return lines
}
