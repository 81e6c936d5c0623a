package main

import (
	"context"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/batch"
)

type restoreOptions struct {
	writeFlags
	Snapshot     string
	SearchSettle time.Duration
}

func newRestoreCommand(g *globals) *cli.Command {
	var o restoreOptions
	return &cli.Command{
		Name:  "restore",
		Usage: "re-create archived communications from an archive snapshot (new ids; twice creates nothing twice)",
		Description: "Creates every record of the snapshot again with its properties and associations. The ledger's\n" +
			"created events carry the new id and, in their message, the old one.\n\n" +
			"Example:\n  commlog restore --snapshot chats.ledger.archive.snapshot-20260101T000000.000Z.jsonl",
		Flags: append(o.flags("this restore's result ledger (default: SNAPSHOT.restore.csv)"),
			&cli.StringFlag{Name: "snapshot", Required: true, Usage: "the snapshot archive wrote", Destination: &o.Snapshot},
			&cli.DurationFlag{Name: "search-settle", Value: 30 * time.Second, Usage: "how long HubSpot's search may lag behind writes", Destination: &o.SearchSettle}),
		Action: func(c *cli.Context) error { return runRestore(c.Context, g, o) },
	}
}

func runRestore(ctx context.Context, g *globals, o restoreOptions) error {
	client, closeClient, err := g.connect(ctx, clientOptions{TPS: o.TPS, DailyReserve: o.DailyReserve})
	if err != nil {
		return err
	}
	defer closeClient()
	b := g.newBar(0, "restoring")
	ro, err := o.runOptions(g, b)
	if err != nil {
		return err
	}
	sum, err := batch.Restore(ctx, batch.RestoreOptions{RunOptions: ro, API: client, Snapshot: o.Snapshot, SearchSettle: o.SearchSettle})
	b.finish()
	return writeSummary(g, "restore", sum, err)
}
