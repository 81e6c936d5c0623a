package batch

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocarina/gocsv"
	"github.com/google/go-cmp/cmp"
)

func fixedNow() time.Time { return time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) }

func readAll(t *testing.T, path string) []LedgerRow {
	t.Helper()
	var rows []LedgerRow
	if err := ReadLedger(path, func(r LedgerRow) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatalf("ReadLedger: %v", err)
	}
	return rows
}

func TestLedgerRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.csv")
	l, torn, err := OpenLedger(path, fixedNow)
	if err != nil || torn != "" {
		t.Fatalf("OpenLedger: %v %q", err, torn)
	}
	in := []LedgerRow{
		{RunID: "r1", SourceFile: "a,b.csv", SourceLine: 2, Key: "k1", Operation: OpCreate, State: StateSent, Attempt: 1, Batch: 1},
		{RunID: "r1", SourceFile: "a,b.csv", SourceLine: 2, Key: "k1", Operation: OpCreate, State: StateFailed,
			HTTPStatus: 207, Category: "VALIDATION_ERROR", Message: "line one\nline \"two\"", Attempt: 1, Batch: 1},
	}
	if err := l.Append(in...); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, path)
	want := []LedgerRow{in[0], in[1]}
	for i := range want {
		want[i].Time = "2026-11-25T09:00:00Z"
	}
	want[1].Message = `line one line "two"` // every event stays on one line
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ledger round trip (-want +got):\n%s", d)
	}
	b, _ := os.ReadFile(path)
	if lines := strings.Count(string(b), "\n"); lines != 3 {
		t.Errorf("ledger has %d lines, want header + 2:\n%s", lines, b)
	}
}

func TestLedgerTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.csv")
	l, _, err := OpenLedger(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(LedgerRow{RunID: "r1", Key: "k1", Operation: OpCreate, State: StateSent}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// A crash mid-write leaves half a line.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("2026-11-25T09:00:00Z,r1,x.csv,3,k2,cre")
	f.Close()

	if got := readAll(t, path); len(got) != 1 {
		t.Fatalf("ReadLedger with a torn tail: %d rows, want 1", len(got))
	}
	l, torn, err := OpenLedger(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(torn, "2026-11-25T09:00:00Z,r1,x.csv,3") {
		t.Errorf("torn = %q", torn)
	}
	if err := l.Append(LedgerRow{RunID: "r2", Key: "k2", Operation: OpCreate, State: StateCreated}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	got := readAll(t, path)
	if len(got) != 2 || got[1].Key != "k2" || got[1].State != StateCreated {
		t.Errorf("after repair: %+v", got)
	}
}

func TestReadLedgerRejectsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, wantErr string
	}{
		{"not a ledger", "a,b,c\n1,2,3\n", "is not a commlog ledger header"},
		{"bad number", ledgerHeader + "\n2026,r,f,x,k,create,sent,,,,,1,1\n", "l.csv:2: source_line"},
		{"short row", ledgerHeader + "\n2026,r,f\n", "l.csv:2: 3 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "l.csv")
			os.WriteFile(path, []byte(tt.content), 0o644)
			err := ReadLedger(path, func(LedgerRow) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	// Empty and header-only ledgers are fine.
	for _, content := range []string{"", ledgerHeader + "\n", ledgerHeader[:10]} {
		path := filepath.Join(dir, "e.csv")
		os.WriteFile(path, []byte(content), 0o644)
		if err := ReadLedger(path, func(LedgerRow) error { return nil }); err != nil {
			t.Errorf("ReadLedger(%q): %v", content, err)
		}
	}
}

func TestLoadLedgerStateLastEventWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.csv")
	l, _, _ := OpenLedger(path, fixedNow)
	k := func(i int) string { return strings.Repeat("0", 31) + string(rune('0'+i)) }
	l.Append(
		LedgerRow{RunID: "r1", SourceFile: "a.csv", SourceLine: 2, Key: k(1), Operation: OpCreate, State: StateSent},
		LedgerRow{RunID: "r1", SourceFile: "a.csv", SourceLine: 2, Key: k(1), Operation: OpCreate, State: StateCreated, HubSpotID: "9"},
		LedgerRow{RunID: "r1", SourceFile: "a.csv", SourceLine: 3, Key: k(2), Operation: OpCreate, State: StateSent},
		LedgerRow{RunID: "r1", SourceFile: "a.csv", SourceLine: 4, Key: k(3), Operation: OpCreate, State: StateSent},
		LedgerRow{RunID: "r1", SourceFile: "a.csv", SourceLine: 4, Key: k(3), Operation: OpCreate, State: StateInDoubt},
		LedgerRow{RunID: "r1", SourceFile: "a.csv", SourceLine: 5, Key: k(4), Operation: OpCreate, State: StateFailed},
		LedgerRow{RunID: "r1", SourceFile: "a.csv", SourceLine: 6, Key: k(5), Operation: OpPlan, State: StatePlanned},
	)
	l.Close()
	for _, memKeys := range []int{defaultMemKeys, 1, 2} { // in memory; spilled to runs
		keys := newKeyIndex(t.TempDir())
		keys.memKeys = memKeys
		defer keys.close()
		st, err := loadLedgerState(path, keys)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]uint8{k(1): kCreated, k(2): kSent, k(3): kInDoubt, k(4): kFailed}
		got := map[string]uint8{}
		if err := st.keys.each(func(id keyID, e keyEntry) { got[id.String()] = e.state }); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("memKeys %d: states (-want +got):\n%s", memKeys, d)
		}
		if p, err := st.keys.pending(); err != nil || len(p) != 2 {
			t.Errorf("memKeys %d: pending = %v, %v; want 2 keys", memKeys, p, err)
		}
		if e, ok, err := st.keys.get(parseKey(k(3))); err != nil || !ok || e.line != 4 || e.state != kInDoubt {
			t.Errorf("memKeys %d: get(k3) = %+v, %v, %v", memKeys, e, ok, err)
		}
	}
	st, err := loadLedgerState(path, newKeyIndex(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if !st.lastEvent.Equal(fixedNow()) {
		t.Errorf("lastEvent = %v", st.lastEvent)
	}
}

func TestParseMaxErrors(t *testing.T) {
	tests := []struct {
		in      string
		want    MaxErrors
		wantErr bool
	}{
		{"", MaxErrors{}, false},
		{"10", MaxErrors{Count: 10}, false},
		{"2.5%", MaxErrors{Percent: 2.5}, false},
		{"0", MaxErrors{}, true},
		{"abc", MaxErrors{}, true},
		{"120%", MaxErrors{}, true},
	}
	for _, tt := range tests {
		got, err := ParseMaxErrors(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseMaxErrors(%q) = %+v, %v", tt.in, got, err)
		}
	}
	if !(MaxErrors{Percent: 10}).exceeded(10, 100) || (MaxErrors{Percent: 10}).exceeded(5, 50) {
		t.Error("percent threshold judged wrongly")
	}
}

// TestLedgerEncodingMatchesGocsv holds the hand-written event encoder to
// what gocsv (the ledger's reference encoding) writes for the same rows.
func TestLedgerEncodingMatchesGocsv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"", "a", " lead", "x,y", `q"uote`, "multi\nline", "\r", `\.`, "é", "\t", "tab\tin", "-1", "\u00a0nbsp"}
	str := func() string {
		var b strings.Builder
		for n := rng.IntN(3); n >= 0; n-- {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for i := 0; i < 2000; i++ {
		r := LedgerRow{Time: str(), RunID: str(), SourceFile: str(), SourceLine: rng.IntN(1 << 20), Key: str(),
			Operation: str(), State: str(), HubSpotID: str(), HTTPStatus: rng.IntN(600), Category: str(),
			Message: str(), Attempt: rng.IntN(9), Batch: rng.IntN(1 << 16), BodySHA256: str()}
		want, err := gocsv.MarshalStringWithoutHeaders([]LedgerRow{r})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(appendLedgerRow(nil, &r)); got != want {
			t.Fatalf("row %+v:\n got %q\nwant %q", r, got, want)
		}
	}
}

func TestLedgerGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.csv")
	l, _, err := OpenLedger(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := l.Append(LedgerRow{RunID: "r", Key: fmt.Sprintf("k%d-%d", w, i), Operation: OpCreate, State: StateSent}); err != nil {
					t.Error(err)
				}
				if err := l.Commit(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, path); len(got) != 400 {
		t.Errorf("%d events after concurrent appends and commits, want 400", len(got))
	}
	if err := l.Append(LedgerRow{}); err == nil {
		t.Error("Append after Close succeeded")
	}
}
