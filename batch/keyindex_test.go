package batch

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestKeyIndexMatchesAMap drives the index with random puts and gets, with
// spill thresholds from "every key" to "never", and compares every answer
// with a plain map: spills, merges and the newest-entry-wins rule must never
// lose or resurrect a state.
func TestKeyIndexMatchesAMap(t *testing.T) {
	for _, memKeys := range []int{1, 2, 3, 16, 100, defaultMemKeys} {
		t.Run(fmt.Sprint(memKeys), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(memKeys), 1))
			ix := newKeyIndex(t.TempDir())
			ix.memKeys = memKeys
			defer ix.close()
			ref := map[keyID]keyEntry{}
			keyOf := func(i int) keyID { return parseKey(fmt.Sprintf("key-%d", i)) }
			const universe = 3000
			ops := 20000
			if memKeys <= 3 {
				ops = 5000 // a spill every put or two: merges dominate
			}
			for op := 0; op < ops; op++ {
				id := keyOf(rng.IntN(universe))
				if rng.IntN(3) == 0 {
					e := keyEntry{state: uint8(rng.IntN(6)), file: uint16(rng.IntN(4)), line: uint32(rng.IntN(1 << 20))}
					if err := ix.put(id, e); err != nil {
						t.Fatal(err)
					}
					ref[id] = e
					continue
				}
				e, ok, err := ix.get(id)
				if err != nil {
					t.Fatal(err)
				}
				want, wantOK := ref[id]
				if ok != wantOK || e != want {
					t.Fatalf("op %d: get(%s) = %+v, %v; want %+v, %v", op, id, e, ok, want, wantOK)
				}
			}
			if memKeys < 100 && len(ix.runs) == 0 {
				t.Fatal("nothing was spilled: the test exercises only the map")
			}
			got := map[keyID]keyEntry{}
			if err := ix.each(func(id keyID, e keyEntry) {
				if _, dup := got[id]; dup {
					t.Errorf("each visits %s twice", id)
				}
				got[id] = e
			}); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(ref, got, cmp.AllowUnexported(keyEntry{})); d != "" {
				t.Errorf("each (-want +got):\n%s", d)
			}
			// Gets still answer after each compacted the index.
			for i := range universe {
				id := keyOf(i)
				e, ok, err := ix.get(id)
				want, wantOK := ref[id]
				if err != nil || ok != wantOK || e != want {
					t.Fatalf("after each: get(%s) = %+v, %v, %v; want %+v, %v", id, e, ok, err, want, wantOK)
				}
			}
		})
	}
}

// TestKeyIndexBoundsRunsAndLeavesNoFiles checks the binary-counter merging
// (runs stay logarithmic in the keys) and that spill files have no name
// once created, so a crash cannot leave them behind.
func TestKeyIndexBoundsRunsAndLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	ix := newKeyIndex(dir)
	ix.memKeys = 64
	const n = 64 * 100
	for i := range n {
		if err := ix.put(parseKey(fmt.Sprint(i)), keyEntry{state: kCreated, line: uint32(i)}); err != nil {
			t.Fatal(err)
		}
		if len(ix.runs) > 8 { // log2(100) + 1
			t.Fatalf("after %d keys: %d runs", i+1, len(ix.runs))
		}
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("spill files visible in %s: %v", dir, names)
	}
	for i := range n {
		e, ok, err := ix.get(parseKey(fmt.Sprint(i)))
		if err != nil || !ok || e.line != uint32(i) {
			t.Fatalf("key %d: %+v, %v, %v", i, e, ok, err)
		}
	}
	ix.close()
}

// TestBloomFilterFalsePositives holds the filter to its design rate: a
// filter that said yes to everything would make every lookup read disk.
func TestBloomFilterFalsePositives(t *testing.T) {
	for _, n := range []int{1, 100, 10000} {
		f := newBloomFilter(n)
		for i := range n {
			f.add(parseKey(fmt.Sprint("in", i)))
		}
		for i := range n {
			if !f.has(parseKey(fmt.Sprint("in", i))) {
				t.Fatalf("n=%d: key %d added but not found", n, i)
			}
		}
		fp := 0
		const probes = 20000
		for i := range probes {
			if f.has(parseKey(fmt.Sprint("out", i))) {
				fp++
			}
		}
		if rate := float64(fp) / probes; rate > 0.02 {
			t.Errorf("n=%d: false-positive rate %.3f, want ≤ 0.02", n, rate)
		}
	}
}

