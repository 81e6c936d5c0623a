package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Measurements a run can take, in the order Run takes them.
const (
	Rate     = "rate"
	Pipeline = "pipeline"
	Memory   = "memory"
	Export   = "export"
)

// All lists every measurement, in the order Run takes them. Memory comes
// before the in-process measurements: a child's peak RSS on Linux is at
// least the parent's at the moment it was spawned (exec records the old
// address space's high-water mark, and os/exec spawns with a shared one),
// so the bench process must still be small then; runImport checks it.
func All() []string { return []string{Rate, Memory, Pipeline, Export} }

// Sizes are the workloads. Defaults are the issue's; tests shrink them.
type Sizes struct {
	RateRows       int   // rows imported at Pro limits (40,000)
	PipelineBytes  int64 // size of the local-pipeline CSV (200 MB)
	MemorySmall    int   // rows of the small memory run (10,000)
	MemoryLarge    int   // rows of the large memory run (1,000,000)
	ExportFull     int   // records in the full export (200,000)
	ExportIncrease int   // changes in the incremental export (20,000)
}

// DefaultSizes are the workloads the issue names.
func DefaultSizes() Sizes {
	return Sizes{
		RateRows: 40_000, PipelineBytes: 200 << 20, MemorySmall: 10_000, MemoryLarge: 1_000_000,
		ExportFull: 200_000, ExportIncrease: 20_000,
	}
}

// Options configure one bench run.
type Options struct {
	// Bin is the commlog binary the sandbox and imports run as.
	Bin string
	// Dir holds the synthetic inputs, ledgers and exports; it should be
	// empty or not exist, and may be removed after the run.
	Dir string
	// Only lists the measurements to take (nil: All()).
	Only   []string
	Sizes  Sizes
	Logger *slog.Logger // progress, on stderr; nil discards
	// ProfileDir, when set, receives a CPU profile of the in-process
	// pipeline run (pipeline.cpu.pprof), to see where its time goes.
	ProfileDir string
}

// Results is what bench/results.json holds.
type Results struct {
	StartedAt string `json:"started_at"`
	Commit    string `json:"commit,omitempty"`
	// CommlogVersion is what the measured binary's --version says.
	CommlogVersion string          `json:"commlog_version,omitempty"`
	GoVersion      string          `json:"go_version"`
	OS             string          `json:"os"`
	CPUs           int             `json:"cpus"`
	ElapsedSeconds float64         `json:"elapsed_seconds"`
	Rate           *RateResult     `json:"rate,omitempty"`
	Pipeline       *PipelineResult `json:"pipeline,omitempty"`
	Memory         *MemoryResult   `json:"memory,omitempty"`
	Export         *ExportResult   `json:"export,omitempty"`
	Goals          []GoalResult    `json:"goals"`
	OK             bool            `json:"ok"`
	Errors         []string        `json:"errors,omitempty"`
}

// Run takes the measurements opts asks for, one after another (they must
// not share the machine), and checks the goals. A measurement that cannot
// be taken is recorded in Results.Errors and counts as a missed goal; the
// others still run. The returned error is only for a run that could not
// start at all.
func Run(ctx context.Context, opts Options) (*Results, error) {
	if opts.Bin == "" {
		return nil, errors.New("bench: no commlog binary")
	}
	if _, err := os.Stat(opts.Bin); err != nil {
		return nil, fmt.Errorf("bench: commlog binary: %w", err)
	}
	if opts.Dir == "" {
		return nil, errors.New("bench: no work directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Sizes == (Sizes{}) {
		opts.Sizes = DefaultSizes()
	}
	only := opts.Only
	if len(only) == 0 {
		only = All()
	}
	for _, m := range only {
		if !slices.Contains(All(), m) {
			return nil, fmt.Errorf("bench: unknown measurement %q (want %v)", m, All())
		}
	}
	start := time.Now()
	version, err := exec.CommandContext(ctx, opts.Bin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("bench: %s --version: %w", opts.Bin, err)
	}
	res := &Results{
		CommlogVersion: strings.TrimSpace(string(version)),
		StartedAt:      start.UTC().Format(time.RFC3339), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU(),
	}
	fail := func(what string, err error) {
		opts.Logger.Error("measurement failed", "measurement", what, "err", err)
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", what, err))
	}
	for _, m := range All() {
		if !slices.Contains(only, m) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dir := filepath.Join(opts.Dir, m)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		opts.Logger.Info("measuring", "measurement", m)
		var err error
		switch m {
		case Rate:
			res.Rate, err = measureRate(ctx, opts, dir)
		case Pipeline:
			res.Pipeline, err = measurePipeline(ctx, opts, dir)
		case Memory:
			res.Memory, err = measureMemory(ctx, opts, dir)
		case Export:
			res.Export, err = measureExport(ctx, opts, dir)
		}
		if err != nil {
			fail(m, err)
		}
		// Inputs of one measurement are not needed by the next; a 200 MB
		// CSV should not outlive its measurement on a small disk.
		_ = os.RemoveAll(dir)
	}
	res.ElapsedSeconds = round(time.Since(start).Seconds(), 1)
	res.Goals = checkGoals(res)
	res.OK = len(res.Errors) == 0
	for _, g := range res.Goals {
		res.OK = res.OK && g.OK
	}
	return res, nil
}

// round rounds v to n decimals, for readable JSON.
func round(v float64, n int) float64 {
	p := 1.0
	for range n {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
