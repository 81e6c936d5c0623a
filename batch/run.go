package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/commlog/commlog/crm"
)

// runConfig is what every ledgered write operation shares: how it is
// paced, when it stops, and where it reports.
type runConfig struct {
	Operation   string // the run log's operation name
	RunLog      string // the run log's path
	Plan        bool
	Workers     int
	MaxErrors   MaxErrors
	MaxDuration time.Duration
	API         meter
	Logger      *slog.Logger
	Progress    func(Summary)
	Now         func() time.Time
	RunID       string
	Command     []string
	SampleEvery time.Duration
}

// meter is what the runner reads of the HubSpot client for its summary.
type meter interface {
	Stats() crm.Stats
	Budget() crm.Budget
}

// runner is the machine every write operation runs on: the ledger, the
// counters, the batch workers whose in-flight requests survive the first
// interrupt, the stop conditions (interrupt, --max-duration, --max-errors,
// a fatal error), the summary and the run log record. Import drives it
// from its streaming reader; the other operations hand it their items and
// an op that sends one batch (runItemsIn).
type runner struct {
	cfg        runConfig
	log        *slog.Logger
	led        *Ledger
	c          counters
	start      time.Time
	runID      string
	batchNo    atomic.Int64
	stopReason atomic.Value

	fatalMu sync.Mutex
	fatal   error
}

func newRunner(cfg runConfig) runner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SampleEvery == 0 {
		cfg.SampleEvery = time.Second
	}
	if cfg.RunID == "" {
		cfg.RunID = cfg.Now().UTC().Format("20060102T150405.000Z")
	}
	return runner{cfg: cfg, log: cfg.Logger, start: cfg.Now(), runID: cfg.RunID}
}

// workers derives the concurrency from the rate budget: enough requests
// in flight to use the window at a few hundred milliseconds of latency.
func (r *runner) workers() int {
	if r.cfg.Workers > 0 {
		return r.cfg.Workers
	}
	b := r.cfg.API.Budget()
	rps := 10.0
	if b.WindowMax > 0 && b.Window > 0 {
		rps = float64(b.WindowMax) / b.Window.Seconds()
	}
	return min(max(int(math.Ceil(rps*0.5)), 4), 32)
}

// group returns the errgroup batches run in, and the context of their
// requests. In-flight batches finish even after an interrupt: their
// requests run on a context the first Ctrl-C does not cancel (the second
// one ends the process, and the rows stay "sent" for the next run).
func (r *runner) group(ctx context.Context) (*errgroup.Group, context.Context) {
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	g.SetLimit(r.workers())
	return g, gctx
}

// readContext bounds the reading side of a run by --max-duration.
func (r *runner) readContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.cfg.MaxDuration > 0 {
		return context.WithTimeout(ctx, r.cfg.MaxDuration)
	}
	return ctx, func() {}
}

func (r *runner) shouldStop(readCtx, gctx context.Context) string {
	if err := readCtx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Sprintf("--max-duration %s reached", r.cfg.MaxDuration)
		}
		return "interrupted"
	}
	if gctx.Err() != nil {
		return "a batch failed fatally"
	}
	if s := r.stopReason.Load(); s != nil {
		return s.(string)
	}
	return ""
}

func (r *runner) stop(reason string) {
	r.stopReason.CompareAndSwap(nil, reason)
}

func (r *runner) stopped() bool { return r.stopReason.Load() != nil }

func (r *runner) append(rows ...LedgerRow) {
	if err := r.led.Append(rows...); err != nil {
		r.setFatal(err)
	}
}

func (r *runner) setFatal(err error) {
	r.fatalMu.Lock()
	if r.fatal == nil {
		r.fatal = err
	}
	r.fatalMu.Unlock()
	r.stop("fatal: " + err.Error())
}

func (r *runner) fatalErr() error {
	r.fatalMu.Lock()
	defer r.fatalMu.Unlock()
	return r.fatal
}

func (r *runner) checkMaxErrors() {
	errs := r.c.failed.Load() + r.c.invalid.Load()
	if r.cfg.MaxErrors.exceeded(errs, r.c.rows.Load()) {
		r.stop(fmt.Sprintf("--max-errors reached (%d rows failed or invalid)", errs))
	}
}