// BenchmarkKeyIndexFreshKeys is the import's per-row cost for new keys: a
// lookup that misses (Bloom probes per run) and a put (spills amortised).
func BenchmarkKeyIndexFreshKeys(b *testing.B) {
	ix := newKeyIndex(b.TempDir())
	defer ix.close()
	ids := make([]keyID, 1<<20)
	for i := range ids {
		ids[i] = parseKey(fmt.Sprint(i))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := ids[i%len(ids)]
		if _, _, err := ix.get(id); err != nil {
			b.Fatal(err)
		}
		if err := ix.put(id, keyEntry{state: seenThisRun}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestResumeIndexLastStateWins reads a ledger of more identities than the
// key index keeps in memory: every identity answers its last state, plan
// events count for nothing, and unknown identities are absent.
func TestResumeIndexLastStateWins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "update.csv")
	l, _, err := OpenLedger(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	const n = defaultMemKeys + 5000
	want := map[string]string{}
	var evs []LedgerRow
	for i := range n {
		id := fmt.Sprint(1000 + i)
		ev := LedgerRow{RunID: "r1", SourceFile: "u.csv", SourceLine: i + 2, HubSpotID: id, Operation: OpUpdate, State: StateSent}
		evs = append(evs, ev)
		switch i % 3 {
		case 0:
			ev.State = StateUpdated
		case 1:
			ev.State = StateFailed
		default:
			ev.Operation, ev.State = OpPlan, StatePlanned // a plan event is no outcome
		}
		evs = append(evs, ev)
		want[updateIdent(ev)] = map[int]string{0: StateUpdated, 1: StateFailed, 2: StateSent}[i%3]
	}
	if err := l.Append(evs...); err != nil {
		t.Fatal(err)
	}
	l.Close()
	ri, err := openResumeIndex(path, updateIdent)
	if err != nil {
		t.Fatal(err)
	}
	defer ri.close()
	if len(ri.keys.runs) == 0 {
		t.Fatal("the index did not spill: the test exercises only the map")
	}
	for ident, w := range want {
		got, ok, err := ri.lastState(ident)
		if err != nil || !ok || got != w {
			t.Fatalf("lastState(%s) = %q, %v, %v; want %q", ident, got, ok, err, w)
		}
	}
	if _, ok, err := ri.lastState("update|u.csv:1|1"); ok || err != nil {
		t.Errorf("an identity no event carries: ok=%v err=%v", ok, err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("files beside the ledger: %v (spill files must be unlinked)", names)
	}
}

// TestCreatedIndexAgreesWithLedgerCreated holds the update resolver's
// on-disk key → id index to LedgerCreated, the reference, on a ledger of
// more keys than the index keeps in memory, with every kind of event.
func TestCreatedIndexAgreesWithLedgerCreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "import.csv")
	l, _, err := OpenLedger(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const keys = defaultMemKeys * 2
	ids := []string{"50000000017", "281474976710655", "281474976710656", "0017", "abc", ""} // 2^48-1, 2^48, not canonical, not a number, none
	var evs []LedgerRow
	for i := range keys * 2 {
		k := fmt.Sprintf("%032x", rng.IntN(keys))
		r := LedgerRow{RunID: "r", SourceFile: "in.csv", SourceLine: i, Key: k, Operation: OpCreate, HubSpotID: fmt.Sprint(50000000000 + i)}
		switch rng.IntN(8) {
		case 0:
			r.State = StateSent
		case 1:
			r.State = StateFailed
		case 2:
			r.State, r.HubSpotID = StateCreated, ids[rng.IntN(len(ids))]
		case 3:
			r.State = StateSkipped // never settles a key
		case 4:
			r.Operation = OpPlan
			r.State = StatePlanned
		default:
			r.State = StateCreated
		}
		evs = append(evs, r)
	}
	if err := l.Append(evs...); err != nil {
		t.Fatal(err)
	}
	l.Close()
	recs, err := LedgerCreated(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, r := range recs {
		want[r.Key] = r.ID
	}
	ci, err := openCreatedIndex(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ci.close()
	if len(ci.keys.runs) == 0 || len(ci.other) == 0 {
		t.Fatalf("runs %d, other ids %d: the test misses a path", len(ci.keys.runs), len(ci.other))
	}
	for i := range keys {
		k := fmt.Sprintf("%032x", i)
		got, err := ci.id(k)
		if err != nil || got != want[k] {
			t.Fatalf("id(%s) = %q, %v; LedgerCreated says %q", k, got, err, want[k])
		}
	}
}

// TestEachCreatedAgreesWithLedgerCreated: the streaming reader yields the
// same records as LedgerCreated (order aside) on a ledger of more keys than
// the indexes keep in memory, including body hashes a later event of the
// same record inherits and ones a different record must not.
func TestEachCreatedAgreesWithLedgerCreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "import.csv")
	l, _, err := OpenLedger(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 9))
	const keys = defaultMemKeys * 2
	var evs []LedgerRow
	for i := range keys * 3 {
		k := fmt.Sprintf("k%d", rng.IntN(keys))
		r := LedgerRow{RunID: "r", SourceFile: "in.csv", SourceLine: i, Key: k, Operation: OpCreate,
			HubSpotID: fmt.Sprint(50000000000 + rng.IntN(3)), State: StateCreated}
		switch rng.IntN(7) {
		case 0:
			r.State, r.HubSpotID = StateSent, ""
		case 1:
			r.State = StateFailed
		case 2:
			r.BodySHA256 = fmt.Sprintf("h%d", i) // a create with its hash
		case 3:
			r.Operation = OpReconcile // no hash: inherits it when the id matches
		case 4:
			r.State = StateSkipped
		case 5:
			r.Operation, r.State = OpPlan, StatePlanned
		}
		evs = append(evs, r)
	}
	if err := l.Append(evs...); err != nil {
		t.Fatal(err)
	}
	l.Close()
	want, err := LedgerCreated(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []CreatedRecord
	if err := EachCreated(path, func(r CreatedRecord) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	inherited := 0
	for _, r := range want {
		if r.BodySHA256 != "" && evs[r.Line].BodySHA256 == "" { // SourceLine is the event's index
			inherited++
		}
	}
	if inherited == 0 {
		t.Fatal("no record inherits its hash: the test misses the carry")
	}
	byKey := func(a, b CreatedRecord) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(want, byKey)
	slices.SortFunc(got, byKey)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("EachCreated (-LedgerCreated +EachCreated):\n%s", d)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("files beside the ledger: %v", names)
	}
}
