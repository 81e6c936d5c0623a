package main

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/batch"
)

type pinOptions struct {
	writeFlags
	Input            string
	FromLedger       string
	ImportLedger     string
	LatestPerContact bool
	Associate        bool
}

func newPinCommand(g *globals) *cli.Command {
	var o pinOptions
	flags := o.flags("")
	flags[0] = &cli.StringFlag{Name: "ledger", Usage: "with --latest-per-contact: the import ledger whose messages to pin", Destination: &o.FromLedger}
	return &cli.Command{
		Name:      "pin",
		Usage:     "pin communications to the top of record timelines (one pin per record)",
		ArgsUsage: "[PINS.csv]",
		Description: "PINS.csv columns: object_type, object_id, communication (id or commlog_key). Or pin each contact's\n" +
			"newest imported message with --latest-per-contact --ledger L. The association is checked first;\n" +
			"--associate creates it when missing.\n\n" +
			"Examples:\n" +
			"  commlog pin --latest-per-contact --ledger chats.ledger.csv\n" +
			"  commlog pin --associate --import-ledger chats.ledger.csv pins.csv",
		Flags: append(flags,
			&cli.StringFlag{Name: "result-ledger", Usage: "this run's result ledger (default: beside the input, .pin.csv)", Destination: &o.Ledger},
			&cli.StringFlag{Name: "import-ledger", Usage: "resolve communication keys through this import ledger", Destination: &o.ImportLedger},
			&cli.BoolFlag{Name: "latest-per-contact", Usage: "pin each contact's newest message from --ledger", Destination: &o.LatestPerContact},
			&cli.BoolFlag{Name: "associate", Usage: "create a missing association before pinning", Destination: &o.Associate}),
		Action: func(c *cli.Context) error {
			if c.NArg() > 1 || (c.NArg() == 1) == o.LatestPerContact {
				return usagef("pin: name one PINS.csv, or use --latest-per-contact --ledger L")
			}
			o.Input = c.Args().First()
			return runPin(c.Context, g, o)
		},
	}
}

func runPin(ctx context.Context, g *globals, o pinOptions) error {
	client, closeClient, err := g.connect(ctx, clientOptions{TPS: o.TPS, DailyReserve: o.DailyReserve})
	if err != nil {
		return err
	}
	defer closeClient()
	b := g.newBar(0, "pinning")
	ro, err := o.runOptions(g, b)
	if err != nil {
		return err
	}
	sum, err := batch.Pin(ctx, batch.PinOptions{RunOptions: ro, API: client, Input: o.Input, FromLedger: o.FromLedger,
		ImportLedger: o.ImportLedger, LatestPerContact: o.LatestPerContact, AssociateFirst: o.Associate})
	b.finish()
	return writeSummary(g, "pin", sum, err)
}
