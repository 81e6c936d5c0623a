package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/commlog/commlog/crm"
)

// API is what an export needs of HubSpot; *crm.Client implements it.
// Implementations return HubSpot's answers as they are: export decides
// what a missing or out-of-order record means.
type API interface {
	Properties(ctx context.Context, objectType string) ([]crm.Property, error)
	List(ctx context.Context, objectType string, q crm.ListOptions) (*crm.Page, error)
	Search(ctx context.Context, objectType string, req crm.SearchRequest) (*crm.SearchResult, error)
	// BatchReadAssociations maps each of ids to the records of toType it
	// is associated with; ids without any (or gone) are absent.
	BatchReadAssociations(ctx context.Context, fromType, toType string, ids []string) (map[string][]crm.AssociatedID, error)
}

// DefaultSafetyLag is how long an incremental run assumes HubSpot's search
// index may lag behind writes. HubSpot documents only "a few moments".
const DefaultSafetyLag = 5 * time.Minute

// Options configure one export run.
type Options struct {
	API API
	// Format: "" takes it from Output's extension, and CSV for stdout.
	Format Format
	// Output is the file to write (through a temporary file renamed on
	// success); "" or "-" streams to Stdout.
	Output string
	Stdout io.Writer
	// Properties to export; nil exports every communication property the
	// properties API lists.
	Properties []string
	// Associations to export as id lists: contacts, companies, deals,
	// tickets (singular names accepted).
	Associations []string
	// Archived adds archived records to a full export. Incremental runs
	// always include the records archived in their window.
	Archived bool
	// State is the incremental state file; "" runs a full export.
	State string
	// SafetyLag is how far behind the run's start the window ends
	// (0 = DefaultSafetyLag). Match it to the search index lag.
	SafetyLag time.Duration
	// AssociationWorkers bounds the concurrent association reads (one
	// batch read per associated object type and search page) in an
	// incremental run (0 = 4; the crm client paces them anyway).
	AssociationWorkers int
	Now                func() time.Time // nil = time.Now
	Logger             *slog.Logger     // nil = discard
	// Progress, when set, receives a copy of the summary after each page.
	Progress func(Summary)

	// For tests: page sizes and the search cap (0 = HubSpot's 100, 200,
	// 10,000).
	listLimit, searchLimit, searchCap int
}

// Summary says what a run did. Records = Live + Archived rows written.
type Summary struct {
	Mode     string `json:"mode"` // full, incremental or initial (the first incremental run)
	Output   string `json:"output"`
	Format   Format `json:"format"`
	Records  int64  `json:"records"`
	Live     int64  `json:"live"`
	Archived int64  `json:"archived"`
	Pages    int64  `json:"pages"`
	// Requests counts API calls made by the export (the crm client's own
	// Stats count retries on top).
	Requests       int64    `json:"requests"`
	WindowFrom     string   `json:"window_from,omitempty"`
	WindowTo       string   `json:"window_to,omitempty"`
	HighWaterMark  string   `json:"high_water_mark,omitempty"` // the new mark, once written
	StartedAt      string   `json:"started_at"`
	ElapsedSeconds float64  `json:"elapsed_seconds"`
	Warnings       []string `json:"warnings,omitempty"`
}

// Modes of a run.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
	ModeInitial     = "initial"
)

// maxWarnings bounds Summary.Warnings; the count goes on.
const maxWarnings = 20

// run is the state of one export.
type run struct {
	opts   Options
	api    *countingAPI
	plan   *plan
	out    rowWriter
	log    *slog.Logger
	sum    Summary
	start  time.Time
	now    func() time.Time
	warned int

	// newest is the latest change time written, in ms (for the mark).
	newest int64
	// archivedFrom/To filter the archived list in incremental runs.
	archivedFrom, archivedTo int64
	incremental              bool
	hasMark                  bool
}

