package batch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/commlog/commlog/crm"
)

// assocItem is one association to add or remove: communication → object.
type assocItem struct {
	toType string
	toID   string
	// typeID is the association type id (0 = the default between the two
	// types); label is a snake-case label that is not a known default.
	typeID int
	label  string
}

// AssociateOptions configure one associate run.
type AssociateOptions struct {
	RunOptions
	API WriteAPI
	// Input is a CSV with the columns communication (id or commlog_key),
	// object_type, object_id and, optionally, association_type (a number
	// or a snake-case label such as communication_to_contact).
	Input string
	// ImportLedger resolves communication keys; unknown keys are searched.
	ImportLedger string
	// Remove removes the associations instead of adding them.
	Remove bool
}

// Associate adds (or, with Remove, removes) associations between
// communications and other records: through v4 batch endpoints, 100 pairs a
// request, for numeric and default types (a typed removal through
// batch/labels/archive removes just that type); per pair through v3 for
// other labels. Ledgered and resumable; both directions are idempotent.
func Associate(ctx context.Context, o AssociateOptions) (*Summary, error) {
	if o.Ledger == "" && o.Input != "" {
		o.Ledger = derivedPath(o.Input, ".associate.csv")
	}
	if err := o.check(OpAssociate); err != nil {
		return nil, err
	}
	if o.API == nil {
		return nil, errors.New("associate: no HubSpot client")
	}
	ir := &itemRunner{runner: newRunner(o.config(OpAssociate, RunLogPath(o.Ledger), o.API)), opName: OpAssociate, batchSize: o.BatchSize, idempotent: true}

	header := pairsHeader(o.Input, []string{"communication", "object_type", "object_id"}, []string{"association_type"})
	n, err := scanRows(o.Input, header, nil)
	if err != nil {
		return nil, err
	}
	ir.c.rows.Add(n)
	in, err := openRows(o.Input, header)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	res := &keyResolver{api: o.API, input: o.Input, importLedger: o.ImportLedger}
	defer res.close()
	prev := &resumeFilter{ledger: o.Ledger, ident: func(r LedgerRow) string {
		return assocIdent(r.SourceFile, r.SourceLine, r.HubSpotID, strings.HasPrefix(r.Message, "removed"))
	}}
	defer prev.close()
	next := func(ctx context.Context) ([]opItem, []LedgerRow, bool, error) {
		rows, err := in.next(o.chunk())
		if err != nil {
			return nil, nil, false, err
		}
		var pending []updateRow
		var bad []LedgerRow
		for _, r := range rows {
			_, err := parseAssoc(r.props["object_type"], r.props["object_id"], r.props["association_type"])
			if err != nil {
				ir.c.invalid.Add(1)
				bad = append(bad, LedgerRow{RunID: ir.runID, SourceFile: o.Input, SourceLine: r.line, Operation: OpAssociate,
					State: StateInvalid, Category: "INVALID_ROW", Message: fmt.Sprintf("%s:%d: %v", o.Input, r.line, err)})
				continue
			}
			comm := r.props["communication"]
			u := updateRow{line: r.line, props: r.props}
			if isDigits(comm) {
				u.id = comm
			} else {
				u.key = comm
			}
			pending = append(pending, u)
		}
		items, err := res.resolve(ctx, pending, func(r updateRow, why string) {
			ir.c.unresolved.Add(1)
			bad = append(bad, LedgerRow{RunID: ir.runID, SourceFile: o.Input, SourceLine: r.line, Key: r.key,
				Operation: OpAssociate, State: StateUnresolved, Category: "UNRESOLVED_RECORD", Message: why})
		})
		if err != nil {
			return nil, nil, false, err
		}
		for i := range items {
			items[i].assoc, _ = parseAssoc(items[i].props["object_type"], items[i].props["object_id"], items[i].props["association_type"])
			items[i].ident = assocIdent(items[i].file, items[i].line, items[i].id, o.Remove)
		}
		items, err = prev.filter(ir, items, o.RetryFailed, StateUpdated)
		return items, bad, len(rows) == o.chunk(), err
	}
	verb := "added"
	if o.Remove {
		verb = "removed"
	}
	return ir.streamItems(ctx, o.Ledger, o.Now, next, nil, opFunc(func(ctx context.Context, batch []opItem) ([]itemResult, error) {
		out := make([]itemResult, len(batch))
		groups := map[string][]int{}
		for i, it := range batch {
			if it.assoc.label != "" {
				// A label HubSpot knows by name only: v3, one pair a
				// request (v4 wants type ids). Removing one type by id
				// goes through v4 batch/labels/archive below.
				typ := it.assoc.label
				if typ == "" {
					typ = strconv.Itoa(it.assoc.typeID)
				}
				var err error
				if o.Remove {
					err = o.API.Unassociate(ctx, crm.Communications, it.id, it.assoc.toType, it.assoc.toID, typ)
				} else {
					err = o.API.Associate(ctx, crm.Communications, it.id, it.assoc.toType, it.assoc.toID, typ)
				}
				out[i] = pairResult(err, verb)
				continue
			}
			groups[it.assoc.toType] = append(groups[it.assoc.toType], i)
		}
		for _, toType := range sortedKeys(groups) {
			idx := groups[toType]
			pairs := make([]crm.AssociationPair, len(idx))
			for j, i := range idx {
				a := batch[i].assoc
				pairs[j] = crm.AssociationPair{FromID: batch[i].id, ToID: a.toID}
				if a.typeID != 0 {
					pairs[j].Types = []crm.AssociationType{{Category: crm.HubSpotDefined, TypeID: a.typeID}}
				}
			}
			if o.Remove {
				err := o.API.BatchUnassociate(ctx, crm.Communications, toType, pairs)
				if err != nil && len(groups) == 1 {
					return nil, err
				}
				for _, i := range idx {
					out[i] = pairResult(err, verb)
				}
				continue
			}
			res, err := o.API.BatchAssociate(ctx, crm.Communications, toType, pairs)
			if err != nil && len(groups) == 1 {
				return nil, err
			}
			made := map[[2]string]bool{}
			if res != nil {
				for _, l := range res.Results {
					made[[2]string{l.FromObjectID, l.ToObjectID}] = true
				}
			}
			for _, i := range idx {
				switch {
				case err != nil:
					out[i] = pairResult(err, verb)
				case made[[2]string{batch[i].id, batch[i].assoc.toID}]:
					out[i] = itemResult{state: StateUpdated, message: verb}
				case len(res.Errors) > 0:
					e := res.Errors[0]
					out[i] = itemResult{state: StateFailed, status: 207, category: e.Category, message: itemMessage(&e)}
				default:
					out[i] = itemResult{state: StateInDoubt, category: crm.MissingResult, message: "HubSpot's answer did not name this pair"}
				}
			}
		}
		return out, nil
	}))
}

