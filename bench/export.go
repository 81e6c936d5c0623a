package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/export"
)

// ExportResult is the speed of a full export and of an incremental one,
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
	client, err := crm.New(crm.Options{BaseURL: sb.url, Token: token, UserAgent: "commlog-bench"})
	if err != nil {
		return nil, err
	}
	state := filepath.Join(dir, "export.state.json")
	// Let the last writes age past the safety lag, so that the full run's
	// mark covers them and the incremental run sees only the changes.
	if err := sleep(ctx, exportSafetyLag+500*time.Millisecond); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fsum, err := export.Run(ctx, export.Options{
		API: client, Output: filepath.Join(dir, "full.csv"), State: state, SafetyLag: exportSafetyLag, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("full export: %w", err)
	}
	if fsum.Mode != export.ModeInitial {
		return nil, fmt.Errorf("full export ran as %q, want %q", fsum.Mode, export.ModeInitial)
	}
	if _, err := importAll(ctx, opts, sb, mappingPath, filepath.Join(dir, "second.ledger.csv"), second, changes); err != nil {
		return nil, err
	}
	if err := sleep(ctx, exportSafetyLag+500*time.Millisecond); err != nil {
		return nil, err
	}
	isum, err := export.Run(ctx, export.Options{
		API: client, Output: filepath.Join(dir, "incremental.csv"), State: state, SafetyLag: exportSafetyLag, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("incremental export: %w", err)
	}
	return &ExportResult{
		FullExpected: full, FullRecords: fsum.Records, FullSeconds: round(fsum.ElapsedSeconds, 2),
		FullRecordsPerSecond: round(float64(fsum.Records)/fsum.ElapsedSeconds, 0), FullRequests: fsum.Requests,
		IncrementalExpected: changes, IncrementalRecords: isum.Records, IncrementalSeconds: round(isum.ElapsedSeconds, 2),
		IncrementalRecordsPerSecond: round(float64(isum.Records)/isum.ElapsedSeconds, 0), IncrementalRequests: isum.Requests,
	}, nil
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