// Run exports communications as opts say. It returns the summary (also on
// error, with what was done) and an error when the run did not complete;
// then the output file and the state file are left as they were. A
// cancelled ctx ends the run with ctx's error.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	if opts.API == nil {
		return nil, errors.New("export: no API")
	}
	if opts.SafetyLag < 0 {
		return nil, errors.New("export: SafetyLag must not be negative")
	}
	if opts.SafetyLag == 0 {
		opts.SafetyLag = DefaultSafetyLag
	}
	if opts.Output == "-" {
		opts.Output = ""
	}
	if opts.Format == "" {
		opts.Format = FormatOf(opts.Output)
		if opts.Format == "" {
			if opts.Output != "" {
				return nil, fmt.Errorf("export: cannot tell the format of %s from its extension; give one (csv or jsonl)", opts.Output)
			}
			opts.Format = CSV
		}
	}
	if _, err := ParseFormat(string(opts.Format)); err != nil {
		return nil, err
	}
	if opts.AssociationWorkers <= 0 {
		opts.AssociationWorkers = 4
	}
	if opts.listLimit <= 0 {
		opts.listLimit = 100
	}
	if opts.searchLimit <= 0 {
		opts.searchLimit = 200
	}
	if opts.searchCap <= 0 {
		opts.searchCap = searchCap
	}
	r := &run{opts: opts, api: &countingAPI{API: opts.API}, now: opts.Now, log: opts.Logger}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.start = r.now().UTC()
	r.sum = Summary{Mode: ModeFull, Output: opts.Output, Format: opts.Format, StartedAt: formatTime(r.start)}
	if opts.Output == "" {
		r.sum.Output = "-"
	}
	err := r.exec(ctx)
	r.sum.Requests = r.api.calls.Load()
	r.sum.ElapsedSeconds = r.now().Sub(r.start).Seconds()
	return &r.sum, err
}

func (r *run) exec(ctx context.Context) error {
	var (
		state   *State
		mark    time.Time
		hasMark bool
	)
	if r.opts.State != "" {
		var err error
		if state, err = ReadState(r.opts.State); err != nil {
			return err
		}
		if mark, hasMark, _ = state.mark(); hasMark {
			r.hasMark = true
			r.sum.Mode = ModeIncremental
		} else {
			r.sum.Mode = ModeInitial
		}
		r.incremental = true
	}
	upper := r.start.Add(-r.opts.SafetyLag).Truncate(time.Millisecond)
	if hasMark && !mark.Before(upper) {
		r.log.Info("export: nothing to do yet: the mark is within the safety lag", "mark", formatTime(mark), "window_to", formatTime(upper))
	}

	defs, err := r.api.Properties(ctx, crm.Communications)
	if err != nil {
		return fmt.Errorf("export: reading communication properties: %w", err)
	}
	if r.plan, err = newPlan(defs, r.opts.Properties, r.opts.Associations); err != nil {
		return err
	}
	s, err := openSink(r.opts.Output, r.opts.Stdout)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			s.abort()
		}
	}()
	if r.out, err = newRowWriter(r.opts.Format, s.w, r.plan); err != nil {
		return err
	}

	switch {
	case !r.incremental:
		if err := r.list(ctx, false); err != nil {
			return err
		}
		if r.opts.Archived {
			if err := r.list(ctx, true); err != nil {
				return err
			}
		}
	case !hasMark:
		// First run: everything, through the list endpoint (no index lag
		// to allow for), archived records included so the warehouse
		// knows them.
		r.archivedFrom, r.archivedTo = minMillis, upper.UnixMilli()
		r.sum.WindowTo = formatTime(upper)
		if err := r.list(ctx, false); err != nil {
			return err
		}
		if err := r.list(ctx, true); err != nil {
			return err
		}
	default:
		r.sum.WindowFrom, r.sum.WindowTo = formatTime(mark), formatTime(upper)
		r.archivedFrom, r.archivedTo = mark.UnixMilli(), upper.UnixMilli()
		r.newest = mark.UnixMilli()
		if mark.Before(upper) {
			w := &walker{api: r.api, props: r.plan.requested(), limit: r.opts.searchLimit, cap: r.opts.searchCap,
				page: r.searchPage, pages: func() { r.sum.Pages++ }}
			if err := w.walk(ctx, mark.UnixMilli(), upper.UnixMilli()); err != nil {
				return err
			}
			if err := r.list(ctx, true); err != nil {
				return err
			}
		}
	}

	if err := r.out.flush(); err != nil {
		return fmt.Errorf("export: writing %s: %w", r.sum.Output, err)
	}
	if err := ctx.Err(); err != nil {
		return err // interrupted after the last page: keep the old file and mark
	}
	if err := s.commit(); err != nil {
		return err
	}
	committed = true
	if !r.incremental {
		return nil
	}
	return r.saveState(state, upper)
}

