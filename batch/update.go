package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
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

	var props []string
	header := func(head []string) (rowParser, error) {
		p, parse, err := updateHeader(o.Input, head)
		props = p
		return parse, err
	}
	n, err := scanRows(o.Input, header, nil)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return nil, fmt.Errorf("update: %w", err)
	}
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
	ir.c.rows.Add(n)

	in, err := openRows(o.Input, header)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	res := &keyResolver{api: o.API, input: o.Input, importLedger: o.ImportLedger}
	defer res.close()
	prev := &resumeFilter{ledger: o.Ledger, ident: updateIdent}
	defer prev.close()
	next := func(ctx context.Context) ([]opItem, []LedgerRow, bool, error) {
		rows, err := in.next(o.chunk())
		if err != nil {
			return nil, nil, false, err
		}
		var unresolved []LedgerRow
		items, err := res.resolve(ctx, rows, func(r updateRow, why string) {
			ir.c.unresolved.Add(1)
			unresolved = append(unresolved, LedgerRow{RunID: ir.runID, SourceFile: o.Input, SourceLine: r.line, Key: r.key,
				Operation: OpUpdate, State: StateUnresolved, Category: "UNRESOLVED_RECORD", Message: why})
		})
		if err != nil {
			return nil, nil, false, err
		}
		for i := range items {
			items[i].ident = updateItemIdent(o.Input, items[i].line, items[i].id)
		}
		items, err = prev.filter(ir, items, o.RetryFailed, StateUpdated)
		return items, unresolved, len(rows) == o.chunk(), err
	}
	return ir.streamItems(ctx, o.Ledger, o.Now, next, func(items []opItem) error { return planDiff(ctx, o, items, props) },
		opFunc(func(ctx context.Context, batch []opItem) ([]itemResult, error) {
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
}

func updateIdent(r LedgerRow) string { return updateItemIdent(r.SourceFile, r.SourceLine, r.HubSpotID) }

// updateItemIdent is an update's identity across runs: its input row and
// the record it writes.
func updateItemIdent(file string, line int, id string) string {
	return "update|" + file + ":" + strconv.Itoa(line) + "|" + id
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

// updateHeader reads the update input's header: the property columns,
// and the parser of its rows.
func updateHeader(path string, head []string) ([]string, rowParser, error) {
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
	width := len(head)
	parse := func(rec []string, line int) (updateRow, error) {
		if len(rec) != width {
			return updateRow{}, fmt.Errorf("%s:%d: %d fields, the header has %d", path, line, len(rec), width)
		}
		u := updateRow{line: line, props: make(map[string]string, len(props))}
		if idCol >= 0 {
			u.id = strings.TrimSpace(rec[idCol])
			if u.id != "" && !isDigits(u.id) {
				return updateRow{}, fmt.Errorf("%s:%d: id %q is not a record id", path, line, u.id)
			}
		}
		if keyCol >= 0 {
			u.key = strings.TrimSpace(rec[keyCol])
		}
		if u.id == "" && u.key == "" {
			return updateRow{}, fmt.Errorf("%s:%d: neither an id nor a key", path, line)
		}
		for i, p := range propCol {
			u.props[p] = rec[i]
		}
		return u, nil
	}
	return props, parse, nil
}

// keyResolver gives rows their record ids: a row's id column, else its
// key through the import ledger, else through a search on commlog_key.
// byKey, the import ledger read as key → id of its created records, is
// built once, on first use, in a key index (on disk past a few thousand
// keys), so that a ledger of millions of rows costs no more memory than a
// small one.
type keyResolver struct {
	api          WriteAPI
	input        string
	importLedger string
	byKey        *createdIndex
}

func (k *keyResolver) close() { k.byKey.close() }

// createdIndex maps the keys of an import ledger to the ids of the records
// its last event for the key says were created. An id is kept in the 48
// bits a key entry has beside its state (HubSpot ids are decimal numbers
// far below 2^48); any other id is kept in a map of its own.
type createdIndex struct {
	keys  *keyIndex
	other map[keyID]string
}

const (
	idNone uint8 = iota // the key's last event is not a creation
	idPacked
	idOther
)

// openCreatedIndex reads an import ledger ("": an empty index) with the
// rules of EachCreated (settlesKey; a key's last event decides).
func openCreatedIndex(path string) (*createdIndex, error) {
	ci := &createdIndex{keys: newKeyIndex(filepath.Dir(path)), other: map[keyID]string{}}
	if path == "" {
		return ci, nil
	}
	err := ReadLedger(path, func(r LedgerRow) error {
		if !settlesKey(r) {
			return nil
		}
		id := parseKey(r.Key)
		e := keyEntry{state: idNone}
		if r.State == StateCreated && r.HubSpotID != "" {
			if n, err := strconv.ParseUint(r.HubSpotID, 10, 48); err == nil && strconv.FormatUint(n, 10) == r.HubSpotID {
				e = keyEntry{state: idPacked, file: uint16(n >> 32), line: uint32(n)}
			} else {
				e.state = idOther
				ci.other[id] = r.HubSpotID
			}
		}
		return ci.keys.put(id, e)
	})
	if err != nil {
		ci.close()
		return nil, err
	}
	return ci, nil
}

// id returns the record id the ledger gives key, "" when none.
func (ci *createdIndex) id(key string) (string, error) {
	id := parseKey(key)
	e, ok, err := ci.keys.get(id)
	switch {
	case err != nil || !ok:
		return "", err
	case e.state == idPacked:
		return strconv.FormatUint(uint64(e.file)<<32|uint64(e.line), 10), nil
	case e.state == idOther:
		return ci.other[id], nil
	}
	return "", nil
}

func (ci *createdIndex) close() {
	if ci != nil {
		ci.keys.close()
	}
}

// resolve gives one chunk of rows their ids; unresolved hears of the rows
// that have none (or more than one).
func (k *keyResolver) resolve(ctx context.Context, rows []updateRow, unresolved func(updateRow, string)) ([]opItem, error) {
	if k.byKey == nil {
		ci, err := openCreatedIndex(k.importLedger)
		if err != nil {
			return nil, err
		}
		k.byKey = ci
	}
	// byKey: this chunk's keys → the ids the import ledger gives them ("" when none).
	byKey := make(map[string]string, len(rows))
	for _, r := range rows {
		if r.id != "" || r.key == "" {
			continue
		}
		id, err := k.byKey.id(r.key)
		if err != nil {
			return nil, err
		}
		byKey[r.key] = id
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
		if found, err = findKeys(ctx, k.api, search); err != nil {
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
		items = append(items, opItem{file: k.input, line: r.line, key: r.key, id: id, props: r.props})
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
