package batch

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

func TestVerifyFindsEveryKindOfDrift(t *testing.T) {
	ctx := context.Background()
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	led := imported(t, env, 20)

	rep, err := Verify(ctx, VerifyOptions{Ledger: led, API: env.client})
	if err != nil || rep.OK != 20 || len(rep.Drift) != 0 {
		t.Fatalf("verify right after the import: %v %+v", err, rep)
	}

	comms := env.srv.Objects("communications", false)
	if err := env.client.BatchArchive(ctx, crm.Communications, []string{comms[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.Update(ctx, crm.Communications, comms[1].ID, map[string]string{"hs_communication_body": "edited by hand"}); err != nil {
		t.Fatal(err)
	}
	company := env.srv.Objects("companies", false)[0].ID
	if err := env.client.Associate(ctx, crm.Communications, comms[2].ID, crm.Companies, company, "87"); err != nil {
		t.Fatal(err)
	}
	if err := env.client.Archive(ctx, crm.Companies, company); err != nil {
		t.Fatal(err)
	}
	l, _, err := OpenLedger(led, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Append(LedgerRow{RunID: "x", Key: "never-existed", Operation: OpCreate, State: StateCreated, HubSpotID: "987654321"})
	l.Close()

	for _, chunk := range []int{0, 3} { // one chunk; a chunk of 3 records at a time
		rep, err = Verify(ctx, VerifyOptions{Ledger: led, API: env.client, chunkSize: chunk})
		if !errors.Is(err, ErrDrift) || !errors.Is(err, ErrRowsFailed) {
			t.Fatalf("chunk %d: verify with drift: err = %v", chunk, err)
		}
		got := map[string]string{}
		for _, d := range rep.Drift {
			got[d.ID] = d.Kind
		}
		want := map[string]string{comms[0].ID: DriftArchived, comms[1].ID: DriftChanged, comms[2].ID: DriftDangling, "987654321": DriftMissing}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("chunk %d: drift (-want +got):\n%s", chunk, d)
		}
		if rep.Checked != 21 || rep.OK != 17 {
			t.Errorf("chunk %d: checked %d ok %d, want 21 and 17", chunk, rep.Checked, rep.OK)
		}
	}

	// Without the association check the dangling record passes.
	rep, _ = Verify(ctx, VerifyOptions{Ledger: led, API: env.client, SkipAssociations: true})
	if rep.Counts[DriftDangling] != 0 || rep.OK != 18 {
		t.Errorf("--skip-associations: %+v", rep.Counts)
	}
}

func TestLedgerCreatedReadsLegacyLedgers(t *testing.T) {
	path := t.TempDir() + "/old.csv"
	content := legacyLedgerHeader + "\n" +
		"2025-01-01T00:00:00Z,r1,a.csv,2,k1,create,sent,,0,,,1,1\n" +
		"2025-01-01T00:00:01Z,r1,a.csv,2,k1,create,created,11,0,,,1,1\n" +
		"2025-01-01T00:00:01Z,r1,a.csv,3,k2,create,failed,,207,VALIDATION_ERROR,x,1,1\n"
	if err := writeFile(path, content); err != nil {
		t.Fatal(err)
	}
	// This version appends rows with the new column to the old ledger.
	l, _, err := OpenLedger(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	l.Append(LedgerRow{RunID: "r2", SourceFile: "a.csv", SourceLine: 3, Key: "k2", Operation: OpCreate, State: StateCreated, HubSpotID: "12", BodySHA256: BodyHash("hi")})
	l.Close()
	got, err := LedgerCreated(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []CreatedRecord{{Key: "k1", ID: "11", File: "a.csv", Line: 2}, {Key: "k2", ID: "12", BodySHA256: BodyHash("hi"), File: "a.csv", Line: 3}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if ledgerHeader != legacyLedgerHeader+",body_sha256" {
		t.Errorf("ledger header = %q: columns may only be appended", ledgerHeader)
	}
	if BodyHash("hi") != "8f434346648f6b96" {
		t.Errorf("BodyHash(hi) = %s", BodyHash("hi"))
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