// minMillis is "no lower bound" for the archived filter.
const minMillis = -1 << 62

// saveState writes the new mark: min(window end, newest change written).
// With nothing written, the mark stays where it was.
func (r *run) saveState(old *State, upper time.Time) error {
	next := &State{}
	if old != nil {
		next.HighWaterMark = old.HighWaterMark
	}
	if r.sum.Records > 0 || r.hasMark {
		next.HighWaterMark = formatTime(time.UnixMilli(min(upper.UnixMilli(), r.newest)))
	}
	next.LastRun = &LastRun{
		Mode: r.sum.Mode, StartedAt: r.sum.StartedAt, FinishedAt: formatTime(r.now()),
		WindowFrom: r.sum.WindowFrom, WindowTo: formatTime(upper), Output: r.sum.Output, Format: r.sum.Format,
		Records: r.sum.Records, Archived: r.sum.Archived, Pages: r.sum.Pages, Requests: r.api.calls.Load(),
	}
	if err := WriteState(r.opts.State, next); err != nil {
		return err
	}
	r.sum.HighWaterMark = next.HighWaterMark
	return nil
}

// list pages the list endpoint, live or archived records, writing each.
// In incremental runs archived records are kept only when archived inside
// the window.
func (r *run) list(ctx context.Context, archived bool) error {
	q := crm.ListOptions{Limit: r.opts.listLimit, Properties: r.plan.requested(), Associations: r.plan.assocs, Archived: archived}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page, err := r.api.List(ctx, crm.Communications, q)
		r.sum.Pages++
		if err != nil {
			what := "communications"
			if archived {
				what = "archived communications"
			}
			return fmt.Errorf("export: listing %s: %w", what, err)
		}
		for i := range page.Results {
			o := &page.Results[i]
			if archived {
				o.Archived = true
				if r.incremental && r.sum.Mode == ModeIncremental && !r.inArchivedWindow(o) {
					continue
				}
			}
			if err := r.write(o); err != nil {
				return err
			}
		}
		r.progress()
		if page.After == "" {
			return nil
		}
		if page.After == q.After {
			return fmt.Errorf("export: listing communications: HubSpot returned the same cursor %q twice", page.After)
		}
		q.After = page.After
	}
}

// inArchivedWindow keeps records archived in [mark, upper). Without an
// archivedAt the record is kept: a row too many is harmless, a gap is not.
func (r *run) inArchivedWindow(o *crm.Object) bool {
	at := o.UpdatedAt
	if o.ArchivedAt != nil {
		at = *o.ArchivedAt
	}
	if at.IsZero() {
		return true
	}
	ms := at.UnixMilli()
	return ms >= r.archivedFrom && ms < r.archivedTo
}

// searchPage writes one page of the incremental walk, reading the
// associations search does not return first.
func (r *run) searchPage(ctx context.Context, objs []crm.Object) error {
	if len(r.plan.assocs) > 0 {
		if err := r.readAssociations(ctx, objs); err != nil {
			return err
		}
	}
	for i := range objs {
		if err := r.write(&objs[i]); err != nil {
			return err
		}
	}
	r.progress()
	return nil
}

