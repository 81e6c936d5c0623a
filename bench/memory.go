package bench

import (
	"context"
	"fmt"
	"path/filepath"
)

// MemoryResult is the import's peak RSS for a small and a large input,
// each measured as its own child process with the limits off.
type MemoryResult struct {
	SmallRows             int     `json:"small_rows"`
	SmallRSSMB            float64 `json:"small_rss_mb"`
	LargeRows             int     `json:"large_rows"`
	LargeRSSMB            float64 `json:"large_rss_mb"`
	Ratio                 float64 `json:"ratio"`
	LargeRecordsPerSecond float64 `json:"large_records_per_second"`
	LargeElapsedSeconds   float64 `json:"large_elapsed_seconds"`
	// RerunRSSMB is the same large import run again on its own ledger:
	// every key is loaded from the ledger and every row found done.
	RerunRSSMB   float64 `json:"rerun_rss_mb"`
	RerunRatio   float64 `json:"rerun_ratio"`
	RerunSeconds float64 `json:"rerun_seconds"`
	// RSSSource is "rusage" (exact) or "VmHWM" (polled; see importRun).
	RSSSource string `json:"rss_source"`
}

// unlimitedArgs returns the sandbox flags for "limits off": the unlimited
// tier enforces nothing and advertises a budget no import can fill, so the
// client learns from the headers that it may go flat out.
func unlimitedArgs() []string {
	return []string{"--tier", "unlimited", "--search-lag", "200ms"}
}

func measureMemory(ctx context.Context, opts Options, dir string) (*MemoryResult, error) {
	small, _, err := importRSS(ctx, opts, dir, "small", opts.Sizes.MemorySmall, false)
	if err != nil {
		return nil, err
	}
	large, rerun, err := importRSS(ctx, opts, dir, "large", opts.Sizes.MemoryLarge, true)
	if err != nil {
		return nil, err
	}
	const mb = 1 << 20
	r := &MemoryResult{
		SmallRows: opts.Sizes.MemorySmall, SmallRSSMB: round(float64(small.MaxRSS)/mb, 1),
		LargeRows: opts.Sizes.MemoryLarge, LargeRSSMB: round(float64(large.MaxRSS)/mb, 1),
		LargeRecordsPerSecond: round(large.Summary.RecordsPerSecond, 0),
		LargeElapsedSeconds:   round(large.Summary.ElapsedSeconds, 1),
		RSSSource:             small.RSSSource,
	}
	if large.RSSSource != small.RSSSource {
		r.RSSSource = small.RSSSource + "/" + large.RSSSource
	}
	r.RerunRSSMB, r.RerunSeconds = round(float64(rerun.MaxRSS)/mb, 1), round(rerun.Wall.Seconds(), 1)
	if small.MaxRSS > 0 {
		r.Ratio = round(float64(large.MaxRSS)/float64(small.MaxRSS), 2)
		r.RerunRatio = round(float64(rerun.MaxRSS)/float64(small.MaxRSS), 2)
	}
	return r, nil
}

// importRSS imports rows synthetic rows into a fresh sandbox process and
// returns the import process's run and, with rerun, that of the same
// command run again (which must find every row done).
func importRSS(ctx context.Context, opts Options, dir, name string, rows int, rerun bool) (first, again *importRun, err error) {
	sb, err := startSandbox(ctx, opts.Bin, unlimitedArgs()...)
	if err != nil {
		return nil, nil, err
	}
	defer sb.stop()
	contact, err := sb.contactID(ctx)
	if err != nil {
		return nil, nil, err
	}
	input, mappingPath := filepath.Join(dir, name+".csv"), filepath.Join(dir, name+".yaml")
	if _, _, err := writeChatCSV(input, rows, 0, contact); err != nil {
		return nil, nil, err
	}
	if err := writeMapping(mappingPath); err != nil {
		return nil, nil, err
	}
	ledger := filepath.Join(dir, name+".ledger.csv")
	run := func(created, done int) (*importRun, error) {
		r, err := runImport(ctx, opts.Bin, sb, mappingPath, ledger, input)
		switch {
		case err != nil:
			return nil, err
		case r.Summary.Created != int64(created) || r.Summary.AlreadyDone != int64(done):
			return nil, fmt.Errorf("%d-row import created %d and found %d done; want %d and %d", rows, r.Summary.Created, r.Summary.AlreadyDone, created, done)
		case r.MaxRSS == 0:
			return nil, fmt.Errorf("no peak RSS for the %d-row import: its rusage was this process's and /proc was unreadable", rows)
		}
		return r, nil
	}
	if first, err = run(rows, 0); err != nil || !rerun {
		return first, nil, err
	}
	again, err = run(0, rows)
	return first, again, err
}