func assocIdent(file string, line int, id string, remove bool) string {
	op := "add"
	if remove {
		op = "remove"
	}
	return "associate|" + op + "|" + file + ":" + strconv.Itoa(line) + "|" + id
}

// pairResult turns one pair's error into its result.
func pairResult(err error, verb string) itemResult {
	var apiErr *crm.Error
	switch {
	case err == nil:
		return itemResult{state: StateUpdated, message: verb}
	case errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500 && !crm.IsRateLimited(err):
		return itemResult{state: StateFailed, status: apiErr.StatusCode, category: apiErr.Category, message: apiErr.Message}
	default:
		return itemResult{state: StateInDoubt, category: "IN_DOUBT", message: err.Error()}
	}
}

// parseAssoc reads one pair's object type, id and association type: a
// number, a snake-case label, or empty for the default type.
func parseAssoc(objectType, objectID, typ string) (assocItem, error) {
	t := strings.ToLower(strings.TrimSpace(objectType))
	switch t {
	case "contact", "company", "deal", "ticket":
		if t == "company" {
			t = crm.Companies
		} else {
			t += "s"
		}
	case crm.Contacts, crm.Companies, crm.Deals, crm.Tickets:
	default:
		return assocItem{}, fmt.Errorf("object_type %q: want contacts, companies, deals or tickets", objectType)
	}
	id := strings.TrimSpace(objectID)
	if !isDigits(id) {
		return assocItem{}, fmt.Errorf("object_id %q is not a record id", objectID)
	}
	a := assocItem{toType: t, toID: id}
	typ = strings.TrimSpace(typ)
	switch {
	case typ == "":
	case isDigits(typ):
		n, err := strconv.Atoi(typ)
		if err != nil || n <= 0 {
			return assocItem{}, fmt.Errorf("association_type %q is not a type id", typ)
		}
		a.typeID = n
	default:
		if n, ok := defaultAssocLabels[strings.ToLower(typ)]; ok {
			a.typeID = n
		} else if isSnakeCase(typ) {
			a.label = typ
		} else {
			return assocItem{}, fmt.Errorf("association_type %q: want a number or a snake-case label such as communication_to_contact", typ)
		}
	}
	return a, nil
}

func isSnakeCase(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// pairsHeader reads the header of a CSV with the required (and optional)
// named columns; its rows are keyed by column name.
func pairsHeader(path string, required, optional []string) func(head []string) (rowParser, error) {
	return func(head []string) (rowParser, error) {
		col := map[string]int{}
		for i, h := range head {
			col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
		}
		for _, c := range required {
			if _, ok := col[c]; !ok {
				return nil, fmt.Errorf("%s:1: no %q column (want %s)", path, c, strings.Join(append(required, optional...), ", "))
			}
		}
		names := append(append([]string{}, required...), optional...)
		return func(rec []string, line int) (updateRow, error) {
			u := updateRow{line: line, props: map[string]string{}}
			for _, c := range names {
				if i, ok := col[c]; ok && i < len(rec) {
					u.props[c] = strings.TrimSpace(rec[i])
				}
			}
			return u, nil
		}, nil
	}
}
