package batch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/mapping"
	"github.com/commlog/commlog/source"
)

// StateNotSent marks rows whose batch was stopped before its request left
// (daily-quota reserve): they are sent again on the next run.
const StateNotSent = "not_sent"

// StatePlanned marks, in a plan ledger, a row that a real run would create.
const StatePlanned = "planned"

// KeyProperty is the communication property that carries commlog's
// idempotency key; reconciliation searches it.
const KeyProperty = crm.KeyProperty

// API is what the import needs of HubSpot; *crm.Client implements it.
type API interface {
	BatchCreate(ctx context.Context, objectType string, inputs []crm.CreateInput) (*crm.BatchResult, error)
	Search(ctx context.Context, objectType string, req crm.SearchRequest) (*crm.SearchResult, error)
	List(ctx context.Context, objectType string, q crm.ListOptions) (*crm.Page, error)
	Properties(ctx context.Context, objectType string) ([]crm.Property, error)
	Owners(ctx context.Context) ([]crm.Owner, error)
	EnsureKeyProperty(ctx context.Context) error
	Stats() crm.Stats
	Budget() crm.Budget
}

// ImportOptions configure one import run. RunOptions.Ledger "" puts the
// ledger next to the first input as <input>.ledger.csv.
type ImportOptions struct {
	RunOptions
	Mapping *mapping.Mapping
	Inputs  []string
	// Format and Encoding override the mapping's source settings when set.
	Format, Encoding string
	ContactsFile     string
	// SearchSettle is how long HubSpot's search index may lag behind writes.
	// Reconciliation waits for it (or for a record written later to show up
	// in search, whichever comes first) before it trusts a "not found".
	SearchSettle time.Duration
	// MaxHeldInDoubt bounds the rows of this run kept in memory to be
	// reconciled and re-sent before the run ends; beyond it, in-doubt rows
	// wait for the next run. Default 10,000.
	MaxHeldInDoubt int
	API            API

	// keyMemory overrides how many keys the key index holds in memory
	// before it spills to disk (tests use a handful to exercise the runs).
	keyMemory int
}

// MaxErrors is the --max-errors threshold: a count, or a percentage of the
// rows read so far (judged once 100 rows were read).
type MaxErrors struct {
	Count   int
	Percent float64
}

// ParseMaxErrors reads "N" or "P%"; "" means no limit.
func ParseMaxErrors(s string) (MaxErrors, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return MaxErrors{}, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return MaxErrors{}, fmt.Errorf("--max-errors %q: want a count or a percentage between 0 and 100", s)
		}
		return MaxErrors{Percent: f}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return MaxErrors{}, fmt.Errorf("--max-errors %q: want a count or a percentage such as 5%%", s)
	}
	return MaxErrors{Count: n}, nil
}

func (m MaxErrors) exceeded(errs, rows int64) bool {
	switch {
	case m.Count > 0:
		return errs >= int64(m.Count)
	case m.Percent > 0:
		return rows >= 100 && float64(errs)*100/float64(rows) >= m.Percent
	}
	return false
}

// Summary is what a run did. It is printed at the end and, with --json,
// written to stdout.
type Summary struct {
	RunID     string `json:"run_id"`
	Operation string `json:"operation,omitempty"`
	Ledger    string `json:"ledger"`
	Plan      bool   `json:"plan,omitempty"`
	Rows      int64  `json:"rows"`
	Created   int64  `json:"created"`
	// Done counts the records an operation other than create changed
	// (updated, archived, associated, pinned).
	Done             int64    `json:"done,omitempty"`
	Planned          int64    `json:"planned,omitempty"`
	AlreadyDone      int64    `json:"already_done"`
	Reconciled       int64    `json:"reconciled"`
	Skipped          int64    `json:"skipped"`
	Duplicates       int64    `json:"duplicates"`
	Failed           int64    `json:"failed"`
	PreviouslyFailed int64    `json:"previously_failed"`
	Invalid          int64    `json:"invalid"`
	Unresolved       int64    `json:"unresolved"`
	InDoubt          int64    `json:"in_doubt"`
	NotSent          int64    `json:"not_sent"`
	DuplicatesFound  int64    `json:"duplicates_found_in_hubspot"`
	Batches          int64    `json:"batches"`
	Requests         int64    `json:"requests"`
	RateLimited      int64    `json:"rate_limited"`
	Retries          int64    `json:"retries"`
	ElapsedSeconds   float64  `json:"elapsed_seconds"`
	RecordsPerSecond float64  `json:"records_per_second"`
	Stopped          string   `json:"stopped,omitempty"`
	InputBytes       int64    `json:"input_bytes"`
	BytesRead        int64    `json:"bytes_read"`
	Warnings         []string `json:"warnings,omitempty"`
}

