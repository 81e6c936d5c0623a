package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBatchCreate measures batch create throughput over HTTP with
// limits off: one op is one batch request of size inputs. Client and
// server share the process, so cpu-µs/req counts both.
//
// Issue 5's "≥ 5,000 batch requests/s" refers to 10-input batches without
// persistence. Measured on the 2-core CI-like machine (Go 1.26), while
// other test runs shared it, so wall-clock figures are best-of-runs:
//
//	inputs  persist  cpu-µs/req (before → after)  req/s after (before)
//	10      no       ~190 → ~145                   up to 6,400 (4,100–5,000)
//	10      yes      ~200 → ~155                   up to 4,650 (4,100–4,300)
//	100     no       ~1,450 → ~1,100               up to 1,600 (250–550)
//	100     yes      ~1,550 → ~1,100               up to 1,780 (320–510)
//
// On an idle machine cores / cpu-µs/req bounds the rate: ≈ 13,000 req/s at
// 10 inputs and ≈ 1,800 at 100 (≈ 180,000 records/s). At 100 inputs the
// 5,000/s figure is not reached: JSON decoding of the request (about a
// quarter of the CPU, encoding/json with reflection) and garbage
// collection over the growing store dominate.
func BenchmarkBatchCreate(b *testing.B) {
	for _, size := range []int{10, 100} {
		for _, persist := range []bool{false, true} {
			b.Run(fmt.Sprintf("inputs=%d/persist=%v", size, persist), func(b *testing.B) {
				opts := Options{}
				if persist {
					opts.StateDir = b.TempDir()
				}
				srv, err := New(opts)
				if err != nil {
					b.Fatal(err)
				}
				defer srv.Close()
				ts := httptest.NewServer(srv.Handler())
				defer ts.Close()
				client := ts.Client()
				client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
				var in []map[string]any
				for i := range size {
					c := comm(fmt.Sprintf("benchmark message body number %d with some text", i))
					c["objectWriteTraceId"] = fmt.Sprint(i)
					in = append(in, c)
				}
				body, _ := json.Marshal(map[string]any{"inputs": in})
				b.SetParallelism(4)
				b.ReportAllocs()
				cpu0 := cpuTime()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						resp, err := client.Post(ts.URL+"/crm/v3/objects/communications/batch/create", "application/json", bytes.NewReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 201 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
				// CPU time per request (server and client together) is
				// the number that survives a busy machine: req/s can be
				// read off it as cores / (cpu-µs/req).
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/req")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var million = flag.Bool("million", false, "run TestMillionCommunications (about 15 s, 600 MB)")

// TestMillionCommunications checks that a million records fit and stay
// searchable. Opt in with -million: it is too slow under -race.
func TestMillionCommunications(t *testing.T) {
	if !*million {
		t.Skip("opt in with -million")
	}
	srv, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tb := srv.st.table("communications")
	for i := range 1_000_000 {
		in := map[string]flexString{
			"hs_communication_channel_type": {s: "WHATS_APP"}, "hs_communication_logged_from": {s: "CRM"},
			"hs_communication_body": {s: fmt.Sprintf("message %d: see you tomorrow at ten", i)},
			"hs_timestamp":          {s: fmt.Sprint(1714557600000 + int64(i)*1000)},
		}
		props, probs := tb.validateWrite(in, true)
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		srv.st.create(tb, props)
		srv.st.pending = srv.st.pending[:0]
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perRecord := float64(after.HeapAlloc-before.HeapAlloc) / 1e6
	t.Logf("heap per record: %.0f bytes (%.0f MB total)", perRecord, float64(after.HeapAlloc-before.HeapAlloc)/1e6)
	if perRecord > 2000 {
		t.Errorf("%.0f bytes per record is too much for a million", perRecord)
	}
	h := &harness{t: t, srv: srv, ts: newTS(t, srv)}
	r := h.must(200, "POST", "/crm/v3/objects/communications/search", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{
		map[string]any{"propertyName": "hs_communication_body", "operator": "EQ", "value": "message 999999: see you tomorrow at ten"}}}}})
	if r.get("total") != float64(1) {
		t.Errorf("search over a million: %s", r.raw)
	}
}

// BenchmarkSearchIn measures the search commlog's import resume issues:
// commlog_key IN 100 keys over 200,000 communications. One op is one
// search request through the handler (decode, match, render 100 results).
//
// On the 2-core CI-like machine (Go 1.26), best of three runs:
//
//	full scan of tb.order (before)       ≈ 77,000,000 ns/op  162 kB/op  1,585 allocs/op
//	equality index candidates (after)    ≈    210,000 ns/op  155 kB/op  1,594 allocs/op
//
// What is left is mostly decoding the request and rendering and encoding
// the 100 results; matching the candidates is about a fifth of it. The
// index costs writes instead: about 0.7 µs more per store.create with a
// commlog_key (the key's map insert), next to ≈ 11 µs per record of a
// 100-input batch create over HTTP.
func BenchmarkSearchIn(b *testing.B) {
	srv, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	tb := srv.st.table("communications")
	tb.addProp(propertyDef{Name: "commlog_key", Label: "commlog key", Type: "string", FieldType: "text", GroupName: tb.groupOrder[0]})
	const n = 200_000
	key := func(i int) string {
		sum := sha256.Sum256([]byte(strconv.Itoa(i)))
		return hex.EncodeToString(sum[:16])
	}
	for i := range n {
		srv.st.create(tb, map[string]string{
			"hs_communication_channel_type": "WHATS_APP", "hs_communication_logged_from": "CRM",
			"hs_communication_body": fmt.Sprintf("message %d: see you tomorrow at ten", i),
			"hs_timestamp":          strconv.FormatInt(1714557600000+int64(i)*1000, 10),
			"commlog_key":           key(i),
		})
		srv.st.pending = srv.st.pending[:0]
	}
	var values []string
	for i := range 100 {
		values = append(values, key(i*(n/100)+7))
	}
	body, err := json.Marshal(map[string]any{"limit": 100, "properties": []string{"commlog_key"},
		"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "commlog_key", "operator": "IN", "values": values}}}}})
	if err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/crm/v3/objects/communications/search", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(`"total":100`)) {
			b.Fatalf("status %d: %.300s", rec.Code, rec.Body.Bytes())
		}
	}
}

// BenchmarkSearchModifiedRange measures the query export's walk sends:
// hs_lastmodifieddate GTE cursor AND LT to, sorted by it ascending, 200 a
// page, over 200,000 communications modified one millisecond apart (with
// a search lag of 200 ms, as the sandbox runs in the benchmarks). One op
// is one request through the handler for the page at after=5000 of the
// window that starts in the middle of the records.
//
// On the 2-core CI-like machine (Go 1.26), with other test runs (chaos,
// fuzzing) sharing it, so ranges over runs:
//
//	full scan of tb.order, stable sort of 100,000 hits (before)  ≈ 140–185 ms/op  74 MB/op  1,624,600 allocs/op
//	walk of the hs_lastmodifieddate range index (after)          ≈ 4.8–5.6 ms/op  0.28 MB/op   3,305 allocs/op
//
// What is left is matching the 100,000 candidates (the total counts them
// all) and rendering the page. Writes pay for the two range indexes:
// a store.create and a store.update of another record (hs_timestamp set)
// took ≈ 1.1 µs before and ≈ 1.75 µs after, next to ≈ 11 µs per record of
// a 100-input batch create over HTTP (BenchmarkBatchCreate).
func BenchmarkSearchModifiedRange(b *testing.B) {
	clk := newClock()
	srv, err := New(Options{SearchLag: 200 * time.Millisecond, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	tb := srv.st.table("communications")
	const n = 200_000
	start := clk.Now()
	for i := range n {
		srv.st.create(tb, map[string]string{
			"hs_communication_channel_type": "WHATS_APP", "hs_communication_logged_from": "CRM",
			"hs_communication_body": fmt.Sprintf("message %d: see you tomorrow at ten", i),
			"hs_timestamp":          strconv.FormatInt(1714557600000+int64(i)*1000, 10),
		})
		srv.st.pending = srv.st.pending[:0]
		clk.Add(time.Millisecond)
	}
	clk.Add(time.Second)
	cursor, to := start.Add(n/2*time.Millisecond).UnixMilli(), clk.Now().UnixMilli()
	body, err := json.Marshal(map[string]any{"limit": 200, "after": "5000",
		"properties": []string{"hs_lastmodifieddate", "hs_object_id"},
		"sorts":      []any{map[string]any{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}},
		"filterGroups": []any{map[string]any{"filters": []any{
			map[string]any{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": strconv.FormatInt(cursor, 10)},
			map[string]any{"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": strconv.FormatInt(to, 10)},
		}}}})
	if err != nil {
		b.Fatal(err)
	}
	first := []byte(`"hs_object_id":"` + idString(firstID+n/2+5000) + `"`)
	h := srv.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/crm/v3/objects/communications/search", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(`"total":100000`)) || !bytes.Contains(rec.Body.Bytes(), first) {
			b.Fatalf("status %d: %.300s", rec.Code, rec.Body.Bytes())
		}
	}
}
