package batch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/commlog/commlog/crm"
)

// DefaultMaxDelete is archive's default --max-delete.
const DefaultMaxDelete = 1000

// ArchiveOptions configure one archive run. Exactly one of FromLedger,
// IDsFile and Where chooses the targets.
type ArchiveOptions struct {
	RunOptions
	API WriteAPI
	// FromLedger archives the records an import ledger says it created.
	FromLedger string
	// IDsFile archives the record ids it lists, one a line.
	IDsFile string
	// Where archives the communications a search finds: "name=value"
	// filters, ANDed (see ParseWhere).
	Where []string
	// IncludeForeign allows targets that commlog did not create (they
	// carry no commlog_key); without it such targets refuse the run.
	IncludeForeign bool
	// MaxDelete refuses a run with more targets (0 = DefaultMaxDelete).
	MaxDelete int
	// Snapshot is where the targets are saved before anything is archived
	// ("" = beside the ledger, one file a run).
	Snapshot string
	// Yes skips the confirmation. Otherwise Confirm must say yes; with no
	// Confirm the run is refused.
	Yes     bool
	Confirm func(ctx context.Context, targets int) (bool, error)
	// PlanOut receives the target list of a --plan run.
	PlanOut io.Writer
}

// Archive moves communications to HubSpot's recycling bin, safely: the
// targets are counted against MaxDelete, checked to be commlog's own,
// confirmed, and saved to a snapshot (fsynced) before the first archive
// request. It is ledgered and resumable; a refusal wraps ErrRefused.
func Archive(ctx context.Context, o ArchiveOptions) (*Summary, error) {
	if err := o.check(OpArchive); err != nil {
		return nil, err
	}
	sources := 0
	for _, set := range []bool{o.FromLedger != "", o.IDsFile != "", len(o.Where) > 0} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, errors.New("archive: choose the targets with exactly one of --ledger, --ids or --where")
	}
	if o.MaxDelete == 0 {
		o.MaxDelete = DefaultMaxDelete
	}
	if o.API == nil {
		return nil, errors.New("archive: no HubSpot client")
	}
	ir := &itemRunner{runner: newRunner(o.config(OpArchive, RunLogPath(o.Ledger), o.API)), opName: OpArchive, batchSize: o.BatchSize, idempotent: true}

	targets, err := archiveTargets(ctx, o)
	if err != nil {
		return nil, err
	}
	prev, err := resumeState(o.Ledger, archiveIdent)
	if err != nil {
		return nil, err
	}
	items := make([]opItem, 0, len(targets))
	seen := map[string]bool{}
	for _, t := range targets {
		if seen[t.id] {
			continue
		}
		seen[t.id] = true
		t.ident = "archive|" + t.id
		items = append(items, t)
	}
	ir.c.rows.Add(int64(len(items)))
	if items, err = ir.filterDone(items, lastStateIn(prev), true, StateArchived); err != nil {
		return nil, err
	}
	if len(items) > o.MaxDelete {
		return ir.summary(), fmt.Errorf("%d communications to archive, more than --max-delete %d; nothing was archived: %w",
			len(items), o.MaxDelete, ErrRefused)
	}

	// Read the targets: which exist, and which are commlog's own.
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.id
	}
	live, err := readObjects(ctx, o.API, crm.Communications, ids, []string{KeyProperty}, false)
	if err != nil {
		return nil, err
	}
	var foreign []string
	kept := items[:0]
	for _, it := range items {
		obj, ok := live[it.id]
		if !ok {
			ir.c.skipped.Add(1)
			continue
		}
		it.key = obj.Properties[KeyProperty]
		if it.key == "" {
			foreign = append(foreign, it.id)
		}
		kept = append(kept, it)
	}
	items = kept
	if len(foreign) > 0 && !o.IncludeForeign {
		return ir.summary(), fmt.Errorf("%d of %d targets were not created by commlog (no %s), e.g. %s; pass --include-foreign to archive them too; nothing was archived: %w",
			len(foreign), len(items), KeyProperty, strings.Join(foreign[:min(3, len(foreign))], ", "), ErrRefused)
	}
	if o.Plan {
		ir.c.planned.Add(int64(len(items)))
		if o.PlanOut != nil {
			fmt.Fprintln(o.PlanOut, "id,commlog_key")
			for _, it := range items {
				fmt.Fprintf(o.PlanOut, "%s,%s\n", it.id, it.key)
			}
		}
		return ir.summary(), nil
	}
	if len(items) == 0 {
		return ir.summary(), nil
	}
	if !o.Yes {
		if o.Confirm == nil {
			return ir.summary(), fmt.Errorf("archiving %d communications needs a confirmation: pass --yes when not on a terminal: %w", len(items), ErrRefused)
		}
		ok, err := o.Confirm(ctx, len(items))
		if err != nil {
			return ir.summary(), err
		}
		if !ok {
			return ir.summary(), fmt.Errorf("archiving %d communications was not confirmed; nothing was archived: %w", len(items), ErrRefused)
		}
	}

	snap := o.Snapshot
	if snap == "" {
		snap = derivedPath(o.Ledger, ".snapshot-"+ir.runID+".jsonl")
	}
	if err := writeSnapshot(ctx, o.API, snap, ids0(items), ir.workers()); err != nil {
		return ir.summary(), err
	}
	ir.log.Info("snapshot written", "file", snap, "records", len(items))

	led, torn, err := OpenLedger(o.Ledger, o.Now)
	if err != nil {
		return nil, err
	}
	defer led.Close()
	if torn != "" {
		ir.log.Warn("ledger: cut a torn last line left by an interrupted run", "ledger", o.Ledger, "bytes", len(torn))
	}
	ir.led = led
	smp := startSampler(ir.cfg.SampleEvery, ir.sample)
	err = ir.runItems(ctx, items, opFunc(func(ctx context.Context, batch []opItem) ([]itemResult, error) {
		if err := o.API.BatchArchive(ctx, crm.Communications, ids0(batch)); err != nil {
			return nil, err
		}
		res := make([]itemResult, len(batch))
		for i := range res {
			res[i] = itemResult{state: StateArchived}
		}
		return res, nil
	}))
	sum, err := ir.end(err, []string{"snapshot: " + snap}, smp)
	return sum, err
}

