package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

	snap := o.Snapshot
	if snap == "" {
		snap = derivedPath(o.Ledger, ".snapshot-"+ir.runID+".jsonl")
	}
	if _, err := os.Lstat(snap); err == nil && !o.Plan {
		return nil, fmt.Errorf("snapshot %s exists already; name another with --snapshot", snap)
	}

	// Every pass below streams: targets wait in spools on disk, never in
	// memory, however many a --where or a ledger names.
	dir := filepath.Dir(o.Ledger)
	todo, err := newItemSpool(dir)
	if err != nil {
		return nil, err
	}
	defer todo.close()
	listed := "%d communications to archive"
	if err := ir.archiveTodo(ctx, o, todo); errors.Is(err, errTooManyTargets) {
		listed = "at least %d communications to archive (listing stopped there)"
	} else if err != nil {
		return nil, err
	}
	ir.log.Info("archive targets listed", "targets", todo.n, "already_archived", ir.c.alreadyDone.Load())
	if todo.n > o.MaxDelete {
		return ir.summary(), fmt.Errorf(listed+", more than --max-delete %d; nothing was archived: %w",
			todo.n, o.MaxDelete, ErrRefused)
	}
	live, err := newItemSpool(dir)
	if err != nil {
		return nil, err
	}
	defer live.close()
	foreign, examples, err := ir.archiveLive(ctx, o, todo, live)
	if err != nil {
		return nil, err
	}
	ir.log.Info("archive targets read from HubSpot", "live", live.n, "gone", ir.c.skipped.Load(), "not_commlog", foreign)
	if foreign > 0 && !o.IncludeForeign {
		return ir.summary(), fmt.Errorf("%d of %d targets were not created by commlog (no %s), e.g. %s; pass --include-foreign to archive them too; nothing was archived: %w",
			foreign, live.n, KeyProperty, strings.Join(examples, ", "), ErrRefused)
	}
	if o.Plan {
		ir.c.planned.Add(int64(live.n))
		if o.PlanOut != nil {
			return ir.summary(), writeArchivePlan(o.PlanOut, live, o.chunk())
		}
		return ir.summary(), nil
	}
	if live.n == 0 {
		return ir.summary(), nil
	}
	if !o.Yes {
		if o.Confirm == nil {
			return ir.summary(), fmt.Errorf("archiving %d communications needs a confirmation: pass --yes when not on a terminal: %w", live.n, ErrRefused)
		}
		ok, err := o.Confirm(ctx, live.n)
		if err != nil {
			return ir.summary(), err
		}
		if !ok {
			return ir.summary(), fmt.Errorf("archiving %d communications was not confirmed; nothing was archived: %w", live.n, ErrRefused)
		}
	}

	if err := writeSnapshot(ctx, o.API, snap, live, o.chunk(), ir.workers()); err != nil {
		return ir.summary(), err
	}
	ir.log.Info("snapshot written", "file", snap, "records", live.n)
	ir.warnings = []string{"snapshot: " + snap}

	rd, err := live.read()
	if err != nil {
		return ir.summary(), err
	}
	next := func(context.Context) ([]opItem, []LedgerRow, bool, error) {
		items, err := rd.next(o.chunk())
		for i := range items {
			items[i].ident = "archive|" + items[i].id
		}
		return items, nil, len(items) == o.chunk(), err
	}
	return ir.streamItems(ctx, o.Ledger, o.Now, next, nil, opFunc(func(ctx context.Context, batch []opItem) ([]itemResult, error) {
		if err := o.API.BatchArchive(ctx, crm.Communications, ids0(batch)); err != nil {
			return nil, err
		}
		res := make([]itemResult, len(batch))
		for i := range res {
			res[i] = itemResult{state: StateArchived}
		}
		return res, nil
	}))
}

func archiveIdent(r LedgerRow) string { return "archive|" + r.HubSpotID }

func ids0(items []opItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.id
	}
	return out
}

