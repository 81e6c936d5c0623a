package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/batch"
)

// writeFlags are the flags every ledgered write command shares.
type writeFlags struct {
	Ledger       string
	Workers      int
	BatchSize    int
	Plan         bool
	RetryFailed  bool
	MaxErrors    string
	MaxDuration  time.Duration
	DailyReserve int64
	TPS          float64
}

func (w *writeFlags) flags(ledgerUsage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ledger", Usage: ledgerUsage, Destination: &w.Ledger},
		&cli.IntFlag{Name: "workers", Usage: "concurrent batch requests (default: derived from the rate budget)", Destination: &w.Workers},
		&cli.IntFlag{Name: "batch-size", Value: 100, Usage: "inputs per batch request, 1 to 100", Destination: &w.BatchSize},
		&cli.BoolFlag{Name: "plan", Usage: "show what would change; write nothing", Destination: &w.Plan},
		&cli.BoolFlag{Name: "retry-failed", Usage: "send rows that failed in an earlier run again", Destination: &w.RetryFailed},
		&cli.StringFlag{Name: "max-errors", Usage: "stop (resumably) after N failed rows, or P% of the rows", Destination: &w.MaxErrors},
		&cli.DurationFlag{Name: "max-duration", Usage: "stop (resumably) after this long", Destination: &w.MaxDuration},
		&cli.Int64Flag{Name: "daily-reserve", Usage: "stop (resumably) when the portal's remaining daily API calls fall to this", Destination: &w.DailyReserve},
		&cli.Float64Flag{Name: "tps", Usage: "cap requests per second", Destination: &w.TPS},
	}
}

func (w *writeFlags) runOptions(g *globals, b *bar) (batch.RunOptions, error) {
	me, err := batch.ParseMaxErrors(w.MaxErrors)
	if err != nil {
		return batch.RunOptions{}, usageError{err: err}
	}
	return batch.RunOptions{
		Ledger: w.Ledger, Workers: w.Workers, BatchSize: w.BatchSize, Plan: w.Plan, RetryFailed: w.RetryFailed,
		MaxErrors: me, MaxDuration: w.MaxDuration, Logger: g.logger, LogPII: g.logPII, Command: g.args,
		Progress: func(s batch.Summary) {
			b.update(s.Done+s.Created+s.Failed, fmt.Sprintf("%d done · %d failed", s.Done+s.Created, s.Failed))
		},
	}, nil
}

// writeSummary prints a write operation's summary.
func writeSummary(g *globals, title string, s *batch.Summary, err error) error {
	if s == nil {
		return err
	}
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	lines := [][2]string{{"rows", n(s.Rows)}}
	if s.Plan {
		lines = append(lines, [2]string{"would change", n(s.Planned)})
		title += " plan (nothing was written to HubSpot)"
	} else {
		lines = append(lines, [2]string{"done", n(s.Done + s.Created)})
	}
	lines = append(lines,
		[2]string{"already done", n(s.AlreadyDone)}, [2]string{"reconciled", n(s.Reconciled)},
		[2]string{"skipped", n(s.Skipped)}, [2]string{"failed", n(s.Failed + s.PreviouslyFailed)},
		[2]string{"invalid", n(s.Invalid)}, [2]string{"unresolved", n(s.Unresolved)},
		[2]string{"in doubt", n(s.InDoubt)}, [2]string{"requests", n(s.Requests)}, [2]string{"ledger", s.Ledger})
	if s.Stopped != "" {
		lines = append(lines, [2]string{"stopped", s.Stopped})
	}
	for _, w := range s.Warnings {
		lines = append(lines, [2]string{"note", w})
	}
	if rerr := g.report(title, s, lines); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// updateOptions are the update command's flags.
type updateOptions struct {
	writeFlags
	Input        string
	ImportLedger string
}

func newUpdateCommand(g *globals) *cli.Command {
	var o updateOptions
	return &cli.Command{
		Name:      "update",
		Usage:     "change properties of existing communications from a CSV, ledgered and resumable",
		ArgsUsage: "CHANGES.csv",
		Description: "CHANGES.csv has an id column (id or hs_object_id) or a key column (key or commlog_key) and one\n" +
			"column per property to write; an empty cell clears the property. Keys resolve through\n" +
			"--import-ledger, else through a search on commlog_key. Read-only properties are refused first.\n\n" +
			"Examples:\n" +
			"  commlog update --import-ledger chats.ledger.csv --plan changes.csv\n" +
			"  commlog update --import-ledger chats.ledger.csv changes.csv",
		Flags: append(o.flags("this update's result ledger (default: CHANGES.update.csv)"),
			&cli.StringFlag{Name: "import-ledger", Usage: "resolve keys through this import ledger", Destination: &o.ImportLedger}),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("update: name one CHANGES.csv")
			}
			o.Input = c.Args().First()
			return runUpdate(c.Context, g, o)
		},
	}
}

func runUpdate(ctx context.Context, g *globals, o updateOptions) error {
	client, closeClient, err := g.connect(ctx, clientOptions{TPS: o.TPS, DailyReserve: o.DailyReserve})
	if err != nil {
		return err
	}
	defer closeClient()
	b := g.newBar(0, "updating")
	ro, err := o.runOptions(g, b)
	if err != nil {
		return err
	}
	sum, err := batch.Update(ctx, batch.UpdateOptions{RunOptions: ro, API: client, Input: o.Input,
		ImportLedger: o.ImportLedger, PlanOut: g.env.stdout})
	b.finish()
	return writeSummary(g, "update", sum, err)
}
