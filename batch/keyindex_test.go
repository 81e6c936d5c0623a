package batch

import (
	"fmt"
	"math/rand/v2"
	"os"
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
			for op := 0; op < 20000; op++ {
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
