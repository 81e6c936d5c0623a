package batch

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/commlog/commlog/crm"
)

// UpdateOptions configure one update run.
type UpdateOptions struct {
	RunOptions
	API WriteAPI
	// Input is a CSV: an id column (id or hs_object_id) or a key column
	// (key or commlog_key), and one column per property to write. An
	// empty cell clears the property.
	Input string
	// ImportLedger resolves keys to ids through an earlier import's
	// ledger; keys it does not know are searched for by commlog_key.
	ImportLedger string
	// PlanOut receives the per-record diff of a --plan run.
	PlanOut io.Writer
}

// Update writes property changes to existing communications in batches of
// up to 100, ledgered and resumable. Read-only and unknown properties are
// refused before anything is sent.
func Update(ctx context.Context, o UpdateOptions) (*Summary, error) {
	if o.Ledger == "" && o.Input != "" {
		o.Ledger = derivedPath(o.Input, ".update.csv")
	}
	if err := o.check(OpUpdate); err != nil {
		return nil, err
	}
	if o.API == nil {
		return nil, errors.New("update: no HubSpot client")
	}
	ir := &itemRunner{runner: newRunner(o.config(OpUpdate, RunLogPath(o.Ledger), o.API)), opName: OpUpdate, batchSize: o.BatchSize, idempotent: true}

	rows, props, err := readUpdateCSV(o.Input)
	if err != nil {
		return nil, err
	}
	writable, readOnly, err := writableProperties(ctx, o.API)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, p := range props {
		switch {
		case readOnly[p]:
			problems = append(problems, fmt.Sprintf("property %q is read-only in HubSpot", p))
		case !writable[p]:
			problems = append(problems, fmt.Sprintf("property %q does not exist on communications in this portal", p))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: the columns do not fit this portal; nothing was sent:\n  %s", o.Input, strings.Join(problems, "\n  "))
	}
	ir.c.rows.Add(int64(len(rows)))

	var unresolved []LedgerRow
	items, err := resolveUpdateIDs(ctx, o, rows, func(r updateRow, why string) {
		ir.c.unresolved.Add(1)
		unresolved = append(unresolved, LedgerRow{RunID: ir.runID, SourceFile: o.Input, SourceLine: r.line, Key: r.key,
			Operation: OpUpdate, State: StateUnresolved, Category: "UNRESOLVED_RECORD", Message: why})
	})
	if err != nil {
		return nil, err
	}
	prev, err := resumeState(o.Ledger, updateIdent)
	if err != nil {
		return nil, err
	}
	items = ir.filterDone(items, prev, o.RetryFailed, StateUpdated)
	if o.Plan {
		ir.c.planned.Add(int64(len(items)))
		return ir.summary(), planDiff(ctx, o, items, props)
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
	ir.append(unresolved...)
	smp := startSampler(ir.cfg.SampleEvery, ir.sample)
	err = ir.runItems(ctx, items, opFunc(func(ctx context.Context, batch []opItem) ([]itemResult, error) {
		inputs := make([]crm.UpdateInput, len(batch))
		for i, it := range batch {
			inputs[i] = crm.UpdateInput{ID: it.id, Properties: it.props}
		}
		res, err := o.API.BatchUpdate(ctx, crm.Communications, inputs)
		if err != nil {
			return nil, err
		}
		return matchByID(batch, res, StateUpdated), nil
	}))
	return ir.end(err, nil, smp)
}

func updateIdent(r LedgerRow) string {
	return "update|" + r.SourceFile + ":" + strconv.Itoa(r.SourceLine) + "|" + r.HubSpotID
}

// matchByID maps a batch answer to items by record id: a result means
// done; an error naming the id (OBJECT_NOT_FOUND's context.ids) means
// failed; neither means in doubt (sent again next run: the write is
// idempotent).
func matchByID(items []opItem, res *crm.BatchResult, okState string) []itemResult {
	done := map[string]bool{}
	failed := map[string]*crm.StandardError{}
	if res != nil {
		for _, o := range res.Results {
			done[o.ID] = true
		}
		for i := range res.Errors {
			e := &res.Errors[i]
			for _, id := range e.Context["ids"] {
				failed[id] = e
			}
			if e.ID != "" {
				failed[e.ID] = e
			}
		}
	}
	out := make([]itemResult, len(items))
	for i, it := range items {
		switch e := failed[it.id]; {
		case done[it.id]:
			out[i] = itemResult{state: okState}
		case e != nil:
			out[i] = itemResult{state: StateFailed, status: 207, category: e.Category, message: itemMessage(e)}
		default:
			out[i] = itemResult{state: StateInDoubt, category: crm.MissingResult, message: "HubSpot's answer did not name this record"}
		}
	}
	return out
}

type updateRow struct {
	line    int
	id, key string
	props   map[string]string
}

// readUpdateCSV reads the update input: rows and the property columns.
func readUpdateCSV(path string) ([]updateRow, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("update: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%s:1: reading the header: %w", path, err)
	}
	idCol, keyCol := -1, -1
	var props []string
	propCol := map[int]string{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		switch h {
		case "id", "hs_object_id":
			idCol = i
		case "key", KeyProperty:
			keyCol = i
		case "":
			return nil, nil, fmt.Errorf("%s:1: column %d has no name", path, i+1)
		default:
			propCol[i] = h
			props = append(props, h)
		}
	}
	if idCol < 0 && keyCol < 0 {
		return nil, nil, fmt.Errorf("%s:1: no id column (id or hs_object_id) and no key column (key or commlog_key)", path)
	}
	if len(props) == 0 {
		return nil, nil, fmt.Errorf("%s:1: no property columns to write", path)
	}
	var rows []updateRow
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(rec) != len(head) {
			return nil, nil, fmt.Errorf("%s:%d: %d fields, the header has %d", path, line, len(rec), len(head))
		}
		u := updateRow{line: line, props: make(map[string]string, len(props))}
		if idCol >= 0 {
			u.id = strings.TrimSpace(rec[idCol])
			if u.id != "" && !isDigits(u.id) {
				return nil, nil, fmt.Errorf("%s:%d: id %q is not a record id", path, line, u.id)
			}
		}
		if keyCol >= 0 {
			u.key = strings.TrimSpace(rec[keyCol])
		}
		if u.id == "" && u.key == "" {
			return nil, nil, fmt.Errorf("%s:%d: neither an id nor a key", path, line)
		}
		for i, p := range propCol {
			u.props[p] = rec[i]
		}
		rows = append(rows, u)
	}
	return rows, props, nil
}