func archiveIdent(r LedgerRow) string { return "archive|" + r.HubSpotID }

func ids0(items []opItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.id
	}
	return out
}

// archiveTargets lists the records the options choose.
func archiveTargets(ctx context.Context, o ArchiveOptions) ([]opItem, error) {
	var out []opItem
	switch {
	case o.FromLedger != "":
		err := EachCreated(o.FromLedger, func(r CreatedRecord) error {
			out = append(out, opItem{id: r.ID, key: r.Key, file: r.File, line: r.Line})
			return nil
		})
		if err != nil {
			return nil, err
		}
	case o.IDsFile != "":
		ids, err := readIDsFile(o.IDsFile)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out = append(out, opItem{id: id.id, file: o.IDsFile, line: id.line})
		}
	default:
		filters, err := ParseWhere(o.Where)
		if err != nil {
			return nil, err
		}
		if !o.IncludeForeign {
			filters = append(filters, crm.Filter{PropertyName: KeyProperty, Operator: "HAS_PROPERTY"})
		}
		req := crm.SearchRequest{FilterGroups: []crm.FilterGroup{{Filters: filters}}, Properties: []string{KeyProperty}}
		err = o.API.SearchAll(ctx, crm.Communications, req, "hs_object_id", func(obj crm.Object) error {
			out = append(out, opItem{id: obj.ID, key: obj.Properties[KeyProperty]})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("searching the --where targets: %w", err)
		}
	}
	return out, nil
}

type lineID struct {
	id   string
	line int
}

