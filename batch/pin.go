package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/commlog/commlog/crm"
)

// PinOptions configure one pin run. Either Input or LatestPerContact with
// FromLedger chooses what to pin.
type PinOptions struct {
	RunOptions
	API WriteAPI
	// Input is a CSV with the columns object_type, object_id and
	// communication (id or commlog_key).
	Input string
	// LatestPerContact pins, on every contact, the newest (hs_timestamp)
	// communication FromLedger created for it.
	LatestPerContact bool
	FromLedger       string
	// ImportLedger resolves communication keys of Input; unknown keys are searched.
	ImportLedger string
	// AssociateFirst creates a missing association before pinning;
	// otherwise an unassociated pair fails (HubSpot pins only activities
	// associated with the record).
	AssociateFirst bool
}

// Pin pins communications on records' timelines (hs_pinned_engagement_id,
// one pinned activity a record, written by batch update 100 records a
// request) after checking each communication is associated with the record.
func Pin(ctx context.Context, o PinOptions) (*Summary, error) {
	src := o.Input
	if o.LatestPerContact {
		src = o.FromLedger
	}
	if src == "" || (o.Input != "" && o.LatestPerContact) {
		return nil, errors.New("pin: give a CSV, or --latest-per-contact with --ledger")
	}
	if o.Ledger == "" {
		o.Ledger = derivedPath(src, ".pin.csv")
	}
	if err := o.check(OpPin); err != nil {
		return nil, err
	}
	if o.API == nil {
		return nil, errors.New("pin: no HubSpot client")
	}
	ir := &itemRunner{runner: newRunner(o.config(OpPin, RunLogPath(o.Ledger), o.API)), opName: OpPin, batchSize: o.BatchSize, idempotent: true}

	// read gives the next chunk of items. --latest-per-contact reads its
	// items in one go: one item a contact, so its working set grows with
	// the contacts, not with the input rows.
	var read func(ctx context.Context) (items []opItem, bad []LedgerRow, chunkEnd int, more bool, err error)
	// laterRow says whether a valid row for this record comes after line
	// chunkEnd: the last row for a record wins across chunks too.
	laterRow := func(string, int) bool { return false }
	if o.LatestPerContact {
		read = func(ctx context.Context) ([]opItem, []LedgerRow, int, bool, error) {
			items, err := latestPerContact(ctx, o)
			return items, nil, 0, false, err
		}
	} else {
		in, lastLine, err := openPinCSV(o.Input)
		if err != nil {
			return nil, err
		}
		defer in.Close()
		laterRow = func(record string, chunkEnd int) bool { return lastLine[record] > chunkEnd }
		res := &keyResolver{api: o.API, input: o.Input, importLedger: o.ImportLedger}
		defer res.close()
		read = func(ctx context.Context) ([]opItem, []LedgerRow, int, bool, error) {
			rows, err := in.next(o.chunk())
			if err != nil || len(rows) == 0 {
				return nil, nil, 0, false, err
			}
			items, bad, err := pinItems(ctx, o, ir, res, rows)
			return items, bad, rows[len(rows)-1].line, len(rows) == o.chunk(), err
		}
	}
	prev := &resumeFilter{ledger: o.Ledger, ident: func(r LedgerRow) string { return "pin|" + r.HubSpotID + "|" + r.Key }}
	defer prev.close()
	next := func(ctx context.Context) ([]opItem, []LedgerRow, bool, error) {
		items, bad, chunkEnd, more, err := read(ctx)
		if err != nil {
			return nil, nil, false, err
		}
		ir.c.rows.Add(int64(len(items)))
		// One pinned activity a record: the last row for a record wins.
		last := map[string]int{}
		for i, it := range items {
			last[it.assoc.toType+"/"+it.assoc.toID] = i
		}
		kept := items[:0]
		for i, it := range items {
			rec := it.assoc.toType + "/" + it.assoc.toID
			if last[rec] != i || laterRow(rec, chunkEnd) {
				ir.c.skipped.Add(1)
				continue
			}
			it.ident = "pin|" + it.id + "|" + it.key
			kept = append(kept, it)
		}
		kept, err = prev.filter(ir, kept, o.RetryFailed, StateUpdated)
		return kept, bad, more, err
	}
	return ir.streamItems(ctx, o.Ledger, o.Now, next, nil, opFunc(func(ctx context.Context, batch []opItem) ([]itemResult, error) {
		out := make([]itemResult, len(batch))
		byType := map[string][]int{}
		checks := ensureAssociated(ctx, o, batch)
		for i, it := range batch {
			switch ok, err := checks[i].ok, checks[i].err; {
			case err != nil:
				out[i] = pairResult(err, "")
			case !ok:
				out[i] = itemResult{state: StateFailed, category: "NOT_ASSOCIATED",
					message: fmt.Sprintf("communication %s is not associated with %s %s, or does not exist (--associate creates the association)", it.props["communication_id"], it.assoc.toType, it.assoc.toID)}
			default:
				byType[it.assoc.toType] = append(byType[it.assoc.toType], i)
			}
		}
		for _, t := range sortedKeys(byType) {
			idx := byType[t]
			inputs := make([]crm.UpdateInput, len(idx))
			recs := make([]opItem, len(idx))
			for j, i := range idx {
				inputs[j] = crm.UpdateInput{ID: batch[i].assoc.toID, Properties: map[string]string{crm.PinnedEngagementProperty: batch[i].props["communication_id"]}}
				recs[j] = opItem{id: batch[i].assoc.toID}
			}
			res, err := o.API.BatchUpdate(ctx, t, inputs)
			if err != nil {
				if len(byType) == 1 && len(idx) == len(batch) {
					return nil, err
				}
				for _, i := range idx {
					out[i] = pairResult(err, "")
				}
				continue
			}
			for j, r := range matchByID(recs, res, StateUpdated) {
				if r.state == StateUpdated {
					r.message = "pinned communication " + batch[idx[j]].props["communication_id"]
				}
				out[idx[j]] = r
			}
		}
		return out, nil
	}))
}

