package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/batch"
	"github.com/commlog/commlog/mapping"
	"github.com/commlog/commlog/source"
)

// validateOptions are the validate command's flags.
type validateOptions struct {
	Mapping      string
	Inputs       []string
	Format       string // overrides source.format
	Encoding     string // overrides source.encoding
	MaxErrors    int    // row errors shown (the first N); the counts cover all
	JSON         bool
	ContactsFile string // optional: resolve targets against this contacts export
	LogPII       bool   // show values of unresolved targets

	// open reads one input; tests may replace it.
	open func(path string, opts source.Options) (source.Reader, error)
}

func newValidateCommand(g *globals) *cli.Command {
	o := validateOptions{MaxErrors: 10}
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a mapping against inputs offline: counts per outcome and the first row errors",
		ArgsUsage: "INPUT...",
		Description: "Parses the mapping strictly, reads every INPUT and maps every row, without contacting HubSpot\n" +
			"and without writing anything. Prints rows, valid, skipped, invalid and duplicate keys, and the\n" +
			"first row errors with file:line. Association targets are not resolved unless --contacts-file\n" +
			"gives a HubSpot contacts export. Exits 3 when any row is invalid (or unresolved with --contacts-file).\n\n" +
			"Example:\n  commlog validate --mapping samples/chats.yaml samples/chats.csv",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mapping", Aliases: []string{"m"}, Required: true, Usage: "YAML mapping file", Destination: &o.Mapping},
			&cli.StringFlag{Name: "format", Usage: "override the mapping's source format (csv, jsonl, whatsapp, linkedin, sms-xml, twilio, auto)", Destination: &o.Format},
			&cli.StringFlag{Name: "encoding", Usage: "input encoding: utf-8, windows-1252, latin1, utf-16", Destination: &o.Encoding},
			&cli.IntFlag{Name: "show-errors", Value: 10, Usage: "show the first N row errors", Destination: &o.MaxErrors},
			&cli.StringFlag{Name: "contacts-file", Usage: "resolve contact targets against this HubSpot contacts export (CSV with Record ID)", Destination: &o.ContactsFile},
		},
		Action: func(c *cli.Context) error {
			o.Inputs = c.Args().Slice()
			if len(o.Inputs) == 0 {
				return usagef("validate: no INPUT given (commlog validate --mapping m.yaml INPUT...)")
			}
			o.JSON, o.LogPII = g.json, g.logPII
			return runValidate(c.Context, o, g.env.stdout, g.env.stderr)
		},
	}
}

// validateReport is what validate prints (as JSON with --json).
type validateReport struct {
	Rows       int      `json:"rows"`
	Valid      int      `json:"valid"`
	Skipped    int      `json:"skipped"`
	Invalid    int      `json:"invalid"`
	Duplicates int      `json:"duplicate_keys"`
	Unresolved *int     `json:"unresolved,omitempty"` // only with --contacts-file
	Resolved   bool     `json:"targets_resolved"`
	SkipReason []count  `json:"skip_reasons,omitempty"`
	Errors     []string `json:"errors,omitempty"` // the first MaxErrors row errors
	Duplicate  []string `json:"duplicates,omitempty"`
	Notes      int      `json:"notes"`
	Warnings   []string `json:"warnings,omitempty"`
}

type count struct {
	What string `json:"what"`
	N    int    `json:"n"`
}

func runValidate(ctx context.Context, o validateOptions, stdout, stderr io.Writer) error {
	m, err := mapping.Load(o.Mapping)
	if err != nil {
		return err
	}
	opts := m.SourceOptions()
	if o.Format != "" {
		opts.Format = o.Format
	}
	if o.Encoding != "" {
		opts.Encoding = o.Encoding
	}
	open := o.open
	if open == nil {
		open = source.Open
	}
	var ix *mapping.Index
	if o.ContactsFile != "" {
		ix = mapping.NewIndex()
		ix.SetRegions(m.PhoneRegions()...)
		if _, err := ix.LoadContactsFile(o.ContactsFile); err != nil {
			return err
		}
	}

	var rep validateReport
	rep.Resolved = ix != nil
	unresolved := 0
	if ix != nil {
		rep.Unresolved = &unresolved
	}
	if !m.HasAssociations() {
		rep.Warnings = append(rep.Warnings, "the mapping has no associations: the communications would appear on no timeline")
	}
	skips := map[string]int{}
	// seen maps every key to the first row that had it. It grows with the
	// number of rows (one entry per valid row), which is fine for an offline check.
	seen := map[string]string{}
	addErr := func(msg string) {
		if len(rep.Errors) < o.MaxErrors {
			rep.Errors = append(rep.Errors, msg)
		}
	}
	for _, path := range o.Inputs {
		r, err := open(path, opts)
		if err != nil {
			return fmt.Errorf("validate: %w", err)
		}
		err = validateInput(ctx, r, m, ix, o, &rep, skips, seen, &unresolved, addErr)
		r.Close()
		if err != nil {
			return err
		}
	}
	for what, n := range skips {
		rep.SkipReason = append(rep.SkipReason, count{what, n})
	}
	sort.Slice(rep.SkipReason, func(i, j int) bool { return rep.SkipReason[i].What < rep.SkipReason[j].What })
	if ix == nil && m.HasAssociations() {
		rep.Warnings = append(rep.Warnings, "association targets were not resolved (offline); pass --contacts-file to check them against a contacts export")
	}

	for _, w := range rep.Warnings {
		fmt.Fprintf(stderr, "commlog: warning: %s\n", w)
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printValidate(stdout, &rep)
	}
	bad := rep.Invalid + unresolved
	if bad > 0 {
		return fmt.Errorf("validate: %d of %d rows invalid or unresolved: %w", bad, rep.Rows, batch.ErrRowsFailed)
	}
	return nil
}

