package batch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/commlog/commlog/crm"
)

// WriteAPI is what update, archive, restore, associate, pin and verify
// need of HubSpot; *crm.Client implements it.
type WriteAPI interface {
	Get(ctx context.Context, objectType, id string, q crm.GetOptions) (*crm.Object, error)
	BatchRead(ctx context.Context, objectType string, in crm.BatchReadInput, archived bool) (*crm.BatchResult, error)
	BatchCreate(ctx context.Context, objectType string, inputs []crm.CreateInput) (*crm.BatchResult, error)
	BatchUpdate(ctx context.Context, objectType string, inputs []crm.UpdateInput) (*crm.BatchResult, error)
	BatchArchive(ctx context.Context, objectType string, ids []string) error
	Search(ctx context.Context, objectType string, req crm.SearchRequest) (*crm.SearchResult, error)
	SearchAll(ctx context.Context, objectType string, req crm.SearchRequest, sortProperty string, fn func(crm.Object) error) error
	Properties(ctx context.Context, objectType string) ([]crm.Property, error)
	EnsureKeyProperty(ctx context.Context) error
	Associate(ctx context.Context, fromType, fromID, toType, toID, assocType string) error
	Unassociate(ctx context.Context, fromType, fromID, toType, toID, assocType string) error
	BatchAssociate(ctx context.Context, fromType, toType string, pairs []crm.AssociationPair) (*crm.AssociationBatchResult, error)
	BatchUnassociate(ctx context.Context, fromType, toType string, pairs []crm.AssociationPair) error
	BatchReadAssociations(ctx context.Context, fromType, toType string, ids []string) (map[string][]crm.AssociatedID, error)
	Pin(ctx context.Context, objectType, objectID, communicationID string) error
	Stats() crm.Stats
	Budget() crm.Budget
}

// assocObjectTypes are the object types a communication is associated
// with; snapshots and verify read associations to these.
var assocObjectTypes = []string{crm.Contacts, crm.Companies, crm.Deals, crm.Tickets}