type assocCheck struct {
	ok  bool
	err error
}

// ensureAssociated checks that each item's communication is associated
// with its record — one v4 batch read per record type, not one read per
// item — and creates the missing associations when asked to.
func ensureAssociated(ctx context.Context, o PinOptions, batch []opItem) []assocCheck {
	out := make([]assocCheck, len(batch))
	byType := map[string][]int{}
	for i, it := range batch {
		byType[it.assoc.toType] = append(byType[it.assoc.toType], i)
	}
	for _, toType := range sortedKeys(byType) {
		idx := byType[toType]
		comms := make([]string, len(idx))
		for j, i := range idx {
			comms[j] = batch[i].props["communication_id"]
		}
		assocs, err := o.API.BatchReadAssociations(ctx, crm.Communications, toType, comms)
		for _, i := range idx {
			if err != nil {
				out[i].err = err
				continue
			}
			it := batch[i]
			comm := it.props["communication_id"]
			out[i].ok = slices.ContainsFunc(assocs[comm], func(a crm.AssociatedID) bool { return a.ID == it.assoc.toID })
			if out[i].ok || !o.AssociateFirst {
				continue
			}
			typeID, ok := crm.DefaultAssociationTypeID(crm.Communications, toType)
			if !ok {
				out[i].err = fmt.Errorf("no default association from communications to %s", toType)
				continue
			}
			out[i].err = o.API.Associate(ctx, crm.Communications, comm, toType, it.assoc.toID, strconv.Itoa(typeID))
			out[i].ok = out[i].err == nil
		}
	}
	return out
}

