package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
)

// TestChaosCleanUp hurts archive and restore the way TestChaos hurts
// import: faults (5xx, 429, commit-then-drop) throughout, and kill -9s of
// the archive once some records are archived and of the restore once some
// are restored; each is then run again until it finishes. Every archived
// record must be in a snapshot, and restoring the first snapshot must
// bring every message back exactly once.
func TestChaosCleanUp(t *testing.T) {
	trials := chaosTrials(t)
	bin := chaosBinary(t)
	// A quarter of an import trial's rows: archive and restore each read
	// and write every record, and make test runs this too.
	rows := max(chaosRows()/4, 200)
	var sum census
	var unsnapped, n int
	for trial := 1; trial <= trials; trial++ {
		ok := t.Run(strconv.Itoa(trial), func(t *testing.T) {
			n++
			c, lost := runCleanUpTrial(t, bin, int64(trial), rows)
			sum.Expected, sum.Found, sum.Duplicated, sum.Missing = sum.Expected+c.Expected, sum.Found+c.Found,
				sum.Duplicated+c.Duplicated, sum.Missing+c.Missing
			sum.Kills += c.Kills
			unsnapped += lost
			line := fmt.Sprintf("cleanup/%-12d expected %6d  found %6d  duplicated %d  missing %d  in no snapshot %d  (%s)",
				trial, c.Expected, c.Found, c.Duplicated, c.Missing, lost, c.hurt())
			fmt.Println("  " + line)
			if c.Duplicated != 0 || c.Missing != 0 || c.Found != c.Expected || lost != 0 {
				t.Errorf("%s", line)
			}
		})
		if !ok {
			break
		}
	}
	fmt.Printf("chaos cleanup totals: %d trials  expected %d  found %d  duplicated %d  missing %d  in no snapshot %d  kill -9s %d\n",
		n, sum.Expected, sum.Found, sum.Duplicated, sum.Missing, unsnapped, sum.Kills)
}

func runCleanUpTrial(t *testing.T, bin string, seed int64, rows int) (census, int) {
	dir := t.TempDir()
	sb, contact := startChaosSandbox(t, bin, dir, "5xx=0.02,429=0.01,drop=0.01", seed)
	defer sb.stop(syscall.SIGTERM)
	input, mappingPath := writeChaosInput(t, dir, rows, contact)
	ledger := filepath.Join(dir, "ledger.csv")
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	run := func(ctx context.Context, args ...string) (int, error) { return runChaosCommand(ctx, bin, sb, args...) }

	// untilDone runs a command again while it ends in doubt or on a fault.
	untilDone := func(what string, args ...string) {
		for attempt := 0; ; attempt++ {
			code, err := run(context.Background(), args...)
			if code == 0 {
				return
			}
			if attempt >= 6 || code != exitInDoubt && code != exitFatal {
				t.Fatalf("%s, run %d: exit %d: %v", what, attempt+1, code, err)
			}
		}
	}
	// killAt runs a command up to twice with a kill -9 once counter
	// reaches a random point, and counts the kills that landed.
	killed := 0
	killAt := func(counter string, args ...string) {
		for k := 0; k < 2; k++ {
			ctx, cancel := context.WithCancel(context.Background())
			target := 1 + rng.IntN(rows-1)
			go when(ctx, func() bool { return sb.stat(counter) >= target }, cancel)
			code, err := run(ctx, args...)
			cancel()
			switch {
			case code == 0:
				return
			case code == -1:
				killed++
			case code != exitInDoubt && code != exitFatal:
				t.Fatalf("%s: exit %d: %v", args[0], code, err)
			}
		}
	}

	untilDone("import", "import", "--mapping", mappingPath, "--ledger", ledger, "--search-settle", "1s", input)
	archive := []string{"archive", "--ledger", ledger, "--yes", "--max-delete", strconv.Itoa(rows)}
	killAt("communications_archived", archive...)
	untilDone("archive", archive...)
	if n := sb.stat("communications"); n != 0 {
		t.Fatalf("%d communications live after the archive, want 0", n)
	}

	snaps, err := filepath.Glob(filepath.Join(dir, "ledger.archive.snapshot-*.jsonl"))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("no snapshot (%v) in %s", err, dir)
	}
	slices.Sort(snaps) // named by run id, which sorts by time
	inSnapshot := map[string]bool{}
	for _, p := range snaps {
		for _, body := range snapshotBodies(t, p) {
			inSnapshot[body] = true
		}
	}
	lost := 0
	for i := 0; i < rows; i++ {
		if !inSnapshot[fmt.Sprintf("chaos message %d", i)] {
			lost++
		}
	}
	// The first snapshot was written before anything was archived: it
	// holds every record.
	restore := []string{"restore", "--snapshot", snaps[0], "--search-settle", "1s"}
	killAt("communications", restore...)
	untilDone("restore", restore...)
	c := sb.census(t, rows)
	c.Kills = killed
	return c, lost
}

// snapshotBodies reads the message bodies of an archive snapshot.
func snapshotBodies(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r struct {
			Properties map[string]string `json:"properties"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r.Properties["hs_communication_body"])
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
