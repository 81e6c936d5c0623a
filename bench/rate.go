package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/commlog/commlog/batch"
)

// The sandbox's Pro tier: 190 requests per rolling 10 s (hubspot-api.md §3).
const (
	proWindowMax = 190
	proWindow    = 10 * time.Second
)

// RateResult is the rate-budget measurement: an import at Pro limits with
// 250 ms ± 100 ms of latency.
type RateResult struct {
	Rows          int     `json:"rows"`
	Latency       string  `json:"latency"`
	WindowMax     int     `json:"window_max"`
	WindowSeconds float64 `json:"window_seconds"`
	// LearntWindowMax is the budget the client learnt from the headers
	// (its run log); it must equal WindowMax.
	LearntWindowMax int     `json:"learnt_window_max"`
	Created         int64   `json:"created"`
	Requests        int64   `json:"requests"`
	ElapsedSeconds  float64 `json:"elapsed_seconds"`
	// Allowed = WindowMax × ElapsedSeconds ÷ WindowSeconds.
	Allowed            float64 `json:"allowed"`
	Utilisation        float64 `json:"utilisation"`
	RateLimited        int64   `json:"rate_limited"`
	SandboxRequests    int64   `json:"sandbox_requests"`
	SandboxRateLimited int64   `json:"sandbox_rate_limited"`
	RecordsPerSecond   float64 `json:"records_per_second"`
	// PeakWindowRequests is the most requests the run log's per-second
	// samples show inside any WindowSeconds span: how full the governor
	// fills one window (its 2 % headroom makes 186 of 190 the most).
	PeakWindowRequests int64 `json:"peak_window_requests"`
}

// utilisation is requests sent ÷ requests allowed over the whole run.
func utilisation(requests int64, elapsed float64, windowMax int, window time.Duration) (allowed, u float64) {
	if elapsed <= 0 || window <= 0 {
		return 0, 0
	}
	allowed = float64(windowMax) * elapsed / window.Seconds()
	return allowed, float64(requests) / allowed
}

func measureRate(ctx context.Context, opts Options, dir string) (*RateResult, error) {
	sb, err := startSandbox(ctx, opts.Bin, "--tier", "pro", "--latency", "250ms", "--jitter", "100ms",
		"--search-lag", "200ms", "--seed", "1")
	if err != nil {
		return nil, err
	}
	defer sb.stop()
	contact, err := sb.contactID(ctx)
	if err != nil {
		return nil, err
	}
	input, mappingPath, ledger := filepath.Join(dir, "rate.csv"), filepath.Join(dir, "rate.yaml"), filepath.Join(dir, "rate.ledger.csv")
	rows := opts.Sizes.RateRows
	if _, _, err := writeChatCSV(input, rows, 0, contact); err != nil {
		return nil, err
	}
	if err := writeMapping(mappingPath); err != nil {
		return nil, err
	}
	run, err := runImport(ctx, opts.Bin, sb, mappingPath, ledger, input)
	if err != nil {
		return nil, err
	}
	st, err := sb.stats(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := lastRunRecord(ledger)
	if err != nil {
		return nil, err
	}
	s := run.Summary
	allowed, u := utilisation(s.Requests, s.ElapsedSeconds, proWindowMax, proWindow)
	return &RateResult{
		Rows: rows, Latency: "250ms ± 100ms", WindowMax: proWindowMax, WindowSeconds: proWindow.Seconds(),
		LearntWindowMax: rec.WindowMax, Created: s.Created, Requests: s.Requests,
		ElapsedSeconds: s.ElapsedSeconds, Allowed: round(allowed, 1), Utilisation: round(u, 4),
		RateLimited: s.RateLimited, SandboxRequests: st.Requests, SandboxRateLimited: st.RateLimited,
		RecordsPerSecond: round(s.RecordsPerSecond, 1), PeakWindowRequests: peakWindow(rec.Samples, proWindow),
	}, nil
}

// lastRunRecord reads the last run of the run log beside ledger.
func lastRunRecord(ledger string) (*batch.RunRecord, error) {
	path := batch.RunLogPath(ledger)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("run log: %w", err)
	}
	defer f.Close()
	var last []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		last = append(last[:0], sc.Bytes()...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("run log %s: %w", path, err)
	}
	if len(last) == 0 {
		return nil, errors.New("run log " + path + " is empty")
	}
	var rec batch.RunRecord
	if err := json.Unmarshal(last, &rec); err != nil {
		return nil, fmt.Errorf("run log %s: %w", path, err)
	}
	return &rec, nil
}

// peakWindow is the most requests between two samples at most window apart.
func peakWindow(samples []batch.Sample, window time.Duration) int64 {
	var peak int64
	for i := range samples {
		for j := i + 1; j < len(samples) && samples[j].Seconds-samples[i].Seconds <= window.Seconds(); j++ {
			peak = max(peak, samples[j].Requests-samples[i].Requests)
		}
	}
	return peak
}
