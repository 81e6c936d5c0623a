package report

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/commlog/commlog/batch"
)

// benchLedger writes a ledger of rows keys as an import writes it (a "sent"
// and an outcome event per row, a few percent failed, invalid, unresolved
// or in doubt), plus a run log of an hour of samples.
func benchLedger(b *testing.B, rows int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "big.ledger.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(header)
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < rows; i++ {
		ts := start.Add(time.Duration(i) * 3600 * time.Second / time.Duration(rows)).Format(time.RFC3339Nano)
		file := fmt.Sprintf("chats-%d.csv", i%7)
		key := fmt.Sprintf("%032x", i)
		switch {
		case i%100 == 0:
			fmt.Fprintf(w, "%s,run-1,%s,%d,,create,invalid,,0,INVALID_ROW,%s:%d: no timestamp,0,0\n", ts, file, i+2, file, i+2)
		case i%100 == 1:
			fmt.Fprintf(w, "%s,run-1,%s,%d,%s,create,unresolved,,0,UNRESOLVED_ASSOCIATION,no contacts with phone ******%04d,0,0\n", ts, file, i+2, key, i%10000)
		default:
			fmt.Fprintf(w, "%s,run-1,%s,%d,%s,create,sent,,0,,,1,%d\n", ts, file, i+2, key, i/100)
			switch i % 100 {
			case 2:
				fmt.Fprintf(w, "%s,run-1,%s,%d,%s,create,failed,,207,VALIDATION_ERROR,Property values were not valid: [hs_timestamp],1,%d\n", ts, file, i+2, key, i/100)
			case 3:
				fmt.Fprintf(w, "%s,run-1,%s,%d,%s,create,in_doubt,,502,IN_DOUBT,HTTP 502,1,%d\n", ts, file, i+2, key, i/100)
			default:
				fmt.Fprintf(w, "%s,run-1,%s,%d,%s,create,created,%d,0,,,1,%d\n", ts, file, i+2, key, 1000000+i, i/100)
			}
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	rec := batch.RunRecord{RunID: "run-1", Operation: "import", Command: []string{"commlog", "import", "--mapping", "m.yaml", "chats.csv"},
		StartedAt: start, FinishedAt: start.Add(time.Hour), Outcome: "rows_failed"}
	for s := 0; s <= 3600; s++ {
		rec.Samples = append(rec.Samples, batch.Sample{Seconds: float64(s), Rows: int64(s * rows / 3600),
			Created: int64(s * rows * 95 / 360000), Requests: int64(s * rows / 360000), RateLimited: int64(s / 60), Retries: int64(s / 30)})
	}
	js, err := json.Marshal(rec)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(batch.RunLogPath(path), append(js, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReport1M builds and renders the report of a ledger of a million
// rows (about two million events). It reports the peak heap seen while it
// runs, which is the bound the package documents.
func BenchmarkReport1M(b *testing.B) {
	ledger := benchLedger(b, 1_000_000)
	st, _ := os.Stat(ledger)
	b.SetBytes(st.Size())
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := Write(context.Background(), io.Discard, Options{Ledger: ledger})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Rows != 1_000_000 {
			b.Fatalf("rows = %d", rep.Rows)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(peak-min(peak, base.HeapInuse))/(1<<20), "peak-heap-MB")
}
