package batch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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
	var items []opItem
	var warnings []string
	err = ReadSnapshot(o.Snapshot, func(line int, r SnapshotRecord) error {
		props := map[string]string{}
		for k, v := range r.Properties {
			if writable[k] && v != "" {
				props[k] = v
			}
		}
		in := crm.CreateInput{Properties: props, ObjectWriteTraceID: "restore-" + r.ID}
		for _, t := range sortedKeys(r.Associations) {
			for _, a := range r.Associations[t] {
				id, ok := defaultAssocLabels[a.Type]
				if !ok {
					id, ok = crm.DefaultAssociationTypeID(crm.Communications, t)
				}
				if !ok {
					warnings = append(warnings, fmt.Sprintf("%s:%d: association to %s %s of type %q is not restored (not a default type)", o.Snapshot, line, t, a.ID, a.Type))
					continue
				}
				in.Associations = append(in.Associations, crm.AssociationInput{
					To: crm.ObjectID{ID: a.ID}, Types: []crm.AssociationType{{Category: crm.HubSpotDefined, TypeID: id}}})
			}
		}
		items = append(items, opItem{file: o.Snapshot, line: line, key: props[KeyProperty], oldID: r.ID,
			ident: restoreIdent(o.Snapshot, line), create: &in})
		return nil
	})
	if err != nil {
		return nil, err
	}
	ir.c.rows.Add(int64(len(items)))
	prev, err := resumeState(o.Ledger, func(r LedgerRow) string { return restoreIdent(r.SourceFile, r.SourceLine) })
	if err != nil {
		return nil, err
	}
	if o.Plan {
		if items, err = ir.filterDone(items, lastStateIn(prev), o.RetryFailed, StateCreated); err != nil {
			return nil, err
		}
		ir.c.planned.Add(int64(len(items)))
		return ir.summary(), nil
	}

	led, torn, err := OpenLedger(o.Ledger, o.Now)
	if err != nil {
		return nil, err
	}
	defer led.Close()
	if torn != "" {
		ir.log.Warn("ledger: cut a torn last line left by an interrupted run", "ledger", o.Ledger, "bytes", len(torn))
	}
	ir.led = led
	if err := o.API.EnsureKeyProperty(ctx); err != nil {
		return nil, fmt.Errorf("creating the %s property: %w", KeyProperty, err)
	}
	// Records an earlier run sent without an answer: look them up by key
	// before anything is created again.
	hold, err := ir.reconcileRestore(ctx, o.API, items, prev)
	if err != nil {
		return ir.end(err, warnings, nil)
	}
	kept := items[:0]
	for _, it := range items {
		if !hold[it.ident] {
			kept = append(kept, it)
		}
	}
	if items, err = ir.filterDone(kept, lastStateIn(prev), o.RetryFailed, StateCreated); err != nil {
		return ir.end(err, warnings, nil)
	}

	smp := startSampler(ir.cfg.SampleEvery, ir.sample)
	err = ir.runItems(ctx, items, opFunc(func(ctx context.Context, batch []opItem) ([]itemResult, error) {
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
	return ir.end(err, warnings, smp)
}

func restoreIdent(file string, line int) string {
	return "restore|" + filepath.Base(file) + ":" + strconv.Itoa(line)
}

// reconcileRestore settles the items an earlier run left sent or in doubt:
// found by commlog_key → created; not found → sent again; no key to look
// for → left in doubt, never sent twice.
func (ir *itemRunner) reconcileRestore(ctx context.Context, api WriteAPI, items []opItem, prev map[string]LedgerRow) (hold map[string]bool, err error) {
	hold = map[string]bool{}
	var keys []string
	pending := map[string]opItem{}
	for _, it := range items {
		r, ok := prev[it.ident]
		if !ok || (r.State != StateSent && r.State != StateInDoubt) {
			continue
		}
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
		return hold, nil
	}
	var last time.Time
	for _, r := range prev {
		if t, err := time.Parse(time.RFC3339Nano, r.Time); err == nil && t.After(last) {
			last = t
		}
	}
	if d := last.Add(ir.settle).Sub(ir.cfg.Now()); d > 0 {
		ir.log.Info("waiting for HubSpot's search index to catch up", "wait", d.Round(time.Millisecond))
		if err := sleepCtx(ctx, d); err != nil {
			return hold, err
		}
	}
	found, err := findKeys(ctx, api, keys)
	if err != nil {
		return hold, fmt.Errorf("reconciling %d restores in doubt: %w", len(keys), err)
	}
	for _, k := range keys {
		it := pending[k]
		ids := found[k]
		if len(ids) == 0 {
			delete(prev, it.ident) // sent again
			continue
		}
		ev := ir.event(it, StateCreated, 0, 0)
		ev.Operation, ev.HubSpotID, ev.Message = OpReconcile, ids[0], "restored from "+it.oldID
		ir.append(ev)
		ir.c.reconciled.Add(1)
		prev[it.ident] = ev
	}
	return hold, ir.led.Commit()
}
