// Package report renders a run's ledger and run log as one self-contained HTML page.
//
// The page answers, for a ledger of any size: what landed, what failed and
// why (grouped by HubSpot's category and message, with the first file:line
// examples and the command that retries them), which associations could not
// be resolved, how fast the run went and whether HubSpot pushed back (429s,
// retries), per source file, for the latest run and for the ledger as a
// whole. It needs no network: styles are inline, charts are SVG drawn here,
// and the page carries a Content-Security-Policy that forbids scripts and
// every fetch.
//
// # What a row is
//
// A row's current state is the state of its last ledger event for its
// idempotency key. Events without a key (rows that could not be read) and
// "duplicate key" skips (a second input row with a key already seen, which
// says nothing about the first row's record) are rows of their own,
// identified by source_file:source_line, so a re-run that meets them again
// does not count them twice. Plan events never override a real outcome.
//
// # Size
//
// The ledger is streamed twice with [batch.ReadLedger]. The first pass keeps
// one small entry per row — the 16-byte key plus 8 bytes (the ordinal of its
// last event, its run, its state), about 50 MB of live heap with the map's
// overhead for a million rows (the process peaks near twice that under the
// default GOGC; BenchmarkReport1M measures it) — and per-run counts; the second pass uses the ordinals to
// pick each row's current event and groups those. Everything else is
// bounded: at most [maxGroups] failure groups (further distinct messages are
// pooled per category), a fixed number of examples per group, and at most
// [maxPoints] chart points however long the run.
package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"github.com/commlog/commlog/batch"
)

// Options say which ledger to report on and how.
type Options struct {
	// Ledger is the result ledger (CSV) to report on.
	Ledger string
	// RunLog is the run log beside it; "" means batch.RunLogPath(Ledger).
	// A missing run log is not an error: the rate chart is then derived
	// from the ledger's event times and the request/429 series are absent.
	RunLog string
	// RunID picks the run to detail; "" picks the latest.
	RunID string
	// LogPII shows phone numbers found in file names, messages and the
	// command line; without it they are masked. The ledger holds no
	// message bodies, and handles it already masks stay masked.
	LogPII bool
	// Examples is how many file:line examples each group shows (default 5).
	Examples int
	// MaxFiles caps the per-file table (default 200, largest files first).
	MaxFiles int
	// Now stamps the page; nil means time.Now.
	Now func() time.Time
}

// Bounds that keep memory and page size independent of the ledger's size.
const (
	maxGroups = 500 // distinct (state, category, message) groups
	maxPoints = 600 // chart points
)

// dupCategory is the category batch gives a row skipped because an earlier
// input row had the same key. Such an event is about the duplicate row, not
// about the key's record, so it must not replace the key's state.
const dupCategory = "DUPLICATE_KEY"

// States in the order the page shows them; "other" collects states this
// version does not know.
var states = []string{
	batch.StateCreated, batch.StateUpdated, batch.StateArchived, batch.StateFailed,
	batch.StateInvalid, batch.StateUnresolved, batch.StateSkipped, batch.StateInDoubt,
	batch.StateSent, batch.StateNotSent, batch.StatePlanned, "other",
}

const nStates = 12 // len(states); an array length must be constant

var stateIndex = func() map[string]uint8 {
	m := make(map[string]uint8, len(states))
	for i, s := range states {
		m[s] = uint8(i)
	}
	return m
}()

func stateCode(s string) uint8 {
	if c, ok := stateIndex[s]; ok && s != "other" {
		return c
	}
	return nStates - 1
}

// Counts holds one number per state, in the order of [States].
type Counts [nStates]int64

// States lists the state names in the order Counts holds them.
func States() []string { return append([]string(nil), states...) }

// Of returns the count for a state name.
func (c *Counts) Of(state string) int64 { return c[stateCode(state)] }