// counters are the run's live numbers, updated from many goroutines.
type counters struct {
	rows, created, planned, alreadyDone, reconciled, skipped, duplicates      atomic.Int64
	failed, previouslyFailed, invalid, unresolved, inDoubt, notSent, dupFound atomic.Int64
	batches, inputBytes, bytesRead, done                                      atomic.Int64
}

// pendingRow is a mapped row on its way to HubSpot.
type pendingRow struct {
	file  string
	line  int
	key   string
	input crm.CreateInput
}

type importer struct {
	runner
	o  ImportOptions
	ix *mapping.Index

	mu   sync.Mutex // guards keys, held*, canary*
	keys *keyIndex
	// held are this run's in-doubt rows, kept to be reconciled and re-sent
	// before the run ends; heldLostAt is when the last of their answers was lost.
	held       []pendingRow
	heldLostAt time.Time
	// canaryKey is a key this run created and canarySent when its request
	// left: search showing it proves search caught up with earlier writes.
	canaryKey  string
	canarySent time.Time
}

// Import runs the import: read → map → resolve → drop rows already done →
// batch → send through the governor → record outcomes. It returns the
// summary and, when not every row ended done, an error wrapping one of
// ErrRowsFailed, ErrInDoubt or ErrStopped.
func Import(ctx context.Context, o ImportOptions) (*Summary, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	op, runLog := "import", RunLogPath(o.Ledger)
	if o.Plan {
		op, runLog = "plan", RunLogPath(planLedgerPath(o.Ledger))
	}
	imp := &importer{o: o, runner: newRunner(o.config(op, runLog, o.API))}

	// The key index spills next to the ledger: the disk the user chose for
	// the migration's records, not a temporary directory that may be memory.
	keys := newKeyIndex(filepath.Dir(o.Ledger))
	if o.keyMemory > 0 {
		keys.memKeys = o.keyMemory
	}
	defer keys.close()
	imp.keys = keys
	st := &ledgerState{keys: keys}
	if _, err := os.Stat(o.Ledger); err == nil {
		if _, err := repairTornTail(o.Ledger); err != nil {
			return nil, err
		}
		var lerr error
		if st, lerr = loadLedgerState(o.Ledger, keys); lerr != nil {
			return nil, lerr
		}
	}

	ledPath := o.Ledger
	if o.Plan {
		ledPath = planLedgerPath(o.Ledger)
		_ = os.Remove(ledPath) // a plan ledger describes one plan only
	}
	closeLedger, err := imp.openLedger(ledPath, o.Now)
	if err != nil {
		return nil, err
	}
	defer closeLedger()

	var warnings []string
	if !o.Mapping.HasAssociations() {
		warnings = append(warnings, "the mapping has no associations: the communications will appear on no record's timeline")
	}
	if imp.ix, err = imp.buildIndex(ctx); err != nil {
		return nil, err
	}
	if o.Plan {
		w, err := imp.checkPortal(ctx)
		if err != nil {
			return nil, err
		}
		warnings = append(warnings, w...)
	} else {
		if err := o.API.EnsureKeyProperty(ctx); err != nil {
			return nil, fmt.Errorf("creating the %s property: %w", KeyProperty, err)
		}
		if err := imp.reconcilePending(ctx, st); err != nil {
			return imp.finish(warnings), err
		}
	}
	for _, w := range warnings {
		imp.log.Warn(w)
	}

	smp := startSampler(imp.cfg.SampleEvery, imp.sample)
	err = imp.stream(ctx)
	if err == nil {
		err = imp.fatalErr()
	}
	if err == nil && !o.Plan && !imp.stopped() {
		err = imp.reconcileHeld(ctx)
	}
	return imp.end(err, warnings, smp)
}

