package batch

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

// imported runs an import of n chats against env and returns its ledger.
func imported(t *testing.T, env *sandboxEnv, n int) string {
	t.Helper()
	dir := t.TempDir()
	in := writeChats(t, dir, "chats.csv", genChats(n, env.contactID(t)))
	opts := baseOptions(t, env.client, mustMapping(t, chatMapping), in)
	if _, err := Import(context.Background(), opts); err != nil {
		t.Fatalf("Import: %v", err)
	}
	return opts.Ledger
}

func runOpts(dir, name string) RunOptions {
	return RunOptions{Ledger: filepath.Join(dir, name), Workers: 2, SampleEvery: 50 * time.Millisecond}
}

func liveComms(env *sandboxEnv) int { return len(env.srv.Objects("communications", false)) }

func snapshotIDs(t *testing.T, path string) []string {
	t.Helper()
	var ids []string
	if err := ReadSnapshot(path, func(_ int, r SnapshotRecord) error { ids = append(ids, r.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

func TestArchiveRefusals(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 2})
	led := imported(t, env, 12)
	foreign, err := env.client.Create(context.Background(), crm.Communications, crm.CreateInput{Properties: map[string]string{
		"hs_communication_channel_type": "SMS", "hs_communication_logged_from": "CRM",
		"hs_communication_body": "not ours", "hs_timestamp": "2024-05-01T10:00:00Z"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	idsFile := filepath.Join(dir, "ids.txt")
	ours := env.srv.Objects("communications", false)[0].ID
	os.WriteFile(idsFile, []byte("id\n"+ours+"\n"+foreign.ID+"\n"), 0o644)
	no := func(context.Context, int) (bool, error) { return false, nil }

	tests := []struct {
		name    string
		o       ArchiveOptions
		wantMsg string
	}{
		{"over --max-delete", ArchiveOptions{FromLedger: led, MaxDelete: 5, Yes: true}, "more than --max-delete 5"},
		{"no confirmation and no --yes", ArchiveOptions{FromLedger: led}, "needs a confirmation"},
		{"confirmation declined", ArchiveOptions{FromLedger: led, Confirm: no}, "was not confirmed"},
		{"foreign record", ArchiveOptions{IDsFile: idsFile, Yes: true}, "1 of 2 targets were not created by commlog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.API = env.client
			o.RunOptions = runOpts(t.TempDir(), "archive.csv")
			_, err := Archive(context.Background(), o)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want ErrRefused with %q", err, tt.wantMsg)
			}
			if n := liveComms(env); n != 13 {
				t.Errorf("%d live communications after a refusal, want 13", n)
			}
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(o.Ledger), "*")); len(m) != 0 {
				t.Errorf("a refused run wrote %v", m)
			}
		})
	}

	// --include-foreign lets the foreign record through.
	o := ArchiveOptions{IDsFile: idsFile, Yes: true, IncludeForeign: true, API: env.client, RunOptions: runOpts(dir, "archive.csv")}
	sum, err := Archive(context.Background(), o)
	if err != nil || sum.Done != 2 {
		t.Fatalf("with --include-foreign: %v, done %+v", err, sum)
	}
	if n := liveComms(env); n != 11 {
		t.Errorf("%d live communications, want 11", n)
	}
}

func TestArchiveWhereAndPlan(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	imported(t, env, 30) // timestamps one minute apart from 2024-05-01T00:00Z
	dir := t.TempDir()
	var out bytes.Buffer
	o := ArchiveOptions{Where: []string{"channel=whats_app", "after=2024-05-01T00:10:00Z", "before=1714522800000"},
		PlanOut: &out, API: env.client}
	o.RunOptions = runOpts(dir, "archive.csv")
	o.Plan = true
	sum, err := Archive(context.Background(), o)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if sum.Planned != 10 || strings.Count(out.String(), "\n") != 11 {
		t.Errorf("plan: %d planned, listing:\n%s", sum.Planned, out.String())
	}
	if n := liveComms(env); n != 30 {
		t.Errorf("plan archived something: %d live", n)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("plan wrote %v", m)
	}
	o.Plan, o.Yes = false, true
	if sum, err = Archive(context.Background(), o); err != nil || sum.Done != 10 {
		t.Fatalf("archive --where: %v %+v", err, sum)
	}
	if n := liveComms(env); n != 20 {
		t.Errorf("%d live after archiving 10 of 30", n)
	}
}

func TestParseWhere(t *testing.T) {
	tests := []struct {
		in      []string
		want    []crm.Filter
		wantErr string
	}{
		{[]string{"channel=sms", "owner=7"}, []crm.Filter{
			{PropertyName: "hs_communication_channel_type", Operator: "EQ", Value: "SMS"},
			{PropertyName: "hubspot_owner_id", Operator: "EQ", Value: "7"}}, ""},
		{[]string{"after=2024-05-01", "before=1714600000000", "x!=y"}, []crm.Filter{
			{PropertyName: "hs_timestamp", Operator: "GTE", Value: "1714521600000"},
			{PropertyName: "hs_timestamp", Operator: "LT", Value: "1714600000000"},
			{PropertyName: "x", Operator: "NEQ", Value: "y"}}, ""},
		{[]string{"nonsense"}, nil, "want name=value"},
		{[]string{"after=yesterday"}, nil, "is not a time"},
		{[]string{"after>=2024-05-01"}, nil, "write after=TIME"},
	}
	for _, tt := range tests {
		got, err := ParseWhere(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseWhere(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseWhere(%q): %v", tt.in, err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("ParseWhere(%q) (-want +got):\n%s", tt.in, d)
		}
	}
}

// failingArchive is the sandbox client, except that every archive request
// first checks that the snapshot is complete on disk, then fails as a
// dropped connection would.
type failingArchive struct {
	*crm.Client
	t        *testing.T
	snapshot string
	want     int
	calls    atomic.Int64
}

func (f *failingArchive) BatchArchive(ctx context.Context, objectType string, ids []string) error {
	f.calls.Add(1)
	if got := len(snapshotIDs(f.t, f.snapshot)); got != f.want {
		f.t.Errorf("archive request sent with %d of %d records in the snapshot", got, f.want)
	}
	return &crm.InDoubtError{Method: "POST", Path: "/crm/v3/objects/communications/batch/archive", Err: errors.New("connection reset")}
}

func TestArchiveSnapshotIsCompleteBeforeTheFirstArchive(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	led := imported(t, env, 150)
	dir := t.TempDir()
	snap := filepath.Join(dir, "snap.jsonl")
	api := &failingArchive{Client: env.client, t: t, snapshot: snap, want: 150}
	o := ArchiveOptions{FromLedger: led, Yes: true, Snapshot: snap, API: api, RunOptions: runOpts(dir, "archive.csv")}
	_, err := Archive(context.Background(), o)
	if !errors.Is(err, ErrInDoubt) {
		t.Fatalf("archive with failing requests: %v, want ErrInDoubt", err)
	}
	if api.calls.Load() == 0 {
		t.Fatal("no archive request was made: the test proves nothing")
	}
	if n := liveComms(env); n != 150 {
		t.Errorf("%d live", n)
	}
	// The run resumes: the in-doubt batches are archived, with a new snapshot.
	o.API, o.Snapshot = env.client, filepath.Join(dir, "snap2.jsonl")
	sum, err := Archive(context.Background(), o)
	if err != nil || sum.Done != 150 {
		t.Fatalf("resumed archive: %v %+v", err, sum)
	}
	if n := liveComms(env); n != 0 {
		t.Errorf("%d live after the resumed archive", n)
	}
	// A third run finds everything done.
	o.Snapshot = filepath.Join(dir, "snap3.jsonl")
	sum, err = Archive(context.Background(), o)
	if err != nil || sum.AlreadyDone != 150 || sum.Done != 0 {
		t.Fatalf("third archive: %v %+v", err, sum)
	}
}

// comparable returns what a restore must reproduce of a record: its
// writable properties and its associations.
func restorable(r sandbox.Record) map[string]any {
	props := map[string]string{}
	for k, v := range r.Properties {
		switch k {
		case "hs_object_id", "hs_createdate", "hs_lastmodifieddate", "createdate", "lastmodifieddate":
			continue
		}
		props[k] = v
	}
	return map[string]any{"props": props, "assoc": r.Associations}
}

func TestArchiveRestoreRoundTrip(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 3, SearchLag: 20 * time.Millisecond})
	led := imported(t, env, 120)
	company := env.srv.Objects("companies", false)[0].ID
	first := env.srv.Objects("communications", false)[0].ID
	if err := env.client.Associate(context.Background(), crm.Communications, first, crm.Companies, company, "87"); err != nil {
		t.Fatal(err)
	}
	before := map[string]map[string]any{}
	for _, r := range env.srv.Objects("communications", false) {
		before[r.Properties[KeyProperty]] = restorable(r)
	}

	dir := t.TempDir()
	snap := filepath.Join(dir, "snap.jsonl")
	sum, err := Archive(context.Background(), ArchiveOptions{FromLedger: led, Yes: true, Snapshot: snap, API: env.client,
		RunOptions: runOpts(dir, "archive.csv")})
	if err != nil || sum.Done != 120 {
		t.Fatalf("archive: %v %+v", err, sum)
	}
	if n := liveComms(env); n != 0 {
		t.Fatalf("%d live after archive", n)
	}

	ro := RestoreOptions{Snapshot: snap, API: env.client, SearchSettle: 100 * time.Millisecond, RunOptions: runOpts(dir, "restore.csv")}
	sum, err = Restore(context.Background(), ro)
	if err != nil || sum.Created != 120 {
		t.Fatalf("restore: %v %+v", err, sum)
	}
	after := map[string]map[string]any{}
	newIDs := map[string]bool{}
	for _, r := range env.srv.Objects("communications", false) {
		after[r.Properties[KeyProperty]] = restorable(r)
		newIDs[r.ID] = true
	}
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("restored records differ (-before +after):\n%s", d)
	}
	// The ledger maps every old id to its new one.
	olds := 0
	ReadLedger(ro.Ledger, func(r LedgerRow) error {
		if r.State == StateCreated {
			old := strings.TrimPrefix(r.Message, "restored from ")
			if old == r.Message || !newIDs[r.HubSpotID] || newIDs[old] {
				t.Errorf("ledger row %+v does not map an old id to a new one", r)
			}
			olds++
		}
		return nil
	})
	if olds != 120 {
		t.Errorf("%d old → new rows in the restore ledger, want 120", olds)
	}

	// Twice creates nothing twice.
	sum, err = Restore(context.Background(), ro)
	if err != nil || sum.Created != 0 || sum.AlreadyDone != 120 {
		t.Fatalf("second restore: %v %+v", err, sum)
	}
	if n := liveComms(env); n != 120 {
		t.Errorf("%d live after restoring twice, want 120", n)
	}
}

