package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
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
	// The large import's records archived (--ledger, a snapshot first)
	// and restored from that snapshot; ratios are to the large import.
	ArchiveRSSMB   float64 `json:"archive_rss_mb"`
	ArchiveRatio   float64 `json:"archive_ratio"`
	ArchiveSeconds float64 `json:"archive_seconds"`
	RestoreRSSMB   float64 `json:"restore_rss_mb"`
	RestoreRatio   float64 `json:"restore_ratio"`
	RestoreSeconds float64 `json:"restore_seconds"`
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
	smallRuns, err := importRSS(ctx, opts, dir, "small", opts.Sizes.MemorySmall, false)
	if err != nil {
		return nil, err
	}
	runs, err := importRSS(ctx, opts, dir, "large", opts.Sizes.MemoryLarge, true)
	if err != nil {
		return nil, err
	}
	small, large, rerun := smallRuns.first, runs.first, runs.again
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
	r.ArchiveRSSMB, r.ArchiveSeconds = round(float64(runs.archive.MaxRSS)/mb, 1), round(runs.archive.Wall.Seconds(), 1)
	r.RestoreRSSMB, r.RestoreSeconds = round(float64(runs.restore.MaxRSS)/mb, 1), round(runs.restore.Wall.Seconds(), 1)
	if large.MaxRSS > 0 {
		r.ArchiveRatio = round(float64(runs.archive.MaxRSS)/float64(large.MaxRSS), 2)
		r.RestoreRatio = round(float64(runs.restore.MaxRSS)/float64(large.MaxRSS), 2)
	}
	return r, nil
}

// memoryRuns are the child processes of one importRSS.
type memoryRuns struct {
	first, again, archive, restore *importRun
}

// importRSS imports rows synthetic rows into a fresh sandbox process and
// returns the import process's run and, with all, that of the same
// command run again (which must find every row done), of archiving every
// record it created and of restoring them from the archive's snapshot.
func importRSS(ctx context.Context, opts Options, dir, name string, rows int, all bool) (*memoryRuns, error) {
	sb, err := startSandbox(ctx, opts.Bin, unlimitedArgs()...)
	if err != nil {
		return nil, err
	}
	defer sb.stop()
	contact, err := sb.contactID(ctx)
	if err != nil {
		return nil, err
	}
	input, mappingPath := filepath.Join(dir, name+".csv"), filepath.Join(dir, name+".yaml")
	if _, _, err := writeChatCSV(input, rows, 0, contact); err != nil {
		return nil, err
	}
	if err := writeMapping(mappingPath); err != nil {
		return nil, err
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
	var out memoryRuns
	if out.first, err = run(rows, 0); err != nil || !all {
		return &out, err
	}
	if out.again, err = run(0, rows); err != nil {
		return nil, err
	}
	snapshot := filepath.Join(dir, name+".snapshot.jsonl")
	out.archive, err = runCommlog(ctx, opts.Bin, sb, "archive", "--ledger", ledger, "--yes",
		"--max-delete", strconv.Itoa(rows), "--snapshot", snapshot)
	if err := checkMeasured(out.archive, err, "archive of the import", rows, func(s importSummary) int64 { return s.Done }); err != nil {
		return nil, err
	}
	out.restore, err = runCommlog(ctx, opts.Bin, sb, "restore", "--snapshot", snapshot, "--search-settle", "1s")
	if err := checkMeasured(out.restore, err, "restore of the archive", rows, func(s importSummary) int64 { return s.Created }); err != nil {
		return nil, err
	}
	return &out, nil
}

// checkMeasured requires a finished child (r, err) to have done rows
// records, as done reads its summary, and to have a peak RSS.
func checkMeasured(r *importRun, err error, what string, rows int, done func(importSummary) int64) error {
	switch {
	case err != nil:
		return err
	case done(r.Summary) != int64(rows):
		return fmt.Errorf("%s: %d of %d records done", what, done(r.Summary), rows)
	case r.MaxRSS == 0:
		return fmt.Errorf("%s: no peak RSS (its rusage was this process's and /proc was unreadable)", what)
	}
	return nil
}
