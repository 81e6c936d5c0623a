package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/commlog/commlog/crm"
)

// RestoreOptions configure one restore run.
type RestoreOptions struct {
	RunOptions
	API      WriteAPI
	Snapshot string
	// SearchSettle is how long HubSpot's search may lag behind writes: a
	// restore left in doubt is looked up only once that long has passed
	// since the earlier run's last event (default 30s).
	SearchSettle time.Duration
}

// defaultAssocLabels maps HubSpot's default association labels (as reads
// return them) to their type ids.
var defaultAssocLabels = map[string]int{
	"communication_to_contact": 81, "communication_to_ticket": 83,
	"communication_to_deal": 85, "communication_to_company": 87,
}

// Restore re-creates the communications of an archive snapshot with their
// properties and associations. They get new ids; the ledger's created
// events name the new id and, in their message, the old one. Running it
// again creates nothing twice: records created are skipped, records left
// in doubt are looked up by their commlog_key first.
func Restore(ctx context.Context, o RestoreOptions) (*Summary, error) {
	if o.Snapshot == "" {
		return nil, errors.New("restore: no --snapshot")
	}
	if o.Ledger == "" {
		o.Ledger = derivedPath(o.Snapshot, ".restore.csv")
	}
	if err := o.check(OpRestore); err != nil {
		return nil, err
	}
	if o.API == nil {
		return nil, errors.New("restore: no HubSpot client")
	}
	ir := &itemRunner{runner: newRunner(o.config(OpRestore, RunLogPath(o.Ledger), o.API)), opName: OpRestore, batchSize: o.BatchSize, settle: o.SearchSettle}
	if ir.settle == 0 {
		ir.settle = 30 * time.Second
	}

	writable, _, err := writableProperties(ctx, o.API)
	if err != nil {
		return nil, err
	}
	prev, err := openResumeIndex(o.Ledger, func(r LedgerRow) string { return restoreIdent(r.SourceFile, r.SourceLine) })
	if err != nil {
		return nil, err
	}
	defer prev.close()
	// A first pass counts the records and finds those an earlier run sent
	// without an answer. Those are held (about 150 bytes each); they are
	// usually few, the batches in flight when that run stopped, and at
	// worst the batches of a run that lost HubSpot's answers throughout.
	// The records themselves are not held.
	var doubt []opItem
	var rows int64
	err = ReadSnapshot(o.Snapshot, func(line int, r SnapshotRecord) error {
		rows++
		ident := restoreIdent(o.Snapshot, line)
		if state, ok, err := prev.lastState(ident); err != nil || !ok || (state != StateSent && state != StateInDoubt) {
			return err
		}
		it, _ := restoreItem(o.Snapshot, line, r, writable)
		doubt = append(doubt, opItem{file: it.file, line: it.line, key: it.key, oldID: it.oldID, ident: it.ident})
		return nil
	})
	if err != nil {
		return nil, err
	}
	ir.c.rows.Add(rows)
	ir.log.Info("snapshot read", "records", rows, "sent_without_answer", len(doubt))

	snap, err := openSnapshot(o.Snapshot)
	if err != nil {
		return nil, err
	}
	defer snap.close()
	src := &restoreSource{snap: snap, writable: writable}
	// settled and hold are what reconciling the records in doubt found.
	var settled map[string]string
	var hold map[string]bool
	lastState := func(ident string) (string, bool, error) {
		if state, ok := settled[ident]; ok {
			return state, state != "", nil
		}
		return prev.lastState(ident)
	}
	next := func(context.Context) ([]opItem, []LedgerRow, bool, error) {
		items, err := src.next(o.chunk())
		if err != nil {
			return nil, nil, false, err
		}
		ir.warnings = src.summaryWarnings()
		more := len(items) == o.chunk()
		items = slices.DeleteFunc(items, func(it opItem) bool { return hold[it.ident] })
		items, err = ir.filterDone(items, lastState, o.RetryFailed, StateCreated)
		return items, nil, more, err
	}
	if o.Plan {
		return ir.streamItems(ctx, o.Ledger, o.Now, next, nil, nil)
	}

	closeLedger, err := ir.openLedger(o.Ledger, o.Now)
	if err != nil {
		return nil, err
	}
	defer closeLedger()
	if err := o.API.EnsureKeyProperty(ctx); err != nil {
		return nil, fmt.Errorf("creating the %s property: %w", KeyProperty, err)
	}
	// Records an earlier run sent without an answer: look them up by key
	// before anything is created again.
	if settled, hold, err = ir.reconcileRestore(ctx, o.API, doubt, prev.lastEvent()); err != nil {
		return ir.end(err, nil, nil)
	}
	items, _, more, err := next(ctx)
	if err != nil {
		return ir.end(err, ir.warnings, nil)
	}
	return ir.streamOpen(ctx, items, nil, more, next, opFunc(func(ctx context.Context, batch []opItem) ([]itemResult, error) {
		inputs := make([]crm.CreateInput, len(batch))
		traces := make([]string, len(batch))
		for i, it := range batch {
			inputs[i] = *it.create
			traces[i] = it.create.ObjectWriteTraceID
		}
		res, err := o.API.BatchCreate(ctx, crm.Communications, inputs)
		if err != nil {
			return nil, err
		}
		out := make([]itemResult, len(batch))
		for i, m := range crm.MatchBatch(traces, res, "") {
			switch {
			case m.Object != nil:
				out[i] = itemResult{state: StateCreated, hubspotID: m.Object.ID}
			case m.Err.Category == crm.MissingResult:
				out[i] = itemResult{state: StateInDoubt, category: m.Err.Category, message: m.Err.Message}
			default:
				out[i] = itemResult{state: StateFailed, status: 207, category: m.Err.Category, message: itemMessage(m.Err)}
			}
		}
		return out, nil
	}))
}

