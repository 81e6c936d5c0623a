package main

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/batch"
)

type associateOptions struct {
	writeFlags
	Input        string
	ImportLedger string
	Remove       bool
}

func newAssociateCommand(g *globals) *cli.Command {
	var o associateOptions
	return &cli.Command{
		Name:      "associate",
		Usage:     "associate communications with contacts, companies, deals or tickets from a CSV (--remove removes)",
		ArgsUsage: "PAIRS.csv",
		Description: "PAIRS.csv columns: communication (id or commlog_key), object_type, object_id and optionally\n" +
			"association_type (a number such as 81 or a snake-case label such as communication_to_contact;\n" +
			"empty = the default type).\n\n" +
			"Examples:\n" +
			"  commlog associate --import-ledger chats.ledger.csv pairs.csv\n" +
			"  commlog associate --remove pairs.csv",
		Flags: append(o.flags("this run's result ledger (default: PAIRS.associate.csv)"),
			&cli.StringFlag{Name: "import-ledger", Usage: "resolve communication keys through this import ledger", Destination: &o.ImportLedger},
			&cli.BoolFlag{Name: "remove", Usage: "remove the associations instead", Destination: &o.Remove}),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("associate: name one PAIRS.csv")
			}
			o.Input = c.Args().First()
			return runAssociate(c.Context, g, o)
		},
	}
}

func runAssociate(ctx context.Context, g *globals, o associateOptions) error {
	client, closeClient, err := g.connect(ctx, clientOptions{TPS: o.TPS, DailyReserve: o.DailyReserve})
	if err != nil {
		return err
	}
	defer closeClient()
	b := g.newBar(0, "associating")
	ro, err := o.runOptions(g, b)
	if err != nil {
		return err
	}
	sum, err := batch.Associate(ctx, batch.AssociateOptions{RunOptions: ro, API: client, Input: o.Input, ImportLedger: o.ImportLedger, Remove: o.Remove})
	b.finish()
	return writeSummary(g, "associate", sum, err)
}