// Total is the sum over all states.
func (c *Counts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// Report is everything the page shows. Build computes it; Render draws it.
type Report struct {
	Ledger      string
	RunLog      string // "" when there was none
	GeneratedAt time.Time
	LogPII      bool
	Events      int64
	Rows        int64
	States      Counts // current state of every row
	Runs        []Run  // oldest first
	Selected    int    // index into Runs; -1 for an empty ledger without runs
	Issues      []Issue
	Files       []FileRow
	MoreFiles   int // files left out of Files
	Chart       Chart
}

// Run is one run, as the ledger and the run log tell it.
type Run struct {
	ID         string
	Operation  string
	Command    []string
	StartedAt  time.Time
	FinishedAt time.Time
	Outcome    string
	Error      string
	Events     int64
	// States counts the rows this run wrote events for, by their state
	// when the run ended.
	States      Counts
	InRunLog    bool
	InLedger    bool
	Summary     *batch.Summary
	Requests    int64
	RateLimited int64
	Retries     int64
	Samples     []batch.Sample
}

// Issue is the rows in one state that need attention, grouped.
type Issue struct {
	State  string
	Rows   int64
	Groups []Group
}

// Group is rows sharing a state, an error category and a message.
type Group struct {
	State    string
	Category string
	Message  string
	Status   int // HTTP status of the first example, 0 if none
	Rows     int64
	Examples []Pos
}

// Pos is a place in a source file.
type Pos struct {
	File string
	Line int
}

// FileRow is one source file's rows by current state.
type FileRow struct {
	File   string
	Rows   int64
	States Counts
}

type keyID [16]byte

// entry is what pass one keeps per row; keep it at 8 bytes.
type entry struct {
	ord   uint32 // ordinal of the row's current event
	run   uint16
	state uint8
	plan  bool
}

// identity is the row an event is about.
func identity(r *batch.LedgerRow) keyID {
	var id keyID
	if r.Key != "" && r.Category != dupCategory {
		// As batch does: 32 hex characters are the key's bytes; any other
		// key is hashed.
		if len(r.Key) == 32 {
			if _, err := hex.Decode(id[:], []byte(r.Key)); err == nil {
				return id
			}
		}
		sum := sha256.Sum256([]byte(r.Key))
		copy(id[:], sum[:16])
		return id
	}
	h := fnv.New128a()
	h.Write([]byte("\x00pos\x00"))
	h.Write([]byte(r.SourceFile))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(r.SourceLine), 10))
	h.Sum(id[:0])
	return id
}

