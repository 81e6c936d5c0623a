package batch

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
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
	"github.com/commlog/commlog/mapping"
)

// chatMapping maps the CSV that writeChats produces.
const chatMapping = `version: 1
source:
  format: csv
communication:
  channel: { column: channel, map: { wa: WHATS_APP, sms: SMS } }
  timestamp: { column: sent_at, layout: epoch_ms }
  body: { template: "{{ .text }}" }
key: [msg_id]
skip: { column: kind, in: [system] }
associations:
  - to: contacts
    by: id
    column: contact
`

// chatRow is one line of a test chat export.
type chatRow struct {
	id, channel, text, contact, kind string
}

func writeChats(t *testing.T, dir, name string, rows []chatRow) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("msg_id,channel,sent_at,text,contact,kind\n")
	for i, r := range rows {
		kind := r.kind
		if kind == "" {
			kind = "message"
		}
		fmt.Fprintf(&b, "%s,%s,%d,%s,%s,%s\n", r.id, r.channel, 1714521600000+int64(i)*60000, r.text, r.contact, kind)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func genChats(n int, contact string) []chatRow {
	rows := make([]chatRow, n)
	for i := range rows {
		rows[i] = chatRow{id: fmt.Sprintf("m%05d", i), channel: "wa", text: fmt.Sprintf("message %d", i), contact: contact}
	}
	return rows
}

func mustMapping(t *testing.T, src string) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Parse([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("mapping: %v", err)
	}
	return m
}

// sandboxEnv is a sandbox behind httptest and a client for it.
type sandboxEnv struct {
	srv    *sandbox.Server
	client *crm.Client
	url    string
}

func newSandboxEnv(t *testing.T, o sandbox.Options) *sandboxEnv {
	t.Helper()
	o.Token = "test-token"
	srv, err := sandbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	c, err := crm.New(crm.Options{BaseURL: ts.URL, Token: "test-token", Burst: 1000, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &sandboxEnv{srv: srv, client: c, url: ts.URL}
}

// contactID returns the id of one of the sandbox's seeded contacts.
func (e *sandboxEnv) contactID(t *testing.T) string {
	t.Helper()
	cs := e.srv.Objects("contacts", false)
	if len(cs) == 0 {
		t.Fatal("sandbox has no contacts")
	}
	return cs[0].ID
}

// comms returns the commlog_key of every live communication, sorted, and
// fails the test if any key is carried twice.
func (e *sandboxEnv) comms(t *testing.T) []string {
	t.Helper()
	var keys []string
	seen := map[string]string{}
	for _, r := range e.srv.Objects("communications", false) {
		k := r.Properties[KeyProperty]
		if other, dup := seen[k]; dup {
			t.Errorf("duplicate: records %s and %s both carry key %s", other, r.ID, k)
		}
		seen[k] = r.ID
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func baseOptions(t *testing.T, api API, m *mapping.Mapping, inputs ...string) ImportOptions {
	return ImportOptions{
		Mapping: m, Inputs: inputs, API: api,
		RunOptions: RunOptions{
			Ledger:      filepath.Join(filepath.Dir(inputs[0]), "ledger.csv"),
			Workers:     4,
			SampleEvery: 50 * time.Millisecond,
		},
		SearchSettle: 300 * time.Millisecond,
	}
}

// lastStates reads a ledger into key → last state (keyless rows by file:line).
func lastStates(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := ReadLedger(path, func(r LedgerRow) error {
		k := r.Key
		if k == "" {
			k = fmt.Sprintf("%s:%d", filepath.Base(r.SourceFile), r.SourceLine)
		}
		out[k] = r.State
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func countStates(states map[string]string) map[string]int {
	out := map[string]int{}
	for _, s := range states {
		out[s]++
	}
	return out
}

// forKeyMemory runs a test with the key index in memory and with the key
// index spilling to disk every few keys, so that both paths carry the
// exactly-once guarantees.
func forKeyMemory(t *testing.T, test func(t *testing.T, mem int)) {
	for _, mem := range []int{0, 7} {
		name := "in-memory"
		if mem > 0 {
			name = fmt.Sprintf("spilling-every-%d-keys", mem)
		}
		t.Run(name, func(t *testing.T) { test(t, mem) })
	}
}

func TestImportCreatesEveryRowOnceAndResumes(t *testing.T) {
	forKeyMemory(t, func(t *testing.T, mem int) {
		env := newSandboxEnv(t, sandbox.Options{Contacts: 3, SearchLag: 50 * time.Millisecond})
		dir := t.TempDir()
		rows := genChats(250, env.contactID(t))
		rows = append(rows,
			chatRow{id: "sys1", channel: "wa", text: "joined", contact: env.contactID(t), kind: "system"},
			chatRow{id: "m00007", channel: "wa", text: "message 7 again", contact: env.contactID(t)}, // duplicate key
			chatRow{id: "bad1", channel: "fax", text: "x", contact: env.contactID(t)},                // invalid channel
			chatRow{id: "orphan", channel: "sms", text: "y", contact: "999999999"},                   // association target missing
		)
		in := writeChats(t, dir, "chats.csv", rows)
		m := mustMapping(t, chatMapping)
		opts := baseOptions(t, env.client, m, in)
		opts.keyMemory = mem

		sum, err := Import(context.Background(), opts)
		if !errors.Is(err, ErrRowsFailed) {
			t.Fatalf("Import: err = %v, want ErrRowsFailed (one invalid, one failed)", err)
		}
		want := Summary{Rows: 254, Created: 250, Skipped: 1, Duplicates: 1, Invalid: 1, Failed: 1}
		got := Summary{Rows: sum.Rows, Created: sum.Created, Skipped: sum.Skipped, Duplicates: sum.Duplicates,
			Invalid: sum.Invalid, Failed: sum.Failed}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("summary (-want +got):\n%s", d)
		}
		if n := len(env.comms(t)); n != 250 {
			t.Errorf("sandbox holds %d communications, want 250", n)
		}
		states := countStates(lastStates(t, opts.Ledger))
		if d := cmp.Diff(map[string]int{StateCreated: 250, StateSkipped: 2, StateInvalid: 1, StateFailed: 1}, states); d != "" {
			t.Errorf("ledger states (-want +got):\n%s", d)
		}

		// The same command again creates nothing and says why.
		sum, err = Import(context.Background(), opts)
		if !errors.Is(err, ErrRowsFailed) {
			t.Fatalf("second Import: %v", err)
		}
		if sum.Created != 0 || sum.AlreadyDone != 250 || sum.PreviouslyFailed != 1 {
			t.Errorf("second run: created %d, already done %d, previously failed %d; want 0, 250, 1",
				sum.Created, sum.AlreadyDone, sum.PreviouslyFailed)
		}
		if n := len(env.comms(t)); n != 250 {
			t.Errorf("after the second run the sandbox holds %d communications, want 250", n)
		}
		if _, err := os.Stat(RunLogPath(opts.Ledger)); err != nil {
			t.Errorf("run log: %v", err)
		}
	})
}

func TestImportBisectsARejectedBatch(t *testing.T) {
	api := newMemAPI("poison")
	dir := t.TempDir()
	rows := genChats(40, "101")
	rows[13].text = "poison"
	rows[31].text = "poison"
	in := writeChats(t, dir, "chats.csv", rows)
	m := mustMapping(t, strings.Replace(chatMapping, "    by: id\n", "    by: id\n", 1))
	opts := baseOptions(t, api, m, in)
	opts.Workers = 1
	opts.BatchSize = 20
	sum, err := Import(context.Background(), opts)
	if !errors.Is(err, ErrRowsFailed) {
		t.Fatalf("Import: %v", err)
	}
	if sum.Created != 38 || sum.Failed != 2 {
		t.Errorf("created %d failed %d, want 38 and 2", sum.Created, sum.Failed)
	}
	states := lastStates(t, opts.Ledger)
	for _, i := range []int{13, 31} {
		k := lastKeyFor(t, opts.Ledger, i+2)
		if states[k] != StateFailed {
			t.Errorf("row %d: state %q, want failed", i+2, states[k])
		}
	}
	// Halving finds each poison row in log2(20) ≈ 5 steps; a linear scan would need far more requests.
	if n := len(api.batches); n > 2+2*2*5 {
		t.Errorf("%d batch requests to isolate 2 bad rows in 2 batches of 20", n)
	}
}

// lastKeyFor returns the key the ledger recorded for a source line.
func lastKeyFor(t *testing.T, ledger string, line int) string {
	t.Helper()
	key := ""
	ReadLedger(ledger, func(r LedgerRow) error {
		if r.SourceLine == line {
			key = r.Key
		}
		return nil
	})
	return key
}

func TestImportReconcilesCommitThenDrop(t *testing.T) {
	forKeyMemory(t, func(t *testing.T, mem int) {
		faults, err := sandbox.ParseFaults("drop=0.3")
		if err != nil {
			t.Fatal(err)
		}
		env := newSandboxEnv(t, sandbox.Options{Contacts: 1, SearchLag: 100 * time.Millisecond, Faults: faults, Seed: 7})
		dir := t.TempDir()
		in := writeChats(t, dir, "chats.csv", genChats(600, env.contactID(t)))
		opts := baseOptions(t, env.client, mustMapping(t, chatMapping), in)
		opts.BatchSize = 50
		opts.keyMemory = mem

		var sum *Summary
		for attempt := 0; attempt < 5; attempt++ {
			sum, err = Import(context.Background(), opts)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrInDoubt) {
				t.Fatalf("Import: %v", err)
			}
		}
		if err != nil {
			t.Fatalf("still in doubt after 5 runs: %v", err)
		}
		st := env.srv.Stats()
		if st.FaultsInjected == 0 {
			t.Fatal("no fault was injected: the test proves nothing")
		}
		if got := env.comms(t); len(got) != 600 {
			t.Errorf("sandbox holds %d communications, want exactly 600 (faults injected: %d)", len(got), st.FaultsInjected)
		}
		states := countStates(lastStates(t, opts.Ledger))
		if states[StateCreated] != 600 || len(states) != 1 {
			t.Errorf("ledger states: %v, want 600 created", states)
		}
		_ = sum
	})
}

func TestImportResumesAfterCancellation(t *testing.T) {
	forKeyMemory(t, func(t *testing.T, mem int) {
		env := newSandboxEnv(t, sandbox.Options{Contacts: 1, SearchLag: 50 * time.Millisecond})
		dir := t.TempDir()
		in := writeChats(t, dir, "chats.csv", genChats(1000, env.contactID(t)))
		opts := baseOptions(t, env.client, mustMapping(t, chatMapping), in)
		opts.BatchSize = 25
		opts.Workers = 2
		opts.keyMemory = mem

		ctx, cancel := context.WithCancel(context.Background())
		var batches atomic.Int64
		opts.Progress = func(s Summary) {
			if s.Batches >= 5 && batches.Add(1) == 1 {
				cancel()
			}
		}
		sum, err := Import(ctx, opts)
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("interrupted Import: err = %v, want ErrStopped", err)
		}
		if sum.Created == 0 || sum.Created >= 1000 {
			t.Fatalf("interrupted run created %d; want some but not all", sum.Created)
		}
		first := sum.Created

		opts.Progress = nil
		sum, err = Import(context.Background(), opts)
		if err != nil {
			t.Fatalf("resumed Import: %v", err)
		}
		if sum.AlreadyDone != first || sum.Created != 1000-first {
			t.Errorf("resume: already done %d created %d; want %d and %d", sum.AlreadyDone, sum.Created, first, 1000-first)
		}
		if got := env.comms(t); len(got) != 1000 {
			t.Errorf("sandbox holds %d communications, want 1000", len(got))
		}
	})
}

func TestImportPlanWritesNothing(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	dir := t.TempDir()
	in := writeChats(t, dir, "chats.csv", genChats(30, env.contactID(t)))
	opts := baseOptions(t, env.client, mustMapping(t, chatMapping), in)
	opts.Plan = true
	sum, err := Import(context.Background(), opts)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if sum.Planned != 30 || sum.Created != 0 {
		t.Errorf("plan: planned %d created %d", sum.Planned, sum.Created)
	}
	if n := len(env.comms(t)); n != 0 {
		t.Errorf("plan created %d communications", n)
	}
	if _, err := os.Stat(opts.Ledger); err == nil {
		t.Error("plan wrote the real ledger")
	}
	if _, err := os.Stat(planLedgerPath(opts.Ledger)); err != nil {
		t.Errorf("plan ledger: %v", err)
	}
}

func TestImportPlanRefusesUnknownProperty(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	dir := t.TempDir()
	in := writeChats(t, dir, "chats.csv", genChats(3, env.contactID(t)))
	src := strings.Replace(chatMapping, "key: [msg_id]", "  properties:\n    no_such_property: x\nkey: [msg_id]", 1)
	opts := baseOptions(t, env.client, mustMapping(t, src), in)
	opts.Plan = true
	_, err := Import(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), `"no_such_property" does not exist`) {
		t.Fatalf("plan with an unknown property: err = %v", err)
	}
}

// TestImportWithDefaults runs an import with every option left at its zero
// value, as a caller that sets only the essentials does.
func TestImportWithDefaults(t *testing.T) {
	api := newMemAPI()
	in := writeChats(t, t.TempDir(), "chats.csv", genChats(5, "101"))
	sum, err := Import(context.Background(), ImportOptions{Mapping: mustMapping(t, chatMapping), Inputs: []string{in}, API: api})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if sum.Created != 5 || sum.Ledger != in+".ledger.csv" {
		t.Errorf("created %d into ledger %s", sum.Created, sum.Ledger)
	}
	if _, err := os.Stat(RunLogPath(sum.Ledger)); err != nil {
		t.Errorf("run log: %v", err)
	}
}

func TestImportRefusesMissingInputBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	api := newMemAPI()
	_, err := Import(context.Background(), ImportOptions{Mapping: mustMapping(t, chatMapping),
		Inputs: []string{filepath.Join(dir, "nope.csv")}, API: api})
	if err == nil || !strings.Contains(err.Error(), "nope.csv") {
		t.Fatalf("err = %v, want one naming nope.csv", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 || api.requests != 0 {
		t.Errorf("a missing input still wrote %d files and sent %d requests", len(entries), api.requests)
	}
}

// TestImportResolvesOwnersByEmail: owner_id with lookup: owner_email takes
// the id from the portal's owners; an unknown e-mail leaves the row unresolved.
func TestImportResolvesOwnersByEmail(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	dir := t.TempDir()
	in := filepath.Join(dir, "chats.csv")
	contact := env.contactID(t)
	csv := "msg_id,channel,sent_at,text,contact,kind,agent\n" +
		"a,wa,1714521600000,hello,," + "message,ANA.OWNER@example.com\n" +
		"b,wa,1714521660000,again,," + "message,nobody@example.com\n"
	csv = strings.ReplaceAll(csv, ",,", ","+contact+",")
	if err := os.WriteFile(in, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(chatMapping, "key: [msg_id]", "  owner_id: { column: agent, lookup: owner_email }\nkey: [msg_id]", 1)
	sum, err := Import(context.Background(), baseOptions(t, env.client, mustMapping(t, src), in))
	if !errors.Is(err, ErrRowsFailed) || sum.Created != 1 || sum.Unresolved != 1 {
		t.Fatalf("err %v, created %d, unresolved %d; want 1 and 1", err, sum.Created, sum.Unresolved)
	}
	comms := env.srv.Objects("communications", false)
	if len(comms) != 1 || comms[0].Properties["hubspot_owner_id"] != "75000001" {
		t.Errorf("communications: %+v", comms)
	}
}
