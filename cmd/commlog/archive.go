package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/batch"
)

// archiveOptions are the archive command's flags.
type archiveOptions struct {
	writeFlags
	FromLedger     string
	IDs            string
	Where          cli.StringSlice
	IncludeForeign bool
	MaxDelete      int
	Snapshot       string
	Yes            bool
}

func newArchiveCommand(g *globals) *cli.Command {
	var o archiveOptions
	flags := o.flags("")
	flags[0] = &cli.StringFlag{Name: "ledger", Usage: "archive the records this import ledger created", Destination: &o.FromLedger}
	return &cli.Command{
		Name:  "archive",
		Usage: "move communications to HubSpot's recycling bin, safely (snapshot first, threshold, confirmation)",
		Description: "Targets come from --ledger (records commlog created), --ids FILE or --where filters. Only records\n" +
			"commlog created are archived unless --include-foreign; more than --max-delete targets are refused;\n" +
			"on a terminal the count must be typed to confirm (--yes for scripts). Every property and association\n" +
			"of every target is written to a snapshot (JSONL) before the first archive request; restore reads it.\n\n" +
			"Examples:\n" +
			"  commlog archive --ledger chats.ledger.csv --plan\n" +
			"  commlog archive --where channel=SMS --where before=2024-01-01 --yes\n" +
			"  commlog archive --ids ids.txt --include-foreign --max-delete 5000",
		Flags: append(flags,
			&cli.StringFlag{Name: "result-ledger", Usage: "this archive's result ledger (default: beside the target source, .archive.csv)", Destination: &o.Ledger},
			&cli.StringFlag{Name: "ids", Usage: "archive the record ids in this file, one a line", Destination: &o.IDs},
			&cli.StringSliceFlag{Name: "where", Usage: "archive what a search finds: channel=, owner=, after=, before=, or any property=value (repeat to AND)", Destination: &o.Where},
			&cli.BoolFlag{Name: "include-foreign", Usage: "also archive records commlog did not create", Destination: &o.IncludeForeign},
			&cli.IntFlag{Name: "max-delete", Value: batch.DefaultMaxDelete, Usage: "refuse when there are more targets than this", Destination: &o.MaxDelete},
			&cli.StringFlag{Name: "snapshot", Usage: "snapshot file (default: beside the result ledger, one a run)", Destination: &o.Snapshot},
			&cli.BoolFlag{Name: "yes", Usage: "do not ask for confirmation", Destination: &o.Yes},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("archive: takes no arguments; choose targets with --ledger, --ids or --where")
			}
			return runArchive(c.Context, g, o)
		},
	}
}

func runArchive(ctx context.Context, g *globals, o archiveOptions) error {
	if o.Ledger == "" {
		switch {
		case o.FromLedger != "":
			o.Ledger = strings.TrimSuffix(o.FromLedger, ".csv") + ".archive.csv"
		case o.IDs != "":
			o.Ledger = o.IDs + ".archive.csv"
		default:
			o.Ledger = "commlog-archive.csv"
		}
	}
	client, closeClient, err := g.connect(ctx, clientOptions{TPS: o.TPS, DailyReserve: o.DailyReserve})
	if err != nil {
		return err
	}
	defer closeClient()
	b := g.newBar(0, "archiving")
	ro, err := o.runOptions(g, b)
	if err != nil {
		return err
	}
	ao := batch.ArchiveOptions{RunOptions: ro, API: client, FromLedger: o.FromLedger, IDsFile: o.IDs,
		Where: o.Where.Value(), IncludeForeign: o.IncludeForeign, MaxDelete: o.MaxDelete,
		Snapshot: o.Snapshot, Yes: o.Yes, PlanOut: g.env.stdout}
	if g.env.stdinIsTTY && g.env.stderrIsTTY {
		ao.Confirm = g.confirmCount
	}
	sum, err := batch.Archive(ctx, ao)
	b.finish()
	return writeSummary(g, "archive", sum, err)
}

// confirmCount asks, on the terminal, for the number of records about to
// be archived to be typed back.
func (g *globals) confirmCount(ctx context.Context, n int) (bool, error) {
	fmt.Fprintf(g.env.stderr, "About to archive %d communications. Type %d to go on: ", n, n)
	line, err := bufio.NewReader(g.env.stdin).ReadString('\n')
	if err != nil && line == "" {
		return false, nil
	}
	got, convErr := strconv.Atoi(strings.TrimSpace(line))
	return convErr == nil && got == n && ctx.Err() == nil, nil
}