func TestRestoreReconcilesInDoubtCreates(t *testing.T) {
	faults, _ := sandbox.ParseFaults("drop=0.4")
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1, SearchLag: 30 * time.Millisecond, Seed: 3})
	led := imported(t, env, 200)
	dir := t.TempDir()
	snap := filepath.Join(dir, "snap.jsonl")
	if _, err := Archive(context.Background(), ArchiveOptions{FromLedger: led, Yes: true, Snapshot: snap, API: env.client,
		RunOptions: runOpts(dir, "archive.csv")}); err != nil {
		t.Fatal(err)
	}
	env.srv.SetFaults(faults)
	ro := RestoreOptions{Snapshot: snap, API: env.client, SearchSettle: 100 * time.Millisecond, RunOptions: runOpts(dir, "restore.csv")}
	ro.BatchSize = 20
	var err error
	for i := 0; i < 8; i++ {
		if _, err = Restore(context.Background(), ro); err == nil {
			break
		}
		if !errors.Is(err, ErrInDoubt) {
			t.Fatalf("restore: %v", err)
		}
	}
	if err != nil {
		t.Fatalf("still in doubt: %v", err)
	}
	if env.srv.Stats().FaultsInjected == 0 {
		t.Fatal("no fault injected: the test proves nothing")
	}
	if got := env.comms(t); len(got) != 200 {
		t.Errorf("%d live after restoring through dropped answers, want exactly 200", len(got))
	}
}

func TestReadIDsFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ids.csv")
	os.WriteFile(p, []byte("hs_object_id,other\n12,x\n\n# comment\n\"34\"\n"), 0o644)
	var got []lineID
	collect := func(id lineID) error { got = append(got, id); return nil }
	if err := eachID(p, collect); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]lineID{{"12", 2}, {"34", 5}}, got, cmp.AllowUnexported(lineID{})); d != "" {
		t.Error(d)
	}
	os.WriteFile(p, []byte("12\nabc\n"), 0o644)
	if err := eachID(p, collect); err == nil || !strings.Contains(err.Error(), "ids.csv:2") {
		t.Errorf("bad id: %v", err)
	}
}

func TestArchiveSnapshotIsWholeOrAbsent(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	led := imported(t, env, 5)
	dir := t.TempDir()
	snap := filepath.Join(dir, "snap.jsonl")
	os.WriteFile(snap, []byte("an older snapshot\n"), 0o600)
	// A .partial file left by a run killed while writing is overwritten.
	os.WriteFile(snap+".2.partial", []byte("half a line"), 0o600)
	o := ArchiveOptions{FromLedger: led, Yes: true, Snapshot: snap, API: env.client, RunOptions: runOpts(dir, "archive.csv")}
	if _, err := Archive(context.Background(), o); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("archive onto an existing snapshot: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(snap); string(b) != "an older snapshot\n" {
		t.Errorf("the existing snapshot was changed: %q", b)
	}
	if n := liveComms(env); n != 5 {
		t.Fatalf("%d live after the refusal, want 5", n)
	}
	o.Snapshot = snap + ".2"
	if sum, err := Archive(context.Background(), o); err != nil || sum.Done != 5 {
		t.Fatalf("archive: %v %+v", err, sum)
	}
	if got := snapshotIDs(t, o.Snapshot); len(got) != 5 {
		t.Errorf("snapshot holds %d records, want 5", len(got))
	}
	if _, err := os.Stat(o.Snapshot + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the .partial file is still there: %v", err)
	}
}

// TestArchiveStopsListingPastMaxDelete: a source naming far more targets
// than --max-delete is refused once a chunk takes the count past it, not
// after listing everything.
func TestArchiveStopsListingPastMaxDelete(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	led := imported(t, env, 20)
	dir := t.TempDir()
	o := ArchiveOptions{FromLedger: led, Yes: true, MaxDelete: 5, API: env.client, RunOptions: runOpts(dir, "archive.csv")}
	o.chunkRows = 4
	sum, err := Archive(context.Background(), o)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "at least 8 communications to archive (listing stopped there), more than --max-delete 5") {
		t.Fatalf("err = %v, want a refusal after two chunks of 4", err)
	}
	if sum.Rows != 8 {
		t.Errorf("%d targets listed, want 8 (two chunks)", sum.Rows)
	}
	// When no full chunk passes the limit, the list is read to the end and
	// the count is exact.
	o.MaxDelete, o.chunkRows = 19, 6
	if _, err := Archive(context.Background(), o); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "20 communications to archive, more than --max-delete 19") {
		t.Fatalf("err = %v, want a refusal naming all 20", err)
	}
	if n := liveComms(env); n != 20 {
		t.Errorf("%d live after refusals, want 20", n)
	}
}
