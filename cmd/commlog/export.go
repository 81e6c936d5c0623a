package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/batch"
	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/export"
)

// exportOptions are the export command's flags.
type exportOptions struct {
	Output       string
	Format       string
	Properties   string
	Associations string
	Archived     bool
	State        string
	SafetyLag    time.Duration
	TPS          float64
	DailyReserve int64
}

func newExportCommand(g *globals) *cli.Command {
	var o exportOptions
	return &cli.Command{
		Name:  "export",
		Usage: "write communications out of HubSpot to CSV or JSONL, in full or incrementally without gaps",
		Description: "Without --state, exports every communication through HubSpot's list endpoint (no 10,000-result\n" +
			"cap); --archived adds the archived ones. With --state FILE, exports what changed since the\n" +
			"high-water mark kept in FILE, plus what was archived since, and moves the mark only after the\n" +
			"output is complete. The first run with a new state file exports everything. A record changed\n" +
			"exactly at the mark can come again in the next run: keep the last row per id.\n\n" +
			"The output is written to a temporary file and renamed into place when complete; without\n" +
			"--output (or with -) it streams to stdout. The format follows the extension (.csv, .jsonl,\n" +
			".ndjson) unless --format says otherwise; stdout defaults to CSV.\n\n" +
			"CSV columns, always in this order: id; hs_object_id, hs_createdate, hs_lastmodifieddate (when\n" +
			"selected); every other selected property sorted by name; archived; archived_at; then\n" +
			"contact_ids, company_ids, deal_ids, ticket_ids for the --associations asked (ids joined by \";\").\n" +
			"JSONL lines hold {id, properties, archived, archived_at, associations}. Date-times are UTC\n" +
			"ISO-8601 with milliseconds; cells with commas, quotes or newlines are quoted (RFC 4180).\n\n" +
			"Examples:\n" +
			"  commlog --sandbox export -o comms.csv --associations contacts,companies\n" +
			"  commlog export -o nightly.jsonl --state export-state.json --safety-lag 10m\n" +
			"  commlog export --properties hs_timestamp,hs_communication_body --archived > all.csv",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "file to write (default: stdout)", Destination: &o.Output},
			&cli.StringFlag{Name: "format", Usage: "csv or jsonl (default: from the --output extension, csv on stdout)", Destination: &o.Format},
			&cli.StringFlag{Name: "properties", Usage: "comma-separated properties to export (default: every communication property)", Destination: &o.Properties},
			&cli.StringFlag{Name: "associations", Usage: "comma-separated associated ids to export: contacts, companies, deals, tickets", Destination: &o.Associations},
			&cli.BoolFlag{Name: "archived", Usage: "full export: add archived records (marked archived, with archived_at); incremental runs always include them", Destination: &o.Archived},
			&cli.StringFlag{Name: "state", Usage: "incremental: state file holding the high-water mark (created on the first run)", Destination: &o.State},
			&cli.DurationFlag{Name: "safety-lag", Value: export.DefaultSafetyLag, Usage: "incremental: how far HubSpot's search index may lag behind writes", Destination: &o.SafetyLag},
			&cli.Float64Flag{Name: "tps", Usage: "cap requests per second (default: as fast as HubSpot's limits allow)", Destination: &o.TPS},
			&cli.Int64Flag{Name: "daily-reserve", Usage: "stop when the portal's remaining daily API calls fall to this", Destination: &o.DailyReserve},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usagef("export: unexpected argument %q (use --output)", c.Args().First())
			}
			return runExport(c.Context, g, o)
		},
	}
}

func runExport(ctx context.Context, g *globals, o exportOptions) error {
	opts := export.Options{
		Output: o.Output, Stdout: g.env.stdout, Archived: o.Archived, State: o.State, SafetyLag: o.SafetyLag,
		Properties: splitList(o.Properties), Associations: splitList(o.Associations), Logger: g.logger,
	}
	if o.Format != "" {
		f, err := export.ParseFormat(o.Format)
		if err != nil {
			return usageError{err: err}
		}
		opts.Format = f
	} else if o.Output != "" && o.Output != "-" && export.FormatOf(o.Output) == "" {
		return usagef("export: cannot tell the format of %s from its extension; add --format csv or --format jsonl", o.Output)
	}
	if o.SafetyLag <= 0 {
		return usagef("export: --safety-lag must be positive")
	}
	toStdout := o.Output == "" || o.Output == "-"
	if toStdout && g.json {
		return usagef("export: --json prints the summary on stdout, where the data goes; add --output FILE")
	}
	client, closeClient, err := g.connect(ctx, clientOptions{TPS: o.TPS, DailyReserve: o.DailyReserve})
	if err != nil {
		return err
	}
	defer closeClient()
	b := g.newBar(0, "exporting")
	opts.API = client
	opts.Progress = func(s export.Summary) {
		b.update(s.Records, fmt.Sprintf("%d records · %d pages", s.Records, s.Pages))
	}
	sum, err := export.Run(ctx, opts)
	b.finish()
	if sum != nil {
		sum.Requests = client.Stats().Requests
		if rerr := g.report(exportTitle(sum, err), sum, exportLines(sum)); rerr != nil && err == nil {
			err = rerr
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, crm.ErrDailyReserve) {
		return fmt.Errorf("%w: %w (the output and the state file were left as they were)", batch.ErrStopped, err)
	}
	return err
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func exportTitle(s *export.Summary, err error) string {
	if err != nil {
		return "export summary (incomplete: nothing was renamed into place)"
	}
	return "export summary (" + s.Mode + ")"
}

func exportLines(s *export.Summary) [][2]string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	lines := [][2]string{
		{"output", s.Output},
		{"format", string(s.Format)},
		{"records", n(s.Records)},
		{"live", n(s.Live)},
		{"archived", n(s.Archived)},
		{"pages", n(s.Pages)},
		{"requests", n(s.Requests)},
		{"elapsed", fmt.Sprintf("%.1fs", s.ElapsedSeconds)},
	}
	if s.WindowFrom != "" || s.WindowTo != "" {
		lines = append(lines, [2]string{"window", s.WindowFrom + " … " + s.WindowTo})
	}
	if s.HighWaterMark != "" {
		lines = append(lines, [2]string{"high-water mark", s.HighWaterMark})
	}
	for _, w := range s.Warnings {
		lines = append(lines, [2]string{"warning", w})
	}
	return lines
}
