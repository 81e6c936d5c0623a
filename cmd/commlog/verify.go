package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/batch"
)

type verifyOptions struct {
	Ledger           string
	SkipAssociations bool
	Workers          int
}

func newVerifyCommand(g *globals) *cli.Command {
	var o verifyOptions
	return &cli.Command{
		Name:  "verify",
		Usage: "check that what a ledger says exists in HubSpot still does, unchanged (exit 3 on drift)",
		Description: "Batch-reads every record the ledger created and reports missing, archived, changed (body hash\n" +
			"differs from what was sent) and dangling associations. --json prints the full report.\n\n" +
			"Examples:\n  commlog verify --ledger chats.ledger.csv\n  commlog --json verify --ledger chats.ledger.csv > drift.json",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ledger", Required: true, Usage: "the import ledger to verify", Destination: &o.Ledger},
			&cli.BoolFlag{Name: "skip-associations", Usage: "skip the dangling-association check (one request per record)", Destination: &o.SkipAssociations},
			&cli.IntFlag{Name: "workers", Value: 4, Usage: "concurrent association reads", Destination: &o.Workers},
		},
		Action: func(c *cli.Context) error { return runVerify(c.Context, g, o) },
	}
}

func runVerify(ctx context.Context, g *globals, o verifyOptions) error {
	client, closeClient, err := g.connect(ctx, clientOptions{})
	if err != nil {
		return err
	}
	defer closeClient()
	rep, err := batch.Verify(ctx, batch.VerifyOptions{Ledger: o.Ledger, API: client, SkipAssociations: o.SkipAssociations, Workers: o.Workers})
	if rep == nil {
		return err
	}
	lines := [][2]string{{"checked", strconv.Itoa(rep.Checked)}, {"ok", strconv.Itoa(rep.OK)}}
	for _, k := range []string{batch.DriftMissing, batch.DriftArchived, batch.DriftChanged, batch.DriftDangling} {
		lines = append(lines, [2]string{k, strconv.Itoa(rep.Counts[k])})
	}
	for i, d := range rep.Drift {
		if i == 20 {
			lines = append(lines, [2]string{"…", fmt.Sprintf("%d more (--json lists all)", len(rep.Drift)-20)})
			break
		}
		lines = append(lines, [2]string{d.Kind, fmt.Sprintf("%s key %s (%s) %s", d.ID, d.Key, d.Source, d.Detail)})
	}
	if rerr := g.report("verify", rep, lines); rerr != nil && err == nil {
		err = rerr
	}
	return err
}