// readAssociations fills objs' associations, which search does not
// return: one v4 batch read per associated object type for the whole page.
// A record archived or deleted since the search comes back without
// associations; an archived one is written again, with them, by the run
// whose window holds its archive time.
func (r *run) readAssociations(ctx context.Context, objs []crm.Object) error {
	ids := make([]string, len(objs))
	for i := range objs {
		ids[i] = objs[i].ID
	}
	got := make([]map[string][]crm.AssociatedID, len(r.plan.assocs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.AssociationWorkers)
	for i, t := range r.plan.assocs {
		g.Go(func() error {
			m, err := r.api.BatchReadAssociations(gctx, crm.Communications, t, ids)
			if err != nil {
				return fmt.Errorf("export: reading %s associations of %d records: %w", t, len(ids), err)
			}
			got[i] = m
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range objs {
		o := &objs[i]
		o.Associations = nil
		for j, t := range r.plan.assocs {
			if l := got[j][o.ID]; len(l) > 0 {
				if o.Associations == nil {
					o.Associations = make(map[string]crm.AssociationList, len(r.plan.assocs))
				}
				o.Associations[t] = crm.AssociationList{Results: l}
			}
		}
	}
	return nil
}

// write writes one row and counts it.
func (r *run) write(o *crm.Object) error {
	if err := r.out.write(o); err != nil {
		return fmt.Errorf("export: writing %s: %w", r.sum.Output, err)
	}
	r.sum.Records++
	if o.Archived {
		r.sum.Archived++
	} else {
		r.sum.Live++
	}
	for _, list := range o.Associations {
		if list.Paging != nil && list.Paging.Next != nil {
			r.warn(fmt.Sprintf("record %s has more associations than HubSpot returns inline; its association columns are incomplete", o.ID))
			break
		}
	}
	// The newest change seen moves the mark. In an incremental run only
	// what search returned counts: the archived list has no index lag, so
	// an archive time there says nothing about which updates search has
	// indexed, and letting it move the mark could pass an update still
	// invisible because the index lags more than SafetyLag.
	switch {
	case o.Archived && r.sum.Mode == ModeIncremental:
	case o.Archived && o.ArchivedAt != nil:
		r.newest = max(r.newest, o.ArchivedAt.UnixMilli())
	default:
		if m, err := modifiedMillis(o); err == nil {
			r.newest = max(r.newest, m)
		}
	}
	return nil
}

func (r *run) warn(msg string) {
	r.warned++
	if r.warned <= maxWarnings {
		r.sum.Warnings = append(r.sum.Warnings, msg)
	} else if r.warned == maxWarnings+1 {
		r.sum.Warnings = append(r.sum.Warnings, "more warnings not shown")
	}
	r.log.Warn("export: " + msg)
}

func (r *run) progress() {
	if r.opts.Progress == nil {
		return
	}
	s := r.sum
	s.Requests = r.api.calls.Load()
	s.ElapsedSeconds = r.now().Sub(r.start).Seconds()
	r.opts.Progress(s)
}

// countingAPI counts calls.
type countingAPI struct {
	API
	calls atomic.Int64
}

func (c *countingAPI) Properties(ctx context.Context, objectType string) ([]crm.Property, error) {
	c.calls.Add(1)
	return c.API.Properties(ctx, objectType)
}

func (c *countingAPI) List(ctx context.Context, objectType string, q crm.ListOptions) (*crm.Page, error) {
	c.calls.Add(1)
	return c.API.List(ctx, objectType, q)
}

func (c *countingAPI) Search(ctx context.Context, objectType string, req crm.SearchRequest) (*crm.SearchResult, error) {
	c.calls.Add(1)
	return c.API.Search(ctx, objectType, req)
}

func (c *countingAPI) BatchReadAssociations(ctx context.Context, fromType, toType string, ids []string) (map[string][]crm.AssociatedID, error) {
	c.calls.Add(1)
	return c.API.BatchReadAssociations(ctx, fromType, toType, ids)
}