// readAssociations batch-reads the associations of communications ids to
// each of toTypes (v4, 1,000 ids a request, the types concurrently up to
// workers): object type → communication id → associated records. Ids
// without associations, or gone, have no entry.
func readAssociations(ctx context.Context, api WriteAPI, ids, toTypes []string, workers int) (map[string]map[string][]crm.AssociatedID, error) {
	got := make([]map[string][]crm.AssociatedID, len(toTypes))
	r := runner{cfg: runConfig{Workers: workers}}
	g, gctx := r.group(ctx)
	for i, t := range toTypes {
		g.Go(func() error {
			m, err := api.BatchReadAssociations(gctx, crm.Communications, t, ids)
			if err != nil {
				return fmt.Errorf("reading the %s associations of %d communications: %w", t, len(ids), err)
			}
			got[i] = m
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string]map[string][]crm.AssociatedID, len(toTypes))
	for i, t := range toTypes {
		out[t] = got[i]
	}
	return out, nil
}

// readObjects batch-reads ids (100 a request) and returns the records
// found, by id. Ids HubSpot does not return are missing.
func readObjects(ctx context.Context, api WriteAPI, objectType string, ids, props []string, archived bool) (map[string]crm.Object, error) {
	found := make(map[string]crm.Object, len(ids))
	for start := 0; start < len(ids); start += 100 {
		chunk := ids[start:min(start+100, len(ids))]
		in := crm.BatchReadInput{Properties: props, Inputs: make([]crm.ObjectID, len(chunk))}
		for i, id := range chunk {
			in.Inputs[i] = crm.ObjectID{ID: id}
		}
		res, err := api.BatchRead(ctx, objectType, in, archived)
		if err != nil {
			return nil, fmt.Errorf("reading %d %s: %w", len(chunk), objectType, err)
		}
		for _, o := range res.Results {
			found[o.ID] = o
		}
	}
	return found, nil
}

// searcher is the one call findKeys needs.
type searcher interface {
	Search(ctx context.Context, objectType string, req crm.SearchRequest) (*crm.SearchResult, error)
}

// findKeys finds the communications carrying each commlog_key, 100 keys a
// search.
func findKeys(ctx context.Context, api searcher, keys []string) (map[string][]string, error) {
	found := make(map[string][]string)
	for start := 0; start < len(keys); start += searchChunk {
		chunk := keys[start:min(start+searchChunk, len(keys))]
		req := crm.SearchRequest{
			FilterGroups: []crm.FilterGroup{{Filters: []crm.Filter{{PropertyName: KeyProperty, Operator: "IN", Values: chunk}}}},
			Properties:   []string{KeyProperty},
			Limit:        200,
		}
		for {
			res, err := api.Search(ctx, crm.Communications, req)
			if err != nil {
				return nil, fmt.Errorf("searching %d keys: %w", len(chunk), err)
			}
			for _, o := range res.Results {
				k := o.Properties[KeyProperty]
				found[k] = append(found[k], o.ID)
			}
			if res.After == "" {
				break
			}
			req.After = res.After
		}
	}
	return found, nil
}

// CreatedRecord is one communication an import ledger says exists.
type CreatedRecord struct {
	Key        string
	ID         string
	BodySHA256 string
	File       string
	Line       int
}

// settlesKey says whether a ledger event speaks for its key's state.
// Keyless events (a duplicate row's) and plans do not; nor do skipped and
// invalid events: a skip rule or a bad row may share its key with a row
// that was created.
func settlesKey(r LedgerRow) bool {
	return r.Key != "" && r.Operation != OpPlan && r.State != StateSkipped && r.State != StateInvalid
}

// derivedPath names a file beside base: x.csv + ".archive.csv" → x.archive.csv.
func derivedPath(base, suffix string) string {
	return strings.TrimSuffix(base, filepath.Ext(base)) + suffix
}

// syncDir makes a new file's directory entry durable.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writableProperties lists the communication properties a create or
// update may write, and the read-only ones, by name.
func writableProperties(ctx context.Context, api WriteAPI) (writable, readOnly map[string]bool, err error) {
	defs, err := api.Properties(ctx, crm.Communications)
	if err != nil {
		return nil, nil, fmt.Errorf("reading communication properties: %w", err)
	}
	writable, readOnly = map[string]bool{}, map[string]bool{}
	for _, p := range defs {
		if p.ModificationMetadata.ReadOnlyValue || p.Calculated {
			readOnly[p.Name] = true
		} else {
			writable[p.Name] = true
		}
	}
	return writable, readOnly, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// EachCreated calls fn with every record a ledger says was created and
// still exists as far as it knows (a key's last event is "created"), in the
// order of each key's last event, in memory that does
// not grow with the ledger: two passes over the file, with three key indexes
// (see keyIndex) in between. The exception is the rare key whose last
// event inherits its body hash from an earlier one (a reconcile after a
// create of the same record): that hash waits in a map from the earlier
// event to the last.
func EachCreated(path string, fn func(CreatedRecord) error) error {
	dir := filepath.Dir(path)
	final, hashFrom, lastID := newKeyIndex(dir), newKeyIndex(dir), newKeyIndex(dir)
	defer final.close()
	defer hashFrom.close()
	defer lastID.close()
	// Pass 1: per key, the ordinal of its last event, whether that event is
	// a creation, and the ordinal of the event whose body hash it carries.
	n := uint32(0)
	err := ReadLedger(path, func(r LedgerRow) error {
		if !settlesKey(r) {
			return nil
		}
		n++
		k := parseKey(r.Key)
		prev, hadPrev, err := lastID.get(k)
		if err != nil {
			return err
		}
		from := keyEntry{} // state 0: no hash
		switch {
		case r.BodySHA256 != "":
			from = keyEntry{state: 1, line: n}
		case hadPrev && prev == idEntry(r.HubSpotID):
			if from, _, err = hashFrom.get(k); err != nil {
				return err
			}
		}
		created := uint8(0)
		if r.State == StateCreated && r.HubSpotID != "" {
			created = 1
		}
		for _, put := range []struct {
			ix *keyIndex
			e  keyEntry
		}{{hashFrom, from}, {lastID, idEntry(r.HubSpotID)}, {final, keyEntry{state: created, line: n}}} {
			if err := put.ix.put(k, put.e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Pass 2: a record is emitted at its key's last event.
	carry := map[keyID]string{}
	i := uint32(0)
	return ReadLedger(path, func(r LedgerRow) error {
		if !settlesKey(r) || i == n {
			return nil
		}
		i++
		k := parseKey(r.Key)
		last, _, err := final.get(k)
		if err != nil || last.state != 1 {
			return err
		}
		from, _, err := hashFrom.get(k)
		if err != nil {
			return err
		}
		if from.state == 1 && from.line == i && last.line != i {
			carry[k] = r.BodySHA256
		}
		if last.line != i {
			return nil
		}
		hash := r.BodySHA256
		if from.state == 1 && from.line != i {
			hash = carry[k]
			delete(carry, k)
		}
		return fn(CreatedRecord{Key: r.Key, ID: r.HubSpotID, BodySHA256: hash, File: r.SourceFile, Line: r.SourceLine})
	})
}

// idEntry packs a 48-bit hash of a record id into a key entry: equality is
// all EachCreated asks of it.
func idEntry(id string) keyEntry {
	h := mix64(uint64(len(id)))
	for i := 0; i < len(id); i++ {
		h = mix64(h ^ uint64(id[i]))
	}
	return keyEntry{state: 1, file: uint16(h >> 32), line: uint32(h)}
}