// errTooManyTargets stops listing the targets once more than --max-delete
// are found: a --where naming millions is refused after a few searches,
// not after listing them all.
var errTooManyTargets = errors.New("more targets than --max-delete")

// archiveTodo spools the targets the options choose, each id once, less
// those an earlier run archived (a failed archive is tried again: it is
// idempotent), a chunk at a time. Once more than MaxDelete are spooled it
// stops with errTooManyTargets.
func (ir *itemRunner) archiveTodo(ctx context.Context, o ArchiveOptions, todo *itemSpool) error {
	seen := newKeyIndex(filepath.Dir(o.Ledger))
	defer seen.close()
	prev := &resumeFilter{ledger: o.Ledger, ident: archiveIdent}
	defer prev.close()
	var chunk []opItem
	flush := func() error {
		ir.c.rows.Add(int64(len(chunk)))
		items, err := prev.filter(ir, chunk, true, StateArchived)
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := todo.add(it); err != nil {
				return err
			}
		}
		chunk = chunk[:0]
		return nil
	}
	err := eachArchiveTarget(ctx, o, func(t opItem) error {
		t.ident = "archive|" + t.id
		k := parseKey(t.ident)
		if _, dup, err := seen.get(k); err != nil || dup {
			return err
		}
		if err := seen.put(k, keyEntry{}); err != nil {
			return err
		}
		if chunk = append(chunk, t); len(chunk) < o.chunk() {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		if todo.n > o.MaxDelete {
			return errTooManyTargets
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// archiveLive reads the spooled targets from HubSpot, a chunk at a time,
// and spools those that exist with their commlog_key; targets gone already
// count as skipped. It counts the live targets without a key (not
// commlog's own) and returns the first three of their ids.
func (ir *itemRunner) archiveLive(ctx context.Context, o ArchiveOptions, todo, live *itemSpool) (foreign int, examples []string, err error) {
	rd, err := todo.read()
	if err != nil {
		return 0, nil, err
	}
	for {
		items, err := rd.next(o.chunk())
		if err != nil || len(items) == 0 {
			return foreign, examples, err
		}
		objs, err := readObjects(ctx, o.API, crm.Communications, ids0(items), []string{KeyProperty}, false)
		if err != nil {
			return 0, nil, err
		}
		for _, it := range items {
			obj, ok := objs[it.id]
			if !ok {
				ir.c.skipped.Add(1)
				continue
			}
			it.key = obj.Properties[KeyProperty]
			if it.key == "" {
				if foreign++; len(examples) < 3 {
					examples = append(examples, it.id)
				}
			}
			if err := live.add(it); err != nil {
				return 0, nil, err
			}
		}
	}
}

// writeArchivePlan lists a --plan run's targets.
func writeArchivePlan(w io.Writer, live *itemSpool, chunk int) error {
	rd, err := live.read()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "id,commlog_key")
	for {
		items, err := rd.next(chunk)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return bw.Flush()
		}
		for _, it := range items {
			fmt.Fprintf(bw, "%s,%s\n", it.id, it.key)
		}
	}
}

// eachArchiveTarget calls fn with each record the options choose, in the
// order the source gives them (duplicates included).
func eachArchiveTarget(ctx context.Context, o ArchiveOptions, fn func(opItem) error) error {
	switch {
	case o.FromLedger != "":
		return EachCreated(o.FromLedger, func(r CreatedRecord) error {
			return fn(opItem{id: r.ID, key: r.Key, file: r.File, line: r.Line})
		})
	case o.IDsFile != "":
		return eachID(o.IDsFile, func(id lineID) error {
			return fn(opItem{id: id.id, file: o.IDsFile, line: id.line})
		})
	default:
		filters, err := ParseWhere(o.Where)
		if err != nil {
			return err
		}
		if !o.IncludeForeign {
			filters = append(filters, crm.Filter{PropertyName: KeyProperty, Operator: "HAS_PROPERTY"})
		}
		req := crm.SearchRequest{FilterGroups: []crm.FilterGroup{{Filters: filters}}, Properties: []string{KeyProperty}}
		err = o.API.SearchAll(ctx, crm.Communications, req, "hs_object_id", func(obj crm.Object) error {
			return fn(opItem{id: obj.ID, key: obj.Properties[KeyProperty]})
		})
		if err != nil {
			return fmt.Errorf("searching the --where targets: %w", err)
		}
		return nil
	}
}

type lineID struct {
	id   string
	line int
}

// eachID reads record ids, one a line; blank lines, # comments and a
// header line ("id" or "hs_object_id") are skipped.
func eachID(path string, fn func(lineID) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--ids: %w", err)
	}
	defer f.Close()
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
			return fmt.Errorf("%s:%d: %q is not a record id", path, line, s)
		}
		if err := fn(lineID{id: s, line: line}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
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

// writeSnapshot saves every property and association of every live
// target, a chunk at a time, and fsyncs the file before returning: nothing
// is archived before it is complete. The file must not exist yet. It is
// written as path.partial and linked to path once complete, so a snapshot
// at path is always whole, even after a kill -9 mid-write (the next run
// overwrites the .partial file; an error removes it).
func writeSnapshot(ctx context.Context, api WriteAPI, path string, live *itemSpool, chunk, workers int) error {
	defs, err := api.Properties(ctx, crm.Communications)
	if err != nil {
		return fmt.Errorf("reading communication properties: %w", err)
	}
	names := make([]string, 0, len(defs))
	for _, p := range defs {
		names = append(names, p.Name)
	}
	rd, err := live.read()
	if err != nil {
		return err
	}
	partial := path + ".partial"
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(partial)
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(bw)
	for {
		items, err := rd.next(chunk)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			break
		}
		ids := ids0(items)
		objs, err := readObjects(ctx, api, crm.Communications, ids, names, false)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		assocs, err := readAssociations(ctx, api, ids, assocObjectTypes, workers)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		for _, id := range ids {
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
			if err := enc.Encode(rec); err != nil {
				return fmt.Errorf("snapshot %s: %w", path, err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("snapshot %s: fsync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	// A link, not a rename: it fails, rather than replaces, when path
	// appeared meanwhile.
	if err := os.Link(partial, path); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("snapshot: %w", err)
	} else if err != nil {
		// A file system without hard links: a rename, after checking again.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("snapshot %s exists already; name another with --snapshot", path)
		}
		if err := os.Rename(partial, path); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	return syncDir(path)
}

// ReadSnapshot streams a snapshot's records with their line numbers.
func ReadSnapshot(path string, fn func(line int, r SnapshotRecord) error) error {
	s, err := openSnapshot(path)
	if err != nil {
		return err
	}
	defer s.close()
	for {
		line, r, err := s.record()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(line, r); err != nil {
			return err
		}
	}
}

// snapshotReader reads a snapshot one record at a time.
type snapshotReader struct {
	path string
	f    *os.File
	br   *bufio.Reader
	line int
}

func openSnapshot(path string) (*snapshotReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &snapshotReader{path: path, f: f, br: bufio.NewReaderSize(f, 1<<20)}, nil
}

// record returns the next record and its line; io.EOF after the last.
func (s *snapshotReader) record() (int, SnapshotRecord, error) {
	for {
		b, err := s.br.ReadBytes('\n')
		s.line++
		if len(bytes.TrimSpace(b)) > 0 {
			var r SnapshotRecord
			if jerr := json.Unmarshal(b, &r); jerr != nil {
				return 0, r, fmt.Errorf("snapshot %s:%d: %w", s.path, s.line, jerr)
			}
			if r.ID == "" {
				return 0, r, fmt.Errorf("snapshot %s:%d: record without an id", s.path, s.line)
			}
			return s.line, r, nil
		}
		if errors.Is(err, io.EOF) {
			return 0, SnapshotRecord{}, io.EOF
		}
		if err != nil {
			return 0, SnapshotRecord{}, fmt.Errorf("snapshot %s:%d: %w", s.path, s.line, err)
		}
	}
}

func (s *snapshotReader) close() { s.f.Close() }