func (r *runner) progress() {
	if r.cfg.Progress != nil {
		r.cfg.Progress(*r.summary())
	}
}

func (r *runner) sample() Sample {
	st := r.cfg.API.Stats()
	return Sample{
		Seconds: r.cfg.Now().Sub(r.start).Seconds(),
		Rows:    r.c.rows.Load(), Created: r.c.created.Load() + r.c.done.Load(),
		Failed:   r.c.failed.Load() + r.c.invalid.Load() + r.c.unresolved.Load(),
		Requests: st.Requests, RateLimited: st.RateLimited, Retries: st.Retries,
	}
}

func (r *runner) summary() *Summary {
	c := &r.c
	st := r.cfg.API.Stats()
	el := r.cfg.Now().Sub(r.start).Seconds()
	s := &Summary{
		RunID: r.runID, Plan: r.cfg.Plan, Operation: r.cfg.Operation,
		Rows: c.rows.Load(), Created: c.created.Load(), Done: c.done.Load(), Planned: c.planned.Load(),
		AlreadyDone: c.alreadyDone.Load(), Reconciled: c.reconciled.Load(),
		Skipped: c.skipped.Load(), Duplicates: c.duplicates.Load(), Failed: c.failed.Load(),
		PreviouslyFailed: c.previouslyFailed.Load(), Invalid: c.invalid.Load(),
		Unresolved: c.unresolved.Load(), InDoubt: c.inDoubt.Load(), NotSent: c.notSent.Load(),
		DuplicatesFound: c.dupFound.Load(), Batches: c.batches.Load(),
		Requests: st.Requests, RateLimited: st.RateLimited, Retries: st.Retries,
		ElapsedSeconds: math.Round(el*1000) / 1000,
		InputBytes:     c.inputBytes.Load(), BytesRead: c.bytesRead.Load(),
	}
	if r.led != nil {
		s.Ledger = r.led.Path()
	}
	if el > 0 {
		s.RecordsPerSecond = math.Round(float64(s.Created+s.Done)/el*10) / 10
	}
	if v := r.stopReason.Load(); v != nil {
		s.Stopped = v.(string)
	}
	return s
}

// end commits the ledger, builds the summary, turns it into the run's
// outcome error (when err is nil) and appends the run log record.
func (r *runner) end(err error, warnings []string, smp *sampler) (*Summary, error) {
	if err == nil {
		err = r.fatalErr()
	}
	if r.led != nil {
		if cerr := r.led.Commit(); err == nil {
			err = cerr
		}
	}
	sum := r.summary()
	sum.Warnings = warnings
	if err == nil {
		err = outcomeError(sum)
	}
	var samples []Sample
	if smp != nil {
		samples = smp.finish(r.sample)
	}
	if lerr := r.writeRunRecord(sum, samples, err); lerr != nil {
		r.log.Warn("could not write the run log", "error", lerr)
	}
	return sum, err
}

func (r *runner) writeRunRecord(sum *Summary, samples []Sample, err error) error {
	if r.cfg.RunLog == "" {
		return nil
	}
	b := r.cfg.API.Budget()
	rec := RunRecord{
		RunID: r.runID, Operation: r.cfg.Operation, Command: r.cfg.Command,
		StartedAt: r.start.UTC(), FinishedAt: r.cfg.Now().UTC(),
		Outcome: outcomeName(err), Summary: sum, Samples: samples,
		WindowMax: b.WindowMax, WindowMillis: b.Window.Milliseconds(),
	}
	if err != nil {
		rec.Error = err.Error()
	}
	return appendRunRecord(r.cfg.RunLog, rec)
}

// outcomeError says how a finished run ended, for the exit code.
func outcomeError(s *Summary) error {
	switch {
	case s.Stopped != "":
		return fmt.Errorf("%s; run the same command again to resume: %w", s.Stopped, ErrStopped)
	case s.InDoubt > 0:
		return fmt.Errorf("%d rows in doubt; run the same command again to reconcile them: %w", s.InDoubt, ErrInDoubt)
	case s.Failed+s.PreviouslyFailed+s.Invalid+s.Unresolved > 0:
		hint := ""
		if s.Failed+s.PreviouslyFailed > 0 {
			hint = " (--retry-failed sends failed rows again)"
		}
		return fmt.Errorf("%d failed, %d invalid, %d unresolved; see the ledger %s%s: %w",
			s.Failed+s.PreviouslyFailed, s.Invalid, s.Unresolved, s.Ledger, hint, ErrRowsFailed)
	}
	return nil
}