// resolveUpdateIDs gives every row its record id: its id column, else its
// key through the import ledger, else through a search on commlog_key.
func resolveUpdateIDs(ctx context.Context, o UpdateOptions, rows []updateRow, unresolved func(updateRow, string)) ([]opItem, error) {
	byKey := map[string]string{}
	if o.ImportLedger != "" {
		recs, err := LedgerCreated(o.ImportLedger)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			byKey[r.Key] = r.ID
		}
	}
	var search []string
	for _, r := range rows {
		if r.id == "" && byKey[r.key] == "" {
			search = append(search, r.key)
		}
	}
	found := map[string][]string{}
	if len(search) > 0 {
		var err error
		if found, err = findKeys(ctx, o.API, search); err != nil {
			return nil, err
		}
	}
	items := make([]opItem, 0, len(rows))
	for _, r := range rows {
		id := r.id
		if id == "" {
			id = byKey[r.key]
		}
		if id == "" {
			switch ids := found[r.key]; len(ids) {
			case 0:
				unresolved(r, "no communication carries this key")
				continue
			case 1:
				id = ids[0]
			default:
				unresolved(r, fmt.Sprintf("%d communications carry this key: %v", len(ids), ids))
				continue
			}
		}
		items = append(items, opItem{file: o.Input, line: r.line, key: r.key, id: id, props: r.props,
			ident: "update|" + o.Input + ":" + strconv.Itoa(r.line) + "|" + id})
	}
	return items, nil
}

// planDiff writes, per record, each property's current and new value.
func planDiff(ctx context.Context, o UpdateOptions, items []opItem, props []string) error {
	if o.PlanOut == nil {
		return nil
	}
	cur, err := readObjects(ctx, o.API, crm.Communications, ids0(items), props, false)
	if err != nil {
		return err
	}
	for _, it := range items {
		obj, ok := cur[it.id]
		if !ok {
			fmt.Fprintf(o.PlanOut, "%s (%s:%d): not found in HubSpot\n", it.id, it.file, it.line)
			continue
		}
		var lines []string
		for _, p := range sortedKeys(it.props) {
			old, nw := obj.Properties[p], it.props[p]
			if old == nw {
				continue
			}
			if nw == "" {
				lines = append(lines, fmt.Sprintf("  %s: %q → (cleared)", p, old))
			} else {
				lines = append(lines, fmt.Sprintf("  %s: %q → %q", p, old, nw))
			}
		}
		if len(lines) == 0 {
			fmt.Fprintf(o.PlanOut, "%s: no change\n", it.id)
			continue
		}
		fmt.Fprintf(o.PlanOut, "%s:\n%s\n", it.id, strings.Join(lines, "\n"))
	}
	return nil
}
