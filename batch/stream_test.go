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