// RunOptions are the settings every write operation other than import
// shares (import has its own, older, flat options).
type RunOptions struct {
	// Ledger is this operation's own result ledger.
	Ledger      string
	Workers     int // concurrent batch requests; 0 derives it from the rate budget
	BatchSize   int // ≤ 100; 0 means 100
	Plan        bool
	RetryFailed bool
	MaxErrors   MaxErrors
	MaxDuration time.Duration
	Logger      *slog.Logger
	LogPII      bool
	Progress    func(Summary)
	Now         func() time.Time
	RunID       string
	Command     []string
	SampleEvery time.Duration
	// chunkRows is how many input rows a streamed operation holds at a
	// time (0: defaultChunkRows); tests set it small.
	chunkRows int
}

// config is the runner configuration of one operation run with o.
func (o *RunOptions) config(op, runLog string, api meter) runConfig {
	return runConfig{
		Operation: op, RunLog: runLog, Plan: o.Plan, Workers: o.Workers,
		MaxErrors: o.MaxErrors, MaxDuration: o.MaxDuration, API: api, Logger: o.Logger,
		Progress: o.Progress, Now: o.Now, RunID: o.RunID, Command: o.Command, SampleEvery: o.SampleEvery,
	}
}

func (o *RunOptions) check(op string) error {
	if o.BatchSize == 0 {
		o.BatchSize = 100
	}
	if o.BatchSize < 1 || o.BatchSize > 100 {
		return fmt.Errorf("--batch-size %d: HubSpot takes 1 to 100 inputs a batch", o.BatchSize)
	}
	if o.Workers < 0 || o.Workers > 64 {
		return fmt.Errorf("--workers %d: want 1 to 64 (0 derives it from the rate budget)", o.Workers)
	}
	if o.Ledger == "" {
		return fmt.Errorf("%s: no ledger path", op)
	}
	return nil
}

// opItem is one unit of work of an operation run through runItemsIn: one
// record to update, archive or restore, one association, one pin.
type opItem struct {
	file  string // where the item came from (input, snapshot), for the ledger
	line  int
	key   string // the communication's commlog_key, when known
	id    string // the HubSpot record the item writes (empty for a restore)
	ident string // identity across runs, for resume
	props map[string]string
	// per-operation payload
	assoc  assocItem
	create *crm.CreateInput
	oldID  string // restore: the archived record's id
}

// itemResult is what happened to one item of a batch.
type itemResult struct {
	state     string // StateUpdated, StateArchived, StateCreated, StateFailed, StateInDoubt
	hubspotID string
	status    int
	category  string
	message   string
}

// operation is one kind of write the runner can drive. sendBatch writes
// the items and returns one result per item, in the items' order. An error
// is about the whole batch: the runner classifies it (rejected as a whole
// → halves; other 4xx → failed; daily reserve → not sent; anything else →
// in doubt, retried once since these writes are idempotent).
type operation interface {
	sendBatch(ctx context.Context, items []opItem) ([]itemResult, error)
}

// opFunc adapts a function to operation.
type opFunc func(ctx context.Context, items []opItem) ([]itemResult, error)

func (f opFunc) sendBatch(ctx context.Context, items []opItem) ([]itemResult, error) {
	return f(ctx, items)
}

// itemRunner runs a slice of items through an operation, batchSize at a
// time, with the ledger, resume and stop rules.
type itemRunner struct {
	runner
	opName    string // ledger operation
	batchSize int
	// idempotent ops retry an in-doubt batch at once; others leave it in doubt.
	idempotent bool
	// settle is how long search may lag behind writes (restore's reconcile).
	settle time.Duration
	// warnings go into the summary of a streamed run (streamItems).
	warnings []string
}

// resumeIndex is a streaming operation's ledger read as identity → last
// state, held in a key index (on disk beyond a few thousand identities), so
// that resuming an update of millions of rows needs no more memory than a
// fresh run. Identities are hashed to the index's 16-byte keys.
type resumeIndex struct {
	keys   *keyIndex
	states []string // a state's code is its index + 1
	last   string   // the time of the ledger's last event, as written
}

