package batch

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/commlog/commlog/crm"
)

// Drift kinds verify reports.
const (
	DriftMissing  = "missing"  // the record is gone (not even in the recycling bin)
	DriftArchived = "archived" // the record is in the recycling bin
	DriftChanged  = "changed"  // its body's hash differs from what the import sent
	DriftDangling = "dangling" // it is associated with a record that no longer exists
)

// VerifyOptions configure one verify run.
type VerifyOptions struct {
	Ledger  string
	API     WriteAPI
	Workers int // concurrent association reads; 0 = 4
	// SkipAssociations leaves out the dangling-association check, which
	// costs one request per record.
	SkipAssociations bool

	chunkSize int // records read from HubSpot at a time; 0 = ledgerReadChunk (tests use a few)
}

// Drift is one finding.
type Drift struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Key    string `json:"key"`
	Source string `json:"source,omitempty"` // file:line of the row that created it
	Detail string `json:"detail,omitempty"`
}

// VerifyReport is what verify found.
type VerifyReport struct {
	Ledger   string         `json:"ledger"`
	Checked  int            `json:"checked"`
	OK       int            `json:"ok"`
	Counts   map[string]int `json:"counts"`
	Drift    []Drift        `json:"drift"`
	Requests int64          `json:"requests"`
}

// ErrDrift: verify found records that differ from what the ledger says.
var ErrDrift = fmt.Errorf("drift found: %w", ErrRowsFailed)

// Verify batch-reads every record the ledger says exists and reports the
// ones missing, archived, changed (body hash differs from what was sent;
// ledgers from before body_sha256 skip this check) and with dangling
// associations. It returns an error wrapping ErrDrift when it found any.
func Verify(ctx context.Context, o VerifyOptions) (*VerifyReport, error) {
	if o.API == nil {
		return nil, errors.New("verify: no HubSpot client")
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.chunkSize <= 0 {
		o.chunkSize = ledgerReadChunk
	}
	rep := &VerifyReport{Ledger: o.Ledger, Counts: map[string]int{}, Drift: []Drift{}}
	bad := map[string]bool{}
	// The ledger's records are checked a chunk at a time: memory follows
	// the chunk (and the drift found), not the ledger.
	var chunk []CreatedRecord
	check := func() error {
		err := verifyChunk(ctx, o, rep, bad, chunk)
		chunk = chunk[:0]
		return err
	}
	err := EachCreated(o.Ledger, func(r CreatedRecord) error {
		if chunk = append(chunk, r); len(chunk) < o.chunkSize {
			return nil
		}
		return check()
	})
	if err == nil && len(chunk) > 0 {
		err = check()
	}
	if err != nil {
		return nil, err
	}
	rep.OK = rep.Checked - len(bad)
	rep.Requests = o.API.Stats().Requests
	if len(rep.Drift) > 0 {
		return rep, fmt.Errorf("%d of %d records drifted (%s): %w", len(bad), rep.Checked, countsText(rep.Counts), ErrDrift)
	}
	return rep, nil
}

// ledgerReadChunk is how many of a ledger's records verify and pin
// --latest-per-contact read from HubSpot at a time.
const ledgerReadChunk = 10000

// verifyChunk checks one chunk of the ledger's records against HubSpot.
func verifyChunk(ctx context.Context, o VerifyOptions, rep *VerifyReport, bad map[string]bool, recs []CreatedRecord) error {
	rep.Checked += len(recs)
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	props := []string{"hs_communication_body", KeyProperty}
	live, err := readObjects(ctx, o.API, crm.Communications, ids, props, false)
	if err != nil {
		return err
	}
	var gone []string
	for _, r := range recs {
		if _, ok := live[r.ID]; !ok {
			gone = append(gone, r.ID)
		}
	}
	archived, err := readObjects(ctx, o.API, crm.Communications, gone, []string{"hs_object_id"}, true)
	if err != nil {
		return err
	}
	add := func(kind string, r CreatedRecord, detail string) {
		rep.Drift = append(rep.Drift, Drift{Kind: kind, ID: r.ID, Key: r.Key, Source: fmt.Sprintf("%s:%d", r.File, r.Line), Detail: detail})
		rep.Counts[kind]++
		bad[r.ID] = true
	}
	var present []CreatedRecord
	for _, r := range recs {
		obj, ok := live[r.ID]
		switch {
		case !ok && archivedHas(archived, r.ID):
			add(DriftArchived, r, "in the recycling bin")
		case !ok:
			add(DriftMissing, r, "not found, not archived")
		default:
			present = append(present, r)
			if r.BodySHA256 != "" && BodyHash(obj.Properties["hs_communication_body"]) != r.BodySHA256 {
				add(DriftChanged, r, "hs_communication_body differs from what was sent")
			}
		}
	}
	if !o.SkipAssociations && len(present) > 0 {
		return danglingAssociations(ctx, o, present, add)
	}
	return nil
}

func archivedHas(m map[string]crm.Object, id string) bool { _, ok := m[id]; return ok }

func countsText(c map[string]int) string {
	s := ""
	for _, k := range sortedKeys(c) {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%d %s", c[k], k)
	}
	return s
}

// danglingAssociations reads the records' associations (v4 batch reads per
// object type) and reports those whose target no longer exists (batch-read
// per object type).
func danglingAssociations(ctx context.Context, o VerifyOptions, recs []CreatedRecord, add func(string, CreatedRecord, string)) error {
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	byType, err := readAssociations(ctx, o.API, ids, assocObjectTypes, o.Workers)
	if err != nil {
		return err
	}
	assocs := make([]map[string]crm.AssociationList, len(recs))
	for i, rec := range recs {
		for t, m := range byType {
			if l := m[rec.ID]; len(l) > 0 {
				if assocs[i] == nil {
					assocs[i] = map[string]crm.AssociationList{}
				}
				assocs[i][t] = crm.AssociationList{Results: l}
			}
		}
	}
	targets := map[string]map[string]bool{}
	for _, a := range assocs {
		for t, l := range a {
			for _, x := range l.Results {
				if targets[t] == nil {
					targets[t] = map[string]bool{}
				}
				targets[t][x.ID] = true
			}
		}
	}
	exists := map[string]map[string]crm.Object{}
	for t, set := range targets {
		ids := sortedKeys(set)
		found, err := readObjects(ctx, o.API, t, ids, []string{"hs_object_id"}, false)
		if err != nil {
			return err
		}
		exists[t] = found
	}
	for i, a := range assocs {
		for _, t := range sortedKeys(a) {
			var lost []string
			for _, x := range a[t].Results {
				if _, ok := exists[t][x.ID]; !ok {
					lost = append(lost, x.ID)
				}
			}
			if len(lost) > 0 {
				sort.Strings(lost)
				add(DriftDangling, recs[i], fmt.Sprintf("associated %s %v no longer exist", t, lost))
			}
		}
	}
	return nil
}