// Build reads the ledger (twice, streaming) and its run log.
func Build(ctx context.Context, o Options) (*Report, error) {
	if o.Ledger == "" {
		return nil, errors.New("report: no ledger")
	}
	if o.RunLog == "" {
		o.RunLog = batch.RunLogPath(o.Ledger)
	}
	if o.Examples <= 0 {
		o.Examples = 5
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = 200
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	recs, found, err := readRunLog(o.RunLog)
	if err != nil {
		return nil, err
	}
	rep := &Report{Ledger: o.Ledger, GeneratedAt: o.Now().UTC(), LogPII: o.LogPII, Selected: -1}
	if found {
		rep.RunLog = o.RunLog
	}

	p1, err := passOne(ctx, o.Ledger)
	if err != nil {
		return nil, err
	}
	rep.Events = int64(p1.events)
	rep.Rows = int64(len(p1.rows))
	rep.States = p1.overall
	rep.Runs = mergeRuns(p1, recs)
	if rep.Selected, err = selectRun(rep.Runs, o.RunID); err != nil {
		return nil, err
	}

	var sel *Run
	selLedgerIdx := -1
	if rep.Selected >= 0 {
		sel = &rep.Runs[rep.Selected]
		if i, ok := p1.runIdx[sel.ID]; ok {
			selLedgerIdx = int(i)
		}
	}
	p2 := newPassTwo(p1, o, sel, selLedgerIdx)
	if err := p2.run(ctx, o.Ledger); err != nil {
		return nil, err
	}
	rep.Issues = p2.issues()
	rep.Files, rep.MoreFiles = p2.files(o.MaxFiles)
	rep.Chart = buildChart(sel, p2.ledgerBuckets, p2.bucketWidth)
	return rep, nil
}

// ledgerRun is what pass one learns about a run from the ledger.
type ledgerRun struct {
	id          string
	events      int64
	first, last string // event times as written
	states      Counts
}

type passOneResult struct {
	rows    map[keyID]entry
	runs    []*ledgerRun
	runIdx  map[string]uint16
	events  uint32
	overall Counts
}

// checkEvery is how often (in events) the passes look at ctx.
const checkEvery = 1 << 14

func passOne(ctx context.Context, path string) (*passOneResult, error) {
	p := &passOneResult{rows: make(map[keyID]entry), runIdx: make(map[string]uint16)}
	err := batch.ReadLedger(path, func(r batch.LedgerRow) error {
		if p.events == 1<<32-1 {
			return fmt.Errorf("report: ledger %s has more than %d events", path, uint32(1<<32-1))
		}
		p.events++
		if p.events%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ri, ok := p.runIdx[r.RunID]
		if !ok {
			if len(p.runs) >= 1<<16-1 {
				return fmt.Errorf("report: ledger %s has more than %d runs", path, 1<<16-1)
			}
			ri = uint16(len(p.runs))
			p.runIdx[r.RunID] = ri
			p.runs = append(p.runs, &ledgerRun{id: r.RunID, first: r.Time})
		}
		lr := p.runs[ri]
		lr.events++
		lr.last = r.Time

		id := identity(&r)
		plan := r.Operation == batch.OpPlan
		e, seen := p.rows[id]
		if seen && plan && !e.plan {
			return nil // a plan never overrides what really happened
		}
		if seen && e.run != ri {
			// Runs are sequential: the row's previous run is over.
			p.runs[e.run].states[e.state]++
		}
		p.rows[id] = entry{ord: p.events, run: ri, state: stateCode(r.State), plan: plan}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for _, e := range p.rows {
		p.runs[e.run].states[e.state]++
		p.overall[e.state]++
	}
	return p, nil
}

// mergeRuns joins the runs the ledger names with the run log's records,
// oldest first.
func mergeRuns(p1 *passOneResult, recs []batch.RunRecord) []Run {
	var runs []Run
	byID := map[string]int{}
	for _, lr := range p1.runs {
		r := Run{ID: lr.id, Events: lr.events, States: lr.states, InLedger: true}
		r.StartedAt, _ = time.Parse(time.RFC3339Nano, lr.first)
		r.FinishedAt, _ = time.Parse(time.RFC3339Nano, lr.last)
		byID[lr.id] = len(runs)
		runs = append(runs, r)
	}
	for _, rec := range recs {
		i, ok := byID[rec.RunID]
		if !ok {
			i = len(runs)
			byID[rec.RunID] = i
			runs = append(runs, Run{ID: rec.RunID})
		}
		r := &runs[i]
		r.InRunLog = true
		r.Operation, r.Command, r.Outcome, r.Error = rec.Operation, rec.Command, rec.Outcome, rec.Error
		if !rec.StartedAt.IsZero() {
			r.StartedAt = rec.StartedAt
		}
		if !rec.FinishedAt.IsZero() {
			r.FinishedAt = rec.FinishedAt
		}
		r.Summary, r.Samples = rec.Summary, rec.Samples
		if s := rec.Summary; s != nil {
			r.Requests, r.RateLimited, r.Retries = s.Requests, s.RateLimited, s.Retries
		} else if n := len(rec.Samples); n > 0 {
			last := rec.Samples[n-1]
			r.Requests, r.RateLimited, r.Retries = last.Requests, last.RateLimited, last.Retries
		}
	}
	// Stable: runs with equal start times keep ledger, then run log, order.
	sort.SliceStable(runs, func(a, b int) bool { return runs[a].StartedAt.Before(runs[b].StartedAt) })
	return runs
}

func selectRun(runs []Run, id string) (int, error) {
	if id == "" {
		return len(runs) - 1, nil // -1 when there are none
	}
	for i := range runs {
		if runs[i].ID == id {
			return i, nil
		}
	}
	return -1, fmt.Errorf("report: run %q is neither in the ledger nor in its run log", id)
}