// openResumeIndex reads the ledger at path (absent: an empty index).
func openResumeIndex(path string, ident func(LedgerRow) string) (*resumeIndex, error) {
	ri := &resumeIndex{keys: newKeyIndex(filepath.Dir(path))}
	if _, err := os.Stat(path); err != nil {
		return ri, nil
	}
	err := ReadLedger(path, func(r LedgerRow) error {
		if r.Operation == OpPlan {
			return nil
		}
		ri.last = r.Time
		return ri.keys.put(parseKey(ident(r)), keyEntry{state: ri.code(r.State)})
	})
	if err != nil {
		ri.close()
		return nil, err
	}
	return ri, nil
}

func (ri *resumeIndex) code(state string) uint8 {
	i := slices.Index(ri.states, state)
	if i < 0 {
		if len(ri.states) == 255 {
			return 0 // never (the ledger has a dozen states); read as "no event"
		}
		ri.states = append(ri.states, state)
		i = len(ri.states) - 1
	}
	return uint8(i + 1)
}

// lastState is the state of the identity's last event.
func (ri *resumeIndex) lastState(ident string) (string, bool, error) {
	e, ok, err := ri.keys.get(parseKey(ident))
	if err != nil || !ok || e.state == 0 || int(e.state) > len(ri.states) {
		return "", false, err
	}
	return ri.states[e.state-1], true, nil
}

// lastEvent is when the ledger's last event was written (zero for an
// empty or unreadable time): events are appended as they happen, so it
// is the earlier run's last. It is read once, not parsed a row.
func (ri *resumeIndex) lastEvent() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, ri.last)
	return t
}

func (ri *resumeIndex) close() {
	if ri != nil {
		ri.keys.close()
	}
}

// resumeFilter drops the items an earlier run of a streaming operation
// (update, associate, pin, archive) finished or failed; it reads the
// operation's ledger into a resumeIndex on first use.
type resumeFilter struct {
	ledger string
	ident  func(LedgerRow) string
	index  *resumeIndex
}

func (f *resumeFilter) filter(ir *itemRunner, items []opItem, retryFailed bool, done ...string) ([]opItem, error) {
	if f.index == nil {
		ri, err := openResumeIndex(f.ledger, f.ident)
		if err != nil {
			return nil, err
		}
		f.index = ri
	}
	return ir.filterDone(items, f.index.lastState, retryFailed, done...)
}

func (f *resumeFilter) close() { f.index.close() }

