package batch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

// streamOutcome is what a run did, in terms that do not depend on the
// sandbox's record ids or on how many batches it took.
type streamOutcome struct {
	Sums   []Summary
	Ledger map[int]string // source line → last state/category
	Plan   string
	Effect map[string]string
}

// comparable clears what differs between equal runs: ids, paths, timing,
// request and batch counts.
func comparable(s *Summary) Summary {
	c := *s
	c.RunID, c.Ledger, c.ElapsedSeconds, c.RecordsPerSecond = "", "", 0, 0
	c.Batches, c.Requests, c.RateLimited, c.Retries = 0, 0, 0, 0
	return c
}

func ledgerStates(t *testing.T, path string) map[int]string {
	t.Helper()
	out := map[int]string{}
	if err := ReadLedger(path, func(r LedgerRow) error {
		out[r.SourceLine] = r.State + "/" + r.Category
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// anonymize replaces record ids by their index in ids.
func anonymize(s string, ids []string) string {
	for i, id := range ids {
		s = strings.ReplaceAll(s, id, fmt.Sprintf("<rec%d>", i))
	}
	return s
}

// sameInChunks runs run with one big chunk and with chunks of 3 rows and
// wants the same outcome.
func sameInChunks(t *testing.T, run func(t *testing.T, chunkRows int) streamOutcome) {
	t.Helper()
	want := run(t, 0)
	got := run(t, 3)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("chunks of 3 rows differ from one chunk (-one +chunked):\n%s", d)
	}
}

func TestUpdateStreamsInChunks(t *testing.T) {
	ctx := context.Background()
	sameInChunks(t, func(t *testing.T, chunkRows int) streamOutcome {
		env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
		led := imported(t, env, 8)
		recs, _ := LedgerCreated(led)
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString("id,key,hs_communication_body\n")
		for i, r := range recs[:6] {
			if i == 3 {
				b.WriteString(",no-such-key,x\n")
			}
			if i%2 == 0 {
				fmt.Fprintf(&b, "%s,,new %d\n", r.ID, i)
			} else {
				fmt.Fprintf(&b, ",%s,new %d\n", r.Key, i)
			}
		}
		in := filepath.Join(dir, "changes.csv")
		os.WriteFile(in, []byte(b.String()), 0o644)
		var plan bytes.Buffer
		o := UpdateOptions{Input: in, API: env.client, ImportLedger: led, PlanOut: &plan, RunOptions: runOpts(dir, "update.csv")}
		o.chunkRows = chunkRows
		var out streamOutcome
		for _, p := range []bool{true, false, false} {
			o.Plan = p
			sum, err := Update(ctx, o)
			if sum == nil {
				t.Fatalf("update: %v", err)
			}
			out.Sums = append(out.Sums, comparable(sum))
		}
		out.Ledger = ledgerStates(t, o.Ledger)
		out.Plan = anonymize(plan.String(), ids)
		out.Effect = map[string]string{}
		for _, r := range env.srv.Objects("communications", false) {
			out.Effect[anonymize(r.ID, ids)] = r.Properties["hs_communication_body"]
		}
		return out
	})
}

func TestAssociateStreamsInChunks(t *testing.T) {
	ctx := context.Background()
	sameInChunks(t, func(t *testing.T, chunkRows int) streamOutcome {
		env := newSandboxEnv(t, sandbox.Options{Contacts: 2})
		led := imported(t, env, 6)
		recs, _ := LedgerCreated(led)
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		company := env.srv.Objects("companies", false)[0].ID
		deal := env.srv.Objects("deals", false)[0].ID
		dir := t.TempDir()
		in := filepath.Join(dir, "pairs.csv")
		os.WriteFile(in, []byte("communication,object_type,object_id,association_type\n"+
			recs[0].ID+",companies,"+company+",87\n"+
			recs[1].Key+",company,"+company+",communication_to_company\n"+
			recs[2].ID+",planets,1,\n"+
			"no-such-key,deals,"+deal+",\n"+
			recs[3].ID+",deals,"+deal+",\n"+
			recs[4].Key+",deals,"+deal+",\n"+
			recs[5].ID+",companies,"+company+",\n"), 0o644)
		o := AssociateOptions{Input: in, ImportLedger: led, API: env.client, RunOptions: runOpts(dir, "assoc.csv")}
		o.chunkRows = chunkRows
		var out streamOutcome
		for _, p := range []bool{true, false, false} {
			o.Plan = p
			sum, err := Associate(ctx, o)
			if sum == nil {
				t.Fatalf("associate: %v", err)
			}
			out.Sums = append(out.Sums, comparable(sum))
		}
		out.Ledger = ledgerStates(t, o.Ledger)
		out.Effect = map[string]string{}
		for i, r := range recs {
			out.Effect[fmt.Sprint(i)] = fmt.Sprint(len(assocOf(env, r.ID, "companies")), len(assocOf(env, r.ID, "deals")))
		}
		return out
	})
}

func TestPinStreamsInChunks(t *testing.T) {
	ctx := context.Background()
	sameInChunks(t, func(t *testing.T, chunkRows int) streamOutcome {
		env := newSandboxEnv(t, sandbox.Options{Contacts: 3})
		led := imported(t, env, 5)
		recs, _ := LedgerCreated(led)
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		cs := env.srv.Objects("contacts", false)
		a, b, c := cs[0].ID, cs[1].ID, cs[2].ID
		dir := t.TempDir()
		in := filepath.Join(dir, "pins.csv")
		// With chunks of 3 rows, a's and b's first rows are superseded by
		// rows in later chunks: the last row for a record still wins.
		os.WriteFile(in, []byte("object_type,object_id,communication\n"+
			"contacts,"+a+","+recs[0].ID+"\n"+
			"contacts,"+b+","+recs[1].Key+"\n"+
			"planets,1,"+recs[2].ID+"\n"+
			"contacts,"+a+","+recs[2].ID+"\n"+
			"contacts,"+b+",no-such-key\n"+
			"contacts,"+c+","+recs[3].ID+"\n"+
			"contacts,"+b+","+recs[4].Key+"\n"), 0o644)
		o := PinOptions{Input: in, ImportLedger: led, API: env.client, AssociateFirst: true, RunOptions: runOpts(dir, "pin.csv")}
		o.chunkRows = chunkRows
		var out streamOutcome
		for _, p := range []bool{true, false, false} {
			o.Plan = p
			sum, err := Pin(ctx, o)
			if sum == nil {
				t.Fatalf("pin: %v", err)
			}
			out.Sums = append(out.Sums, comparable(sum))
		}
		out.Ledger = ledgerStates(t, o.Ledger)
		out.Effect = map[string]string{}
		for i, id := range []string{a, b, c} {
			for _, r := range env.srv.Objects("contacts", false) {
				if r.ID == id {
					out.Effect[fmt.Sprint(i)] = anonymize(r.Properties[crm.PinnedEngagementProperty], ids)
				}
			}
		}
		if want := map[string]string{"0": "<rec2>", "1": "<rec4>", "2": "<rec3>"}; !cmp.Equal(out.Effect, want) {
			t.Errorf("pinned %v, want %v", out.Effect, want)
		}
		return out
	})
}

func TestArchiveStreamsInChunks(t *testing.T) {
	ctx := context.Background()
	sameInChunks(t, func(t *testing.T, chunkRows int) streamOutcome {
		env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
		led := imported(t, env, 8)
		recs, _ := LedgerCreated(led)
		foreign, err := env.client.Create(ctx, crm.Communications, crm.CreateInput{Properties: map[string]string{
			"hs_communication_channel_type": "SMS", "hs_communication_logged_from": "CRM",
			"hs_communication_body": "not ours", "hs_timestamp": "2024-05-01T10:00:00Z"}})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{foreign.ID}
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		dir := t.TempDir()
		in := filepath.Join(dir, "ids.txt")
		// Duplicates (a record named twice, far apart), a record that does
		// not exist, and one that commlog did not create.
		os.WriteFile(in, []byte("id\n"+recs[0].ID+"\n"+recs[1].ID+"\n"+recs[1].ID+"\n999999999\n"+foreign.ID+"\n"+
			recs[2].ID+"\n"+recs[3].ID+"\n"+recs[4].ID+"\n"+recs[5].ID+"\n"+recs[0].ID+"\n"), 0o644)
		var plan bytes.Buffer
		o := ArchiveOptions{IDsFile: in, API: env.client, PlanOut: &plan, Yes: true, RunOptions: runOpts(dir, "archive.csv")}
		o.chunkRows = chunkRows
		var out streamOutcome
		run := func(o ArchiveOptions) {
			sum, err := Archive(ctx, o)
			out.Plan += anonymize(fmt.Sprint(err), ids) + "\n"
			if sum == nil {
				t.Fatalf("archive: %v", err)
			}
			c := comparable(sum)
			for i, w := range c.Warnings {
				c.Warnings[i] = strings.Replace(w, dir, "<dir>", 1)
			}
			out.Sums = append(out.Sums, c)
		}
		refused := o
		refused.MaxDelete = 6
		run(refused) // 7 targets, more than 6
		run(o)       // one is foreign
		o.IncludeForeign = true
		o.Plan = true
		run(o)
		o.Plan = false
		o.Snapshot = filepath.Join(dir, "snap.jsonl")
		run(o)
		o.Snapshot = filepath.Join(dir, "snap2.jsonl")
		run(o) // all done
		out.Plan += anonymize(plan.String(), ids)
		for _, want := range []string{"8 communications to archive, more than --max-delete 6", "1 of 7 targets were not created by commlog (no commlog_key), e.g. <rec0>"} {
			if !strings.Contains(out.Plan, want) {
				t.Errorf("no %q in\n%s", want, out.Plan)
			}
		}
		out.Ledger = ledgerStates(t, o.Ledger)
		snapped := snapshotIDs(t, filepath.Join(dir, "snap.jsonl"))
		out.Effect = map[string]string{"snapshot": anonymize(strings.Join(snapped, " "), ids)}
		for _, r := range env.srv.Objects("communications", false) {
			out.Effect[anonymize(r.ID, ids)] = "live"
		}
		return out
	})
}

func TestRestoreStreamsInChunks(t *testing.T) {
	ctx := context.Background()
	sameInChunks(t, func(t *testing.T, chunkRows int) streamOutcome {
		env := newSandboxEnv(t, sandbox.Options{Contacts: 2})
		led := imported(t, env, 8)
		dir := t.TempDir()
		snap := filepath.Join(dir, "snap.jsonl")
		if _, err := Archive(ctx, ArchiveOptions{FromLedger: led, Yes: true, Snapshot: snap, API: env.client,
			RunOptions: runOpts(dir, "archive.csv")}); err != nil {
			t.Fatal(err)
		}
		o := RestoreOptions{Snapshot: snap, API: env.client, RunOptions: runOpts(dir, "restore.csv")}
		o.chunkRows = chunkRows
		var out streamOutcome
		for _, p := range []bool{true, false, false} {
			o.Plan = p
			sum, err := Restore(ctx, o)
			if sum == nil {
				t.Fatalf("restore: %v", err)
			}
			out.Sums = append(out.Sums, comparable(sum))
		}
		out.Ledger = ledgerStates(t, o.Ledger)
		out.Effect = map[string]string{}
		for _, r := range env.srv.Objects("communications", false) {
			out.Effect[r.Properties[KeyProperty]] = fmt.Sprint(restorable(r))
		}
		if len(out.Effect) != 8 {
			t.Errorf("%d records restored, want 8", len(out.Effect))
		}
		return out
	})
}
