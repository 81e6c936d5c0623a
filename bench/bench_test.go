package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/batch"
	"github.com/commlog/commlog/mapping"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestUtilisation(t *testing.T) {
	tests := []struct {
		name      string
		requests  int64
		elapsed   float64
		wantAllow float64
		wantUtil  float64
		windowMax int
		window    time.Duration
	}{
		{"exactly the budget", 190, 10, 190, 1, 190, 10 * time.Second},
		{"the issue's run", 402, 21.83, 414.77, 0.9692, 190, 10 * time.Second},
		{"half", 95, 10, 190, 0.5, 190, 10 * time.Second},
		{"no time", 10, 0, 0, 0, 190, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allowed, u := utilisation(tt.requests, tt.elapsed, tt.windowMax, tt.window)
			if got, want := [2]float64{round(allowed, 2), round(u, 4)}, [2]float64{tt.wantAllow, tt.wantUtil}; got != want {
				t.Errorf("utilisation(%d, %g) = %v, want %v", tt.requests, tt.elapsed, got, want)
			}
		})
	}
}

func TestPeakWindow(t *testing.T) {
	s := func(t float64, r int64) batch.Sample { return batch.Sample{Seconds: t, Requests: r} }
	tests := []struct {
		name    string
		samples []batch.Sample
		want    int64
	}{
		{"empty", nil, 0},
		{"one burst", []batch.Sample{s(0, 0), s(1, 100), s(5, 186), s(9, 186)}, 186},
		{"two windows", []batch.Sample{s(0, 2), s(5, 186), s(10.5, 188), s(15, 372), s(20, 372)}, 186},
		{"span wider than the window is not one window", []batch.Sample{s(0, 0), s(10.5, 300)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := peakWindow(tt.samples, 10*time.Second); got != tt.want {
				t.Errorf("peakWindow = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCheckGoals(t *testing.T) {
	good := &Results{
		Rate:     &RateResult{Rows: 100, Created: 100, Utilisation: 0.975},
		Pipeline: &PipelineResult{Rows: 10, Created: 10, Ratio: 0.6},
		Memory:   &MemoryResult{SmallRSSMB: 40, LargeRSSMB: 59, Ratio: 1.48, RerunRSSMB: 45, RerunRatio: 1.12, ArchiveRatio: 1.5, RestoreRatio: 1.1},
		Export:   &ExportResult{FullExpected: 5, FullRecords: 5, IncrementalExpected: 2, IncrementalRecords: 3},
	}
	okAll := func(gs []GoalResult) []bool {
		var out []bool
		for _, g := range gs {
			out = append(out, g.OK)
		}
		return out
	}
	if diff := cmp.Diff([]bool{true, true, true, true, true, true, true, true, true, true, true, true, true}, okAll(checkGoals(good))); diff != "" {
		t.Errorf("goals of a good run (-want +got):\n%s", diff)
	}
	tests := []struct {
		name   string
		r      *Results
		missed string
	}{
		{"under budget", &Results{Rate: &RateResult{Utilisation: 0.969}}, "rate: requests sent ÷ allowed"},
		{"a client 429", &Results{Rate: &RateResult{Utilisation: 0.98, RateLimited: 1}}, "rate: 429 responses"},
		{"a sandbox 429", &Results{Rate: &RateResult{Utilisation: 0.98, SandboxRateLimited: 2}}, "rate: 429 responses"},
		{"rows lost", &Results{Rate: &RateResult{Utilisation: 0.98, Rows: 5, Created: 4}}, "rate: rows created"},
		{"budget not learnt", &Results{Rate: &RateResult{Utilisation: 0.98, WindowMax: 190, LearntWindowMax: 100}}, "rate: window the client learnt"},
		{"slow pipeline", &Results{Pipeline: &PipelineResult{Ratio: 0.49}}, "pipeline: speed ÷ encoding/csv"},
		{"150 MB is too much", &Results{Memory: &MemoryResult{LargeRows: 1_000_000, LargeRSSMB: 150, Ratio: 1}}, "memory: peak RSS, 1M rows"},
		{"growth", &Results{Memory: &MemoryResult{LargeRSSMB: 100, Ratio: 1.51}}, "memory: large ÷ small peak RSS"},
		{"growth on resume", &Results{Memory: &MemoryResult{LargeRSSMB: 40, Ratio: 1.2, RerunRatio: 1.6}}, "memory: re-run (all done) ÷ small peak RSS"},
		{"archive holds its targets", &Results{Memory: &MemoryResult{LargeRSSMB: 40, Ratio: 1.2, ArchiveRatio: 11.3}}, "memory: archive of them all ÷ import peak RSS"},
		{"restore holds its snapshot", &Results{Memory: &MemoryResult{LargeRSSMB: 40, Ratio: 1.2, RestoreRatio: 1.51}}, "memory: restore of them all ÷ import peak RSS"},
		{"export short", &Results{Export: &ExportResult{FullExpected: 5, FullRecords: 4}}, "export: full, records written"},
		{"changes lost", &Results{Export: &ExportResult{IncrementalExpected: 5, IncrementalRecords: 4}}, "export: incremental, changes written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var missed []string
			for _, g := range checkGoals(tt.r) {
				if !g.OK {
					missed = append(missed, g.Name)
				}
			}
			if diff := cmp.Diff([]string{tt.missed}, missed); diff != "" {
				t.Errorf("missed goals (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	r := &Results{
		CPUs: 2, GoVersion: "go1.26", ElapsedSeconds: 312, CommlogVersion: "commlog version v0.0.0-test",
		Rate: &RateResult{Rows: 40000, Latency: "250ms ± 100ms", WindowMax: 190, LearntWindowMax: 190, WindowSeconds: 10, Created: 40000,
			Requests: 402, ElapsedSeconds: 21.83, Allowed: 414.8, Utilisation: 0.9692, RecordsPerSecond: 1832.4},
		Pipeline: &PipelineResult{Bytes: 200 << 20, Rows: 1659194, Created: 1659194, CSVMBPerSecond: 178,
			PipelineMBPerSecond: 1.5, PipelineRowsPerSecond: 12103, Ratio: 0.0082},
		Memory: &MemoryResult{SmallRows: 10000, SmallRSSMB: 28.1, LargeRows: 1000000, LargeRSSMB: 141.9, Ratio: 5.05, LargeRecordsPerSecond: 29340,
			RerunRSSMB: 30.2, RerunRatio: 1.07, RerunSeconds: 7.1,
			ArchiveRSSMB: 48.2, ArchiveRatio: 0.34, ArchiveSeconds: 93.9, RestoreRSSMB: 41.8, RestoreRatio: 0.29, RestoreSeconds: 49.9},
		Export: &ExportResult{FullExpected: 200000, FullRecords: 200000, FullSeconds: 20, FullRecordsPerSecond: 10000,
			IncrementalExpected: 20000, IncrementalRecords: 20001, IncrementalSeconds: 10, IncrementalRecordsPerSecond: 2000},
		Errors: []string{"export: something broke"},
	}
	r.Goals = checkGoals(r)
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if !strings.Contains(b.String(), "GOALS MISSED") {
		t.Errorf("a run with missed goals does not say so:\n%s", b.String())
	}
}

// TestChatCSV checks the synthetic export: encoding/csv reads it, every
// row has a distinct key, and the bench's mapping turns every row into a
// communication.
func TestChatCSV(t *testing.T) {
	dir := t.TempDir()
	path, mpath := filepath.Join(dir, "chat.csv"), filepath.Join(dir, "m.yaml")
	n, size, err := writeChatCSV(path, 0, 64<<10, "7")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != size || size < 64<<10 {
		t.Fatalf("size %d, stat %v %v", size, fi, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 {
		t.Fatalf("%d records, want %d and a header", len(recs), n)
	}
	keys := map[string]bool{}
	for _, r := range recs[1:] {
		k := strings.Join([]string{r[0], r[3], r[2], r[5]}, "|")
		if keys[k] {
			t.Fatalf("key %q twice", k)
		}
		keys[k] = true
	}
	if err := writeMapping(mpath); err != nil {
		t.Fatal(err)
	}
	if _, err := mapping.Load(mpath); err != nil {
		t.Fatalf("the bench's mapping does not load: %v", err)
	}
	// splitCSV keeps the header on both halves and loses no row.
	a, b := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	if err := splitCSV(path, a, b, 10); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, p := range []string{a, b} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		got[filepath.Base(p)] = len(r) - 1
		if diff := cmp.Diff(recs[0], r[0]); diff != "" {
			t.Errorf("%s header (-want +got):\n%s", p, diff)
		}
	}
	if diff := cmp.Diff(map[string]int{"a.csv": 10, "b.csv": n - 10}, got); diff != "" {
		t.Errorf("split rows (-want +got):\n%s", diff)
	}
}

// TestPipeline runs the in-process measurement on a small file: every row
// goes through the real import and is created by the stub.
func TestPipeline(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Sizes: Sizes{PipelineBytes: 256 << 10}}
	r, err := measurePipeline(context.Background(), opts, dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows == 0 || r.Created != r.Rows {
		t.Errorf("rows %d, created %d", r.Rows, r.Created)
	}
	if r.Ratio <= 0 || r.CSVMBPerSecond <= 0 || r.PipelineMBPerSecond <= 0 {
		t.Errorf("figures not measured: %+v", r)
	}
}

// TestRunAgainstBinary takes every measurement with tiny workloads
// against a freshly built commlog: the harness works end to end, and the
// figures that do not depend on scale hold (the goals that do are not
// checked: 1,000 rows fit in the first rate window).
func TestRunAgainstBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds commlog and runs sandbox processes")
	}
	// COMMLOG_BENCH_BIN measures a prebuilt binary instead.
	bin := os.Getenv("COMMLOG_BENCH_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "commlog")
		build := exec.Command("go", "build", "-o", bin, "../cmd/commlog")
		var stderr bytes.Buffer
		build.Stderr = &stderr
		if err := build.Run(); err != nil {
			t.Fatalf("building commlog: %v\n%s", err, stderr.String())
		}
	}
	r, err := Run(context.Background(), Options{
		Bin: bin, Dir: t.TempDir(),
		Sizes: Sizes{PipelineBytes: 64 << 10, RateRows: 1000, MemorySmall: 500, MemoryLarge: 2000, ExportFull: 1500, ExportIncrease: 300},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("errors: %v", r.Errors)
	}
	t.Logf("memory: %+v", *r.Memory)
	if r.Memory.SmallRSSMB <= 1 || r.Memory.LargeRSSMB <= 1 {
		t.Errorf("peak RSS not measured: %+v", r.Memory)
	}
	if r.Export.FullRecords != 1500 || r.Export.IncrementalRecords < 300 {
		t.Errorf("export: %+v", r.Export)
	}
	if x := r.Rate; x.LearntWindowMax != 190 || x.Requests < 10 || x.RateLimited+x.SandboxRateLimited != 0 || x.Created != 1000 {
		t.Errorf("rate: %+v", x)
	}
	if x := r.Pipeline; x.Rows == 0 || x.Created != x.Rows || x.Ratio <= 0 {
		t.Errorf("pipeline: %+v", x)
	}
	if !strings.HasPrefix(r.CommlogVersion, "commlog version") {
		t.Errorf("commlog version %q", r.CommlogVersion)
	}
}

func TestRunRefusesUnknownMeasurement(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "commlog")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho commlog version test\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), Options{Bin: bin, Dir: t.TempDir(), Only: []string{"speed"}})
	if err == nil || !strings.Contains(err.Error(), `"speed"`) {
		t.Errorf("err = %v, want one naming the unknown measurement", err)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 5}
	_, _ = io.WriteString(b, "abc")
	_, _ = io.WriteString(b, "defg")
	if got := b.String(); got != "cdefg" {
		t.Errorf("tail = %q, want %q", got, "cdefg")
	}
}

func TestParseHWM(t *testing.T) {
	tests := []struct {
		name, status string
		want         int64
	}{
		{"linux", "Name:\tcommlog\nVmPeak:\t  812345 kB\nVmHWM:\t   34304 kB\nVmRSS:\t   30000 kB\n", 34304 * 1024},
		{"missing", "Name:\tcommlog\nVmRSS:\t   30000 kB\n", 0},
		{"no unit", "VmHWM:\t34304\n", 0},
		{"not a number", "VmHWM:\tlots kB\n", 0},
		{"negative", "VmHWM:\t-5 kB\n", 0},
		{"overflow", "VmHWM:\t9223372036854775807 kB\n", 0},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseHWM(tt.status); got != tt.want {
				t.Errorf("parseHWM = %d, want %d", got, tt.want)
			}
		})
	}
}

func FuzzParseHWM(f *testing.F) {
	f.Add("VmHWM:\t   34304 kB\n")
	f.Add("VmHWM: kB")
	f.Add("VmHWM:\t99999999999999999999 kB")
	f.Fuzz(func(t *testing.T, status string) {
		if v := parseHWM(status); v < 0 || v%1024 != 0 {
			t.Errorf("parseHWM(%q) = %d", status, v)
		}
	})
}