// openPinCSV checks the whole pin CSV and opens it for reading in chunks.
// lastLine, each record's (object_type/object_id) last valid row, is an
// index that grows with the records pinned on, not with the rows: it
// lets the last row for a record win across chunks.
func openPinCSV(path string) (*csvRows, map[string]int, error) {
	header := pairsHeader(path, []string{"object_type", "object_id", "communication"}, nil)
	lastLine := map[string]int{}
	_, err := scanRows(path, header, func(r updateRow) {
		if a, err := parseAssoc(r.props["object_type"], r.props["object_id"], ""); err == nil {
			lastLine[a.toType+"/"+a.toID] = r.line
		}
	})
	if err != nil {
		return nil, nil, err
	}
	in, err := openRows(path, header)
	if err != nil {
		return nil, nil, err
	}
	return in, lastLine, nil
}

// pinItems turns one chunk of the pin CSV into items. An item's id (the
// ledger's hubspot_id) is the record pinned on; its key, the
// communication's id.
func pinItems(ctx context.Context, o PinOptions, ir *itemRunner, res *keyResolver, rows []updateRow) ([]opItem, []LedgerRow, error) {
	var bad []LedgerRow
	var pending []updateRow
	for _, r := range rows {
		if _, err := parseAssoc(r.props["object_type"], r.props["object_id"], ""); err != nil {
			ir.c.invalid.Add(1)
			bad = append(bad, LedgerRow{RunID: ir.runID, SourceFile: o.Input, SourceLine: r.line, Operation: OpPin,
				State: StateInvalid, Category: "INVALID_ROW", Message: err.Error()})
			continue
		}
		u := updateRow{line: r.line, props: r.props}
		if c := r.props["communication"]; isDigits(c) {
			u.id = c
		} else {
			u.key = c
		}
		pending = append(pending, u)
	}
	items, err := res.resolve(ctx, pending, func(r updateRow, why string) {
		ir.c.unresolved.Add(1)
		bad = append(bad, LedgerRow{RunID: ir.runID, SourceFile: o.Input, SourceLine: r.line, Operation: OpPin,
			State: StateUnresolved, Category: "UNRESOLVED_RECORD", Message: why})
	})
	if err != nil {
		return nil, nil, err
	}
	for i := range items {
		it := &items[i]
		it.assoc, _ = parseAssoc(it.props["object_type"], it.props["object_id"], "")
		it.props = map[string]string{"communication_id": it.id}
		it.key, it.id = it.id, it.assoc.toID
	}
	return items, bad, nil
}

// latestPerContact finds, for every contact, the newest communication the
// ledger created for it. The ledger's records are read from HubSpot 10,000
// at a time: memory follows the contacts, not the ledger.
func latestPerContact(ctx context.Context, o PinOptions) ([]opItem, error) {
	type best struct{ ts, comm string }
	newest := map[string]best{}
	var ids []string
	flush := func() error {
		objs, err := readObjects(ctx, o.API, crm.Communications, ids, []string{"hs_timestamp"}, false)
		if err != nil {
			return err
		}
		contactsOf, err := o.API.BatchReadAssociations(ctx, crm.Communications, crm.Contacts, ids)
		if err != nil {
			return fmt.Errorf("reading the contacts of %d communications: %w", len(ids), err)
		}
		for _, id := range ids {
			obj, ok := objs[id]
			if !ok {
				continue
			}
			ts := obj.Properties["hs_timestamp"]
			for _, c := range contactsOf[id] {
				if b, ok := newest[c.ID]; !ok || ts > b.ts || (ts == b.ts && id > b.comm) {
					newest[c.ID] = best{ts, id}
				}
			}
		}
		ids = ids[:0]
		return nil
	}
	err := EachCreated(o.FromLedger, func(r CreatedRecord) error {
		if ids = append(ids, r.ID); len(ids) < ledgerReadChunk {
			return nil
		}
		return flush()
	})
	if err == nil && len(ids) > 0 {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	contacts := sortedKeys(newest)
	sort.Strings(contacts)
	items := make([]opItem, 0, len(contacts))
	for _, c := range contacts {
		b := newest[c]
		items = append(items, opItem{file: o.FromLedger, id: c, key: b.comm,
			assoc: assocItem{toType: crm.Contacts, toID: c}, props: map[string]string{"communication_id": b.comm}})
	}
	return items, nil
}