// readIDsFile reads record ids, one a line; blank lines, # comments and a
// header line ("id" or "hs_object_id") are skipped.
func readIDsFile(path string) ([]lineID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--ids: %w", err)
	}
	defer f.Close()
	var out []lineID
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(s, ','); i >= 0 {
			s = strings.TrimSpace(s[:i])
		}
		s = strings.Trim(s, `"`)
		if s == "" || strings.HasPrefix(s, "#") || (line == 1 && (s == "id" || s == "hs_object_id")) {
			continue
		}
		if !isDigits(s) {
			return nil, fmt.Errorf("%s:%d: %q is not a record id", path, line, s)
		}
		out = append(out, lineID{id: s, line: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseWhere turns --where expressions into search filters (ANDed):
//
//	channel=WHATS_APP            hs_communication_channel_type EQ
//	owner=123                    hubspot_owner_id EQ
//	after=2024-05-01             hs_timestamp GTE (RFC 3339, a date, or epoch ms)
//	before=2024-06-01T00:00:00Z  hs_timestamp LT
//	name=value                   any property, EQ
//	name!=value, name>=v, name<=v, name>v, name<v
func ParseWhere(exprs []string) ([]crm.Filter, error) {
	var out []crm.Filter
	for _, e := range exprs {
		name, op, value, ok := cutOperator(e)
		if !ok || name == "" {
			return nil, fmt.Errorf("--where %q: want name=value (channel, owner, after, before, or any property)", e)
		}
		switch name {
		case "channel":
			name = "hs_communication_channel_type"
			value = strings.ToUpper(value)
		case "owner":
			name = "hubspot_owner_id"
		case "after", "before":
			ms, err := epochMillis(value)
			if err != nil {
				return nil, fmt.Errorf("--where %q: %w", e, err)
			}
			if op != "EQ" {
				return nil, fmt.Errorf("--where %q: write %s=TIME", e, name)
			}
			op = "GTE"
			if name == "before" {
				op = "LT"
			}
			name, value = "hs_timestamp", ms
		}
		out = append(out, crm.Filter{PropertyName: name, Operator: op, Value: value})
	}
	if len(out) > 6 {
		return nil, fmt.Errorf("--where: %d filters; HubSpot's search takes at most 6 in one group", len(out))
	}
	return out, nil
}

func cutOperator(e string) (name, op, value string, ok bool) {
	for _, c := range []struct{ tok, op string }{{"!=", "NEQ"}, {">=", "GTE"}, {"<=", "LTE"}, {"=", "EQ"}, {">", "GT"}, {"<", "LT"}} {
		if i := strings.Index(e, c.tok); i > 0 {
			return strings.TrimSpace(e[:i]), c.op, strings.TrimSpace(e[i+len(c.tok):]), true
		}
	}
	return "", "", "", false
}

func epochMillis(v string) (string, error) {
	if isDigits(v) {
		return v, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return fmt.Sprint(t.UnixMilli()), nil
		}
	}
	return "", fmt.Errorf("%q is not a time (want RFC 3339, YYYY-MM-DD or epoch milliseconds)", v)
}

// SnapshotRecord is one line of an archive snapshot (JSONL): everything
// restore needs to re-create the record.
type SnapshotRecord struct {
	ID           string                        `json:"id"`
	Properties   map[string]string             `json:"properties"`
	Associations map[string][]crm.AssociatedID `json:"associations,omitempty"`
	CreatedAt    time.Time                     `json:"createdAt"`
}

// writeSnapshot saves every property and association of every target and
// fsyncs the file before returning: nothing is archived before it is
// complete. The file must not exist yet.
func writeSnapshot(ctx context.Context, api WriteAPI, path string, ids []string, workers int) error {
	defs, err := api.Properties(ctx, crm.Communications)
	if err != nil {
		return fmt.Errorf("reading communication properties: %w", err)
	}
	names := make([]string, 0, len(defs))
	for _, p := range defs {
		names = append(names, p.Name)
	}
	objs, err := readObjects(ctx, api, crm.Communications, ids, names, false)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	assocs, err := readAssociations(ctx, api, ids, assocObjectTypes, workers)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	recs := make([]SnapshotRecord, len(ids))
	for i, id := range ids {
		o, ok := objs[id]
		if !ok {
			return fmt.Errorf("snapshot: communication %s was not found; nothing archived", id)
		}
		rec := SnapshotRecord{ID: id, Properties: o.Properties, CreatedAt: o.CreatedAt}
		for _, t := range assocObjectTypes {
			if l := assocs[t][id]; len(l) > 0 {
				if rec.Associations == nil {
					rec.Associations = map[string][]crm.AssociatedID{}
				}
				rec.Associations[t] = l
			}
		}
		recs[i] = rec
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return fmt.Errorf("snapshot %s: %w", path, err)
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("snapshot %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	return syncDir(path)
}

// ReadSnapshot streams a snapshot's records with their line numbers.
func ReadSnapshot(path string, fn func(line int, r SnapshotRecord) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(strings.TrimSpace(string(b))) > 0 {
			var r SnapshotRecord
			if jerr := json.Unmarshal(b, &r); jerr != nil {
				return fmt.Errorf("snapshot %s:%d: %w", path, line, jerr)
			}
			if r.ID == "" {
				return fmt.Errorf("snapshot %s:%d: record without an id", path, line)
			}
			if ferr := fn(line, r); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("snapshot %s:%d: %w", path, line, err)
		}
	}
}