func (o *ImportOptions) defaults() error {
	if o.Mapping == nil {
		return errors.New("import: no mapping")
	}
	if len(o.Inputs) == 0 {
		return errors.New("import: no input files")
	}
	if o.API == nil {
		return errors.New("import: no HubSpot client")
	}
	// Every input is checked before anything is written or asked of HubSpot.
	for _, in := range o.Inputs {
		fi, err := os.Stat(in)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if fi.IsDir() {
			return fmt.Errorf("import: %s is a directory, not an export file", in)
		}
	}
	if o.Ledger == "" {
		o.Ledger = o.Inputs[0] + ".ledger.csv"
	}
	if err := o.check("import"); err != nil {
		return err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SearchSettle == 0 {
		o.SearchSettle = 30 * time.Second
	}
	if o.MaxHeldInDoubt == 0 {
		o.MaxHeldInDoubt = 10000
	}
	return nil
}

func planLedgerPath(ledger string) string {
	return strings.TrimSuffix(ledger, filepath.Ext(ledger)) + ".plan.csv"
}

// stream reads every input and hands full batches to the senders.
func (imp *importer) stream(ctx context.Context) error {
	o := imp.o
	readCtx, cancel := imp.readContext(ctx)
	defer cancel()
	g, gctx := imp.group(ctx)
	var buf []pendingRow
	flush := func() {
		if len(buf) == 0 {
			return
		}
		rows := buf
		buf = nil
		if imp.o.Plan {
			imp.plan(rows)
			return
		}
		g.Go(func() error { return imp.send(gctx, rows, 1) })
	}
	srcOpts := o.Mapping.SourceOptions()
	if o.Format != "" {
		srcOpts.Format = o.Format
	}
	if o.Encoding != "" {
		srcOpts.Encoding = o.Encoding
	}
	srcOpts.Logger = imp.log
	for _, path := range o.Inputs {
		if fi, err := os.Stat(path); err == nil {
			imp.c.inputBytes.Add(fi.Size())
		}
	}
	var readErr error
	var doneBytes int64
inputs:
	for _, path := range o.Inputs {
		r, err := source.Open(path, srcOpts)
		if err != nil {
			readErr = err
			break
		}
		for {
			if reason := imp.shouldStop(readCtx, gctx); reason != "" {
				imp.stop(reason)
				r.Close()
				break inputs
			}
			rec, err := r.Next()
			if source.IsEOF(err) {
				break
			}
			if err != nil {
				readErr = err
				r.Close()
				break inputs
			}
			if rec.Offset > 0 {
				imp.c.bytesRead.Store(doneBytes + rec.Offset)
			}
			if p, ok := imp.handle(rec); ok {
				buf = append(buf, p)
				if len(buf) >= o.BatchSize {
					flush()
				}
			}
			if n := imp.c.rows.Load(); n%1000 == 0 {
				imp.progress()
			}
		}
		r.Close()
		if fi, err := os.Stat(path); err == nil {
			doneBytes += fi.Size()
			imp.c.bytesRead.Store(doneBytes)
		}
	}
	if !imp.stopped() {
		flush()
	}
	werr := g.Wait()
	imp.progress()
	if readErr != nil {
		return readErr
	}
	return werr
}

// handle maps one record. Rows that go no further are written to the
// ledger here; rows to create are returned.
func (imp *importer) handle(rec *source.Record) (pendingRow, bool) {
	imp.c.rows.Add(1)
	ev := LedgerRow{RunID: imp.runID, SourceFile: rec.File, SourceLine: rec.Line, Operation: OpCreate}
	if imp.o.Plan {
		ev.Operation = OpPlan
	}
	if rec.Err != nil {
		imp.c.invalid.Add(1)
		ev.State, ev.Category, ev.Message = StateInvalid, "INVALID_ROW", rec.Err.Error()
		imp.append(ev)
		return pendingRow{}, false
	}
	res := imp.o.Mapping.Apply(rec)
	ev.Key = res.Key
	switch {
	case res.Err != nil:
		imp.c.invalid.Add(1)
		ev.State, ev.Category, ev.Message = StateInvalid, "INVALID_ROW", res.Err.Error()
		imp.append(ev)
		return pendingRow{}, false
	case res.Skipped != "":
		imp.c.skipped.Add(1)
		ev.State, ev.Category, ev.Message = StateSkipped, "SKIP_RULE", res.Skipped
		imp.append(ev)
		return pendingRow{}, false
	}
	id := parseKey(res.Key)

	imp.mu.Lock()
	e, known, err := imp.keys.get(id)
	if err != nil {
		imp.mu.Unlock()
		imp.setFatal(err)
		return pendingRow{}, false
	}
	if known && e.state&seenThisRun != 0 {
		imp.mu.Unlock()
		imp.c.duplicates.Add(1)
		// The key column stays empty: the key's state belongs to the
		// earlier row, and a ledger reader must not mistake this event for it.
		ev.Key, ev.State, ev.Category = "", StateSkipped, "DUPLICATE_KEY"
		ev.Message = "duplicate of " + imp.keys.pos(e) + " (key " + res.Key + ")"
		imp.append(ev)
		return pendingRow{}, false
	}
	if !known {
		e = keyEntry{file: imp.keys.file(rec.File), line: uint32(rec.Line)}
	}
	prev := e.state
	e.state |= seenThisRun
	err = imp.keys.put(id, e)
	imp.mu.Unlock()
	if err != nil {
		imp.setFatal(err)
		return pendingRow{}, false
	}

	switch prev {
	case kCreated:
		imp.c.alreadyDone.Add(1)
		return pendingRow{}, false
	case kFailed:
		if !imp.o.RetryFailed {
			imp.c.previouslyFailed.Add(1)
			return pendingRow{}, false
		}
	}

	assoc, why, fail := imp.resolve(res.Targets)
	ownerID := ""
	if why == "" && res.OwnerEmail != "" {
		var ok bool
		if ownerID, ok = imp.ix.ResolveOwner(res.OwnerEmail); !ok {
			why = "no HubSpot owner with e-mail " + imp.redact(res.OwnerEmail)
		}
	}
	if why != "" {
		// The key stays unsettled in the ledger, so a later run (after the
		// contact or owner exists) creates the row.
		if fail {
			imp.c.failed.Add(1)
			ev.State = StateFailed
		} else {
			imp.c.unresolved.Add(1)
			ev.State = StateUnresolved
		}
		ev.Category, ev.Message = "UNRESOLVED_ASSOCIATION", why
		imp.append(ev)
		return pendingRow{}, false
	}
	props := res.Properties // a fresh map per result: the row owns it
	if props == nil {
		props = make(map[string]string, 2)
	}
	if ownerID != "" {
		props["hubspot_owner_id"] = ownerID
	}
	props[KeyProperty] = res.Key
	return pendingRow{
		file: rec.File, line: rec.Line, key: res.Key,
		input: crm.CreateInput{Properties: props, Associations: assoc, ObjectWriteTraceID: res.Key},
	}, true
}

// seenThisRun is or-ed into a key's state once a row with that key was
// read in this run: a second row with it is a duplicate.
const seenThisRun uint8 = 0x80

// resolve turns association targets into inline associations. Any target
// that matches no record or several leaves the row unresolved (fail: the
// target's on_missing is "fail"): commlog never guesses and never creates
// a communication without its association.
func (imp *importer) resolve(targets []mapping.Target) (assoc []crm.AssociationInput, why string, fail bool) {
	out := make([]crm.AssociationInput, 0, len(targets))
	for _, t := range targets {
		var ids []string
		if t.Reason == "" {
			ids = imp.ix.Resolve(t)
		}
		switch {
		case t.Reason != "":
			return nil, fmt.Sprintf("%s by %s: %s", t.ObjectType, t.By, t.Reason), t.OnMissing == "fail"
		case len(ids) == 0:
			return nil, fmt.Sprintf("no %s with %s %s", t.ObjectType, t.By, imp.redact(t.Value)), t.OnMissing == "fail"
		case len(ids) > 1:
			return nil, fmt.Sprintf("%d %s match %s %s", len(ids), t.ObjectType, t.By, imp.redact(t.Value)), t.OnMissing == "fail"
		}
		typeID, ok := crm.DefaultAssociationTypeID(crm.Communications, t.ObjectType)
		if !ok {
			return nil, fmt.Sprintf("no default association from communications to %s", t.ObjectType), true
		}
		out = append(out, crm.AssociationInput{
			To:    crm.ObjectID{ID: ids[0]},
			Types: []crm.AssociationType{{Category: crm.HubSpotDefined, TypeID: typeID}},
		})
	}
	return out, "", false
}

// redact hides phone numbers and e-mail addresses unless --log-pii: the
// ledger and the logs name the row, not the person.
func (imp *importer) redact(v string) string {
	if imp.o.LogPII || len(v) <= 4 {
		return v
	}
	return strings.Repeat("*", len(v)-4) + v[len(v)-4:]
}

// plan records what a real run would send, without sending it.
func (imp *importer) plan(rows []pendingRow) {
	evs := make([]LedgerRow, len(rows))
	for i, p := range rows {
		evs[i] = LedgerRow{RunID: imp.runID, SourceFile: p.file, SourceLine: p.line, Key: p.key,
			Operation: OpPlan, State: StatePlanned}
	}
	imp.c.planned.Add(int64(len(rows)))
	imp.append(evs...)
}

// send creates one batch. It writes "sent" for every row and makes that
// durable before the request leaves, then records each row's outcome. A
// batch that HubSpot rejects whole is split in halves until the bad rows
// are alone.
func (imp *importer) send(ctx context.Context, rows []pendingRow, attempt int) error {
	batch := int(imp.batchNo.Add(1))
	imp.c.batches.Add(1)
	evs := make([]LedgerRow, len(rows))
	inputs := make([]crm.CreateInput, len(rows))
	traceIDs := make([]string, len(rows))
	for i, p := range rows {
		evs[i] = imp.event(p, StateSent, attempt, batch)
		inputs[i] = p.input
		traceIDs[i] = p.key
	}
	// "sent" is made durable after the governor admitted the request and
	// right before each attempt leaves (the client calls back), so that a
	// lost write cannot reach HubSpot long after the ledger's last event:
	// reconciliation after a crash waits from that event.
	var sentAt time.Time
	var ledErr error
	sendCtx := crm.WithBeforeSend(ctx, func(try int) error {
		for i := range evs {
			evs[i].Time, evs[i].Attempt = "", attempt+try
		}
		if ledErr = imp.led.Append(evs...); ledErr == nil {
			ledErr = imp.led.Commit()
		}
		sentAt = imp.o.Now()
		return ledErr
	})
	res, err := imp.o.API.BatchCreate(sendCtx, crm.Communications, inputs)
	if ledErr != nil {
		return ledErr
	}
	var apiErr *crm.Error
	switch {
	case err == nil:
		imp.recordOutcomes(rows, traceIDs, res, attempt, batch, sentAt)
	case crm.IsBatchRejected(err) && len(rows) > 1:
		half := len(rows) / 2
		if err := imp.send(ctx, rows[:half], attempt+1); err != nil {
			return err
		}
		return imp.send(ctx, rows[half:], attempt+1)
	case errors.Is(err, crm.ErrDailyReserve):
		imp.stop("daily API quota reserve reached")
		imp.markAll(rows, StateNotSent, attempt, batch, 0, "DAILY_RESERVE", err.Error())
		imp.c.notSent.Add(int64(len(rows)))
	case crm.IsUnauthorized(err):
		return fmt.Errorf("batch %d: %w", batch, err)
	case errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 && !crm.IsRateLimited(err):
		// A 4xx answer means nothing was written.
		imp.markAll(rows, StateFailed, attempt, batch, apiErr.StatusCode, apiErr.Category, apiErr.Message)
		imp.c.failed.Add(int64(len(rows)))
	default:
		// In doubt: the request may have been applied (lost answer, 5xx
		// after retries, governor gave up). Reconciled before re-sending.
		status := 0
		if apiErr != nil {
			status = apiErr.StatusCode
		}
		imp.markAll(rows, StateInDoubt, attempt, batch, status, "IN_DOUBT", err.Error())
		imp.c.inDoubt.Add(int64(len(rows)))
		imp.hold(rows)
	}
	if err := imp.led.Commit(); err != nil {
		return err
	}
	imp.checkMaxErrors()
	imp.progress()
	return nil
}

func (imp *importer) event(p pendingRow, state string, attempt, batch int) LedgerRow {
	ev := LedgerRow{RunID: imp.runID, SourceFile: p.file, SourceLine: p.line, Key: p.key,
		Operation: OpCreate, State: state, Attempt: attempt, Batch: batch}
	if state == StateCreated {
		ev.BodySHA256 = BodyHash(p.input.Properties["hs_communication_body"])
	}
	return ev
}

func (imp *importer) recordOutcomes(rows []pendingRow, traceIDs []string, res *crm.BatchResult, attempt, batch int, sentAt time.Time) {
	outs := crm.MatchBatch(traceIDs, res, KeyProperty)
	byTrace := make(map[string]crm.ItemOutcome, len(outs))
	for _, o := range outs {
		byTrace[o.TraceID] = o
	}
	evs := make([]LedgerRow, 0, len(rows))
	var created, lastKey string
	for _, p := range rows {
		o := byTrace[p.key]
		ev := imp.event(p, "", attempt, batch)
		switch {
		case o.Err == nil && o.Object != nil:
			ev.State, ev.HubSpotID = StateCreated, o.Object.ID
			ev.BodySHA256 = BodyHash(p.input.Properties["hs_communication_body"])
			imp.c.created.Add(1)
			created, lastKey = o.Object.ID, p.key
		case o.Err != nil && o.Err.Category == "MISSING_RESULT", o.Err == nil:
			// HubSpot answered but named neither a result nor an error
			// for this row: it may exist.
			ev.State, ev.Category, ev.Message = StateInDoubt, "MISSING_RESULT", "HubSpot's answer did not name this row"
			imp.c.inDoubt.Add(1)
			imp.hold([]pendingRow{p})
		default:
			ev.State, ev.Category, ev.Message = StateFailed, o.Err.Category, itemMessage(o.Err)
			ev.HTTPStatus = 207
			imp.c.failed.Add(1)
		}
		evs = append(evs, ev)
	}
	if created != "" {
		imp.mu.Lock()
		if sentAt.After(imp.canarySent) {
			imp.canaryKey, imp.canarySent = lastKey, sentAt
		}
		imp.mu.Unlock()
	}
	imp.append(evs...)
}

// itemMessage joins a per-row error's message with its details' codes.
func itemMessage(e *crm.StandardError) string {
	msg := e.Message
	for _, d := range e.Errors {
		if d.Code != "" && !strings.Contains(msg, d.Code) {
			msg += " [" + d.Code + "]"
		}
	}
	return msg
}

func (imp *importer) markAll(rows []pendingRow, state string, attempt, batch, status int, category, msg string) {
	evs := make([]LedgerRow, len(rows))
	for i, p := range rows {
		evs[i] = imp.event(p, state, attempt, batch)
		evs[i].HTTPStatus, evs[i].Category, evs[i].Message = status, category, msg
	}
	imp.append(evs...)
}

// hold keeps in-doubt rows for the end-of-run reconciliation, up to the
// configured bound; the rest wait for the next run.
func (imp *importer) hold(rows []pendingRow) {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	imp.heldLostAt = imp.o.Now()
	room := imp.o.MaxHeldInDoubt - len(imp.held)
	if room <= 0 {
		return
	}
	imp.held = append(imp.held, rows[:min(room, len(rows))]...)
}

func (imp *importer) finish(warnings []string) *Summary {
	s := imp.summary()
	s.Warnings = warnings
	return s
}