func validateInput(ctx context.Context, r source.Reader, m *mapping.Mapping, ix *mapping.Index, o validateOptions,
	rep *validateReport, skips map[string]int, seen map[string]string, unresolved *int, addErr func(string)) error {
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := r.Next()
		if source.IsEOF(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("validate: %w", err)
		}
		rep.Rows++
		res := m.Apply(rec)
		rep.Notes += len(res.Notes)
		switch {
		case res.Err != nil:
			rep.Invalid++
			addErr(res.Err.Error())
			continue
		case res.Skipped != "":
			rep.Skipped++
			skips[res.Skipped]++
			continue
		}
		pos := fmt.Sprintf("%s:%d", res.File, res.Line)
		if first, dup := seen[res.Key]; dup {
			rep.Duplicates++
			if len(rep.Duplicate) < o.MaxErrors {
				rep.Duplicate = append(rep.Duplicate, fmt.Sprintf("%s: same key as %s (would be imported once)", pos, first))
			}
			continue
		}
		seen[res.Key] = pos
		if ix != nil {
			if why := unresolvedReason(ix, res.Targets, o.LogPII); why != "" {
				*unresolved++
				addErr(fmt.Sprintf("%s: unresolved: %s", pos, why))
				continue
			}
		}
		rep.Valid++
	}
}

// unresolvedReason says why a row's targets do not each resolve to exactly
// one record, or "" when they do. Targets that only a live index could
// resolve (companies, deals, tickets by property) count as resolved here.
func unresolvedReason(ix *mapping.Index, targets []mapping.Target, logPII bool) string {
	for _, t := range targets {
		if t.Reason != "" {
			if logPII {
				return fmt.Sprintf("%s by %s: %s", t.ObjectType, t.By, t.Reason)
			}
			return fmt.Sprintf("%s by %s: cannot be normalised", t.ObjectType, t.By)
		}
		if t.ObjectType != "contacts" && t.By != "id" {
			continue
		}
		val := "(value hidden; --log-pii shows it)"
		if logPII {
			val = fmt.Sprintf("%q", t.Value)
		}
		switch ids := ix.Resolve(t); len(ids) {
		case 1:
		case 0:
			return fmt.Sprintf("no %s with %s %s", t.ObjectType, t.By, val)
		default:
			return fmt.Sprintf("%d %s with %s %s", len(ids), t.ObjectType, t.By, val)
		}
	}
	return ""
}

func printValidate(w io.Writer, rep *validateReport) {
	fmt.Fprintf(w, "rows            %d\n", rep.Rows)
	fmt.Fprintf(w, "valid           %d\n", rep.Valid)
	fmt.Fprintf(w, "skipped         %d\n", rep.Skipped)
	for _, s := range rep.SkipReason {
		fmt.Fprintf(w, "  %-13s %d\n", s.What, s.N)
	}
	fmt.Fprintf(w, "invalid         %d\n", rep.Invalid)
	fmt.Fprintf(w, "duplicate keys  %d\n", rep.Duplicates)
	if rep.Unresolved != nil {
		fmt.Fprintf(w, "unresolved      %d\n", *rep.Unresolved)
	} else {
		fmt.Fprintf(w, "unresolved      not checked (offline)\n")
	}
	if rep.Notes > 0 {
		fmt.Fprintf(w, "notes           %d (DST overlaps resolved by source.ambiguous_time)\n", rep.Notes)
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(w, "\nfirst errors:\n")
		for _, e := range rep.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	if len(rep.Duplicate) > 0 {
		fmt.Fprintf(w, "\nduplicates:\n")
		for _, d := range rep.Duplicate {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
}