func restoreIdent(file string, line int) string {
	return "restore|" + filepath.Base(file) + ":" + strconv.Itoa(line)
}

// restoreItem turns a snapshot record into the create that restores it,
// and says which of its associations cannot be restored.
func restoreItem(path string, line int, r SnapshotRecord, writable map[string]bool) (opItem, []string) {
	props := map[string]string{}
	for k, v := range r.Properties {
		if writable[k] && v != "" {
			props[k] = v
		}
	}
	in := crm.CreateInput{Properties: props, ObjectWriteTraceID: "restore-" + r.ID}
	var warnings []string
	for _, t := range sortedKeys(r.Associations) {
		for _, a := range r.Associations[t] {
			id, ok := defaultAssocLabels[a.Type]
			if !ok {
				id, ok = crm.DefaultAssociationTypeID(crm.Communications, t)
			}
			if !ok {
				warnings = append(warnings, fmt.Sprintf("%s:%d: association to %s %s of type %q is not restored (not a default type)", path, line, t, a.ID, a.Type))
				continue
			}
			in.Associations = append(in.Associations, crm.AssociationInput{
				To: crm.ObjectID{ID: a.ID}, Types: []crm.AssociationType{{Category: crm.HubSpotDefined, TypeID: id}}})
		}
	}
	return opItem{file: path, line: line, key: props[KeyProperty], oldID: r.ID, ident: restoreIdent(path, line), create: &in}, warnings
}

// maxRestoreWarnings is how many association warnings a restore lists;
// the rest are counted.
const maxRestoreWarnings = 20

// restoreSource reads a snapshot as restore items, a chunk at a time.
type restoreSource struct {
	snap     *snapshotReader
	writable map[string]bool
	warnings []string
	more     int // warnings past maxRestoreWarnings
}

func (rs *restoreSource) next(n int) ([]opItem, error) {
	var out []opItem
	for len(out) < n {
		line, r, err := rs.snap.record()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		it, warns := restoreItem(rs.snap.path, line, r, rs.writable)
		for _, w := range warns {
			if len(rs.warnings) < maxRestoreWarnings {
				rs.warnings = append(rs.warnings, w)
			} else {
				rs.more++
			}
		}
		out = append(out, it)
	}
	return out, nil
}

// summaryWarnings are the warnings so far, for the run's summary.
func (rs *restoreSource) summaryWarnings() []string {
	if rs.more == 0 {
		return rs.warnings
	}
	return append(slices.Clip(rs.warnings), fmt.Sprintf("%d more associations are not restored (not a default type)", rs.more))
}

// reconcileRestore settles the items an earlier run left sent or in doubt,
// once search has had ir.settle since that run's last event (last): found
// by commlog_key → created (settled); not found → sent again (settled to
// ""); no key to look for → held: left in doubt, never sent twice.
func (ir *itemRunner) reconcileRestore(ctx context.Context, api WriteAPI, doubt []opItem, last time.Time) (settled map[string]string, hold map[string]bool, err error) {
	settled, hold = map[string]string{}, map[string]bool{}
	var keys []string
	pending := map[string]opItem{}
	for _, it := range doubt {
		if it.key == "" {
			hold[it.ident] = true
			ir.c.inDoubt.Add(1)
			ir.log.Warn("a restored record without a commlog_key is in doubt and is not re-created; check HubSpot by hand",
				"snapshot", it.file, "line", it.line, "old_id", it.oldID)
			continue
		}
		keys = append(keys, it.key)
		pending[it.key] = it
	}
	if len(keys) == 0 {
		return settled, hold, nil
	}
	if d := last.Add(ir.settle).Sub(ir.cfg.Now()); d > 0 {
		ir.log.Info("waiting for HubSpot's search index to catch up", "wait", d.Round(time.Millisecond))
		if err := sleepCtx(ctx, d); err != nil {
			return nil, nil, err
		}
	}
	found, err := findKeys(ctx, api, keys)
	if err != nil {
		return nil, nil, fmt.Errorf("reconciling %d restores in doubt: %w", len(keys), err)
	}
	for _, k := range keys {
		it := pending[k]
		ids := found[k]
		if len(ids) == 0 {
			settled[it.ident] = "" // sent again
			continue
		}
		ev := ir.event(it, StateCreated, 0, 0)
		ev.Operation, ev.HubSpotID, ev.Message = OpReconcile, ids[0], "restored from "+it.oldID
		ir.append(ev)
		ir.c.reconciled.Add(1)
		settled[it.ident] = StateCreated
	}
	return settled, hold, ir.led.Commit()
}