// filterDone drops the items an earlier run finished (alreadyDone) or
// failed (previouslyFailed, unless retryFailed); lastState says what the
// ledger last recorded for an identity.
func (ir *itemRunner) filterDone(items []opItem, lastState func(string) (string, bool, error), retryFailed bool, done ...string) ([]opItem, error) {
	out := items[:0:0]
	for _, it := range items {
		state, ok, err := lastState(it.ident)
		switch {
		case err != nil:
			return nil, err
		case ok && contains(done, state):
			ir.c.alreadyDone.Add(1)
			continue
		case ok && state == StateFailed && !retryFailed:
			ir.c.previouslyFailed.Add(1)
			continue
		}
		out = append(out, it)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// runItemsIn sends the items in batches, concurrently, and records every
// outcome. It returns once every batch finished or the run stopped. The
// reading context is the caller's, so that --max-duration bounds a run of
// many calls (streamItems) as a whole.
func (ir *itemRunner) runItemsIn(ctx, readCtx context.Context, items []opItem, op operation) error {
	g, gctx := ir.group(ctx)
	for start := 0; start < len(items); start += ir.batchSize {
		if reason := ir.shouldStop(readCtx, gctx); reason != "" {
			ir.stop(reason)
			break
		}
		chunk := items[start:min(start+ir.batchSize, len(items))]
		g.Go(func() error { return ir.send(gctx, op, chunk, 1) })
	}
	err := g.Wait()
	ir.progress()
	return err
}

func (ir *itemRunner) event(it opItem, state string, attempt, batch int) LedgerRow {
	return LedgerRow{RunID: ir.runID, SourceFile: it.file, SourceLine: it.line, Key: it.key,
		Operation: ir.opName, State: state, HubSpotID: it.id, Attempt: attempt, Batch: batch}
}

// send runs one batch: "sent" durable first, then the request, then the
// outcomes.
func (ir *itemRunner) send(ctx context.Context, op operation, items []opItem, attempt int) error {
	batch := int(ir.batchNo.Add(1))
	ir.c.batches.Add(1)
	evs := make([]LedgerRow, len(items))
	for i, it := range items {
		evs[i] = ir.event(it, StateSent, attempt, batch)
	}
	writeSent := func(try int) error {
		for i := range evs {
			evs[i].Time, evs[i].Attempt = "", attempt+try
		}
		if err := ir.led.Append(evs...); err != nil {
			return err
		}
		return ir.led.Commit()
	}
	sendCtx := ctx
	var ledErr error
	if ir.idempotent {
		if err := writeSent(0); err != nil {
			return err
		}
	} else {
		// A create (restore): "sent" is written right before each attempt
		// leaves, as the import does (see importer.send), so a lost write
		// cannot land long after the ledger's last event.
		sendCtx = crm.WithBeforeSend(ctx, func(try int) error {
			ledErr = writeSent(try)
			return ledErr
		})
	}
	res, err := op.sendBatch(sendCtx, items)
	if ledErr != nil {
		return ledErr
	}
	var apiErr *crm.Error
	switch {
	case err == nil:
		ir.record(items, res, attempt, batch)
	case crm.IsBatchRejected(err) && len(items) > 1:
		half := len(items) / 2
		if err := ir.send(ctx, op, items[:half], attempt+1); err != nil {
			return err
		}
		return ir.send(ctx, op, items[half:], attempt+1)
	case errors.Is(err, crm.ErrDailyReserve):
		ir.stop("daily API quota reserve reached")
		ir.markAll(items, StateNotSent, attempt, batch, 0, "DAILY_RESERVE", err.Error())
		ir.c.notSent.Add(int64(len(items)))
	case crm.IsUnauthorized(err):
		return fmt.Errorf("batch %d: %w", batch, err)
	case errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 && !crm.IsRateLimited(err):
		ir.markAll(items, StateFailed, attempt, batch, apiErr.StatusCode, apiErr.Category, apiErr.Message)
		ir.c.failed.Add(int64(len(items)))
	case ir.idempotent && attempt == 1 && ctx.Err() == nil:
		// The write may or may not have been applied; applying it again
		// changes nothing, so it is simply sent once more.
		ir.log.Info("batch answer lost; sending it again", "batch", batch, "error", err)
		return ir.send(ctx, op, items, attempt+1)
	default:
		status := 0
		if apiErr != nil {
			status = apiErr.StatusCode
		}
		ir.markAll(items, StateInDoubt, attempt, batch, status, "IN_DOUBT", err.Error())
		ir.c.inDoubt.Add(int64(len(items)))
	}
	if err := ir.led.Commit(); err != nil {
		return err
	}
	ir.checkMaxErrors()
	ir.progress()
	return nil
}

func (ir *itemRunner) record(items []opItem, res []itemResult, attempt, batch int) {
	evs := make([]LedgerRow, len(items))
	for i, it := range items {
		ev := ir.event(it, "", attempt, batch)
		var r itemResult
		if i < len(res) {
			r = res[i]
		} else {
			r = itemResult{state: StateInDoubt, category: crm.MissingResult, message: "HubSpot's answer did not name this item"}
		}
		ev.State, ev.HTTPStatus, ev.Category, ev.Message = r.state, r.status, r.category, r.message
		if r.hubspotID != "" {
			ev.HubSpotID = r.hubspotID
		}
		if it.oldID != "" && r.message == "" {
			ev.Message = "restored from " + it.oldID
		}
		switch r.state {
		case StateFailed:
			ir.c.failed.Add(1)
		case StateInDoubt:
			ir.c.inDoubt.Add(1)
		case StateCreated:
			ir.c.created.Add(1)
		default:
			ir.c.done.Add(1)
		}
		evs[i] = ev
	}
	ir.append(evs...)
}

func (ir *itemRunner) markAll(items []opItem, state string, attempt, batch, status int, category, msg string) {
	evs := make([]LedgerRow, len(items))
	for i, it := range items {
		evs[i] = ir.event(it, state, attempt, batch)
		evs[i].HTTPStatus, evs[i].Category, evs[i].Message = status, category, msg
	}
	ir.append(evs...)
}
