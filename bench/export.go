package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ExportResult is the speed of `commlog export`, full and incremental,
// against a sandbox process with the limits off.
type ExportResult struct {
	FullExpected                int     `json:"full_expected"`
	FullRecords                 int64   `json:"full_records"`
	FullSeconds                 float64 `json:"full_seconds"`
	FullRecordsPerSecond        float64 `json:"full_records_per_second"`
	FullRequests                int64   `json:"full_requests"`
	IncrementalExpected         int     `json:"incremental_expected"`
	IncrementalRecords          int64   `json:"incremental_records"`
	IncrementalSeconds          float64 `json:"incremental_seconds"`
	IncrementalRecordsPerSecond float64 `json:"incremental_records_per_second"`
	IncrementalRequests         int64   `json:"incremental_requests"`
}

// exportSafetyLag is the incremental window's distance from "now": the
// sandbox's search lag (200 ms) with room to spare.
const exportSafetyLag = 2 * time.Second

func measureExport(ctx context.Context, opts Options, dir string) (*ExportResult, error) {
	sb, err := startSandbox(ctx, opts.Bin, unlimitedArgs()...)
	if err != nil {
		return nil, err
	}
	defer sb.stop()
	contact, err := sb.contactID(ctx)
	if err != nil {
		return nil, err
	}
	mappingPath := filepath.Join(dir, "export.yaml")
	if err := writeMapping(mappingPath); err != nil {
		return nil, err
	}
	full, changes := opts.Sizes.ExportFull, opts.Sizes.ExportIncrease
	// The changes are rows after the first full ones: the same generator
	// numbers them on, so their keys are new.
	all := filepath.Join(dir, "all.csv")
	if _, _, err := writeChatCSV(all, full+changes, 0, contact); err != nil {
		return nil, err
	}
	first, second := filepath.Join(dir, "first.csv"), filepath.Join(dir, "second.csv")
	if err := splitCSV(all, first, second, full); err != nil {
		return nil, err
	}
	if _, err := importAll(ctx, opts, sb, mappingPath, filepath.Join(dir, "first.ledger.csv"), first, full); err != nil {
		return nil, err
	}
	state := filepath.Join(dir, "export.state.json")
	// Let the last writes age past the safety lag, so that the full run's
	// mark covers them and the incremental run sees only the changes.
	if err := sleep(ctx, exportSafetyLag+500*time.Millisecond); err != nil {
		return nil, err
	}
	fsum, err := runExport(ctx, opts.Bin, sb, filepath.Join(dir, "full.csv"), state)
	if err != nil {
		return nil, fmt.Errorf("full export: %w", err)
	}
	if fsum.Mode != "initial" {
		return nil, fmt.Errorf("full export ran as %q, want the first run of a state file", fsum.Mode)
	}
	if _, err := importAll(ctx, opts, sb, mappingPath, filepath.Join(dir, "second.ledger.csv"), second, changes); err != nil {
		return nil, err
	}
	if err := sleep(ctx, exportSafetyLag+500*time.Millisecond); err != nil {
		return nil, err
	}
	isum, err := runExport(ctx, opts.Bin, sb, filepath.Join(dir, "incremental.csv"), state)
	if err != nil {
		return nil, fmt.Errorf("incremental export: %w", err)
	}
	if isum.Mode != "incremental" {
		return nil, fmt.Errorf("incremental export ran as %q", isum.Mode)
	}
	return &ExportResult{
		FullExpected: full, FullRecords: fsum.Records, FullSeconds: round(fsum.ElapsedSeconds, 2),
		FullRecordsPerSecond: round(float64(fsum.Records)/fsum.ElapsedSeconds, 0), FullRequests: fsum.Requests,
		IncrementalExpected: changes, IncrementalRecords: isum.Records, IncrementalSeconds: round(isum.ElapsedSeconds, 2),
		IncrementalRecordsPerSecond: round(float64(isum.Records)/isum.ElapsedSeconds, 0), IncrementalRequests: isum.Requests,
	}, nil
}

// exportSummary is the part of `commlog --json export`'s summary the bench reads.
type exportSummary struct {
	Mode           string  `json:"mode"`
	Records        int64   `json:"records"`
	Requests       int64   `json:"requests"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
}

// runExport runs `commlog export --state` as a child process against sb.
func runExport(ctx context.Context, bin string, sb *sandboxProc, output, state string) (*exportSummary, error) {
	cmd := exec.CommandContext(ctx, bin, "--base-url", sb.url, "--no-progress", "--json", "--log-level", "warn",
		"export", "--output", output, "--state", state, "--safety-lag", exportSafetyLag.String())
	cmd.Env = []string{"HUBSPOT_ACCESS_TOKEN=" + token}
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("commlog export: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var sum exportSummary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		return nil, fmt.Errorf("commlog export --json: reading the summary: %w", err)
	}
	if sum.ElapsedSeconds <= 0 {
		return nil, fmt.Errorf("commlog export --json: no elapsed_seconds in %s", stdout.Bytes())
	}
	return &sum, nil
}

// importAll imports input and requires every one of its rows created.
func importAll(ctx context.Context, opts Options, sb *sandboxProc, mappingPath, ledger, input string, rows int) (*importRun, error) {
	run, err := runImport(ctx, opts.Bin, sb, mappingPath, ledger, input)
	if err != nil {
		return nil, err
	}
	if run.Summary.Created != int64(rows) {
		return nil, fmt.Errorf("import of %s created %d of %d rows", input, run.Summary.Created, rows)
	}
	return run, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
