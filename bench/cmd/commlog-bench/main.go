// Command commlog-bench takes commlog's proof figures (see bench/README.md):
// it prints a table, writes the results as JSON, and exits 1 when a goal
// is missed, so that a regression cannot hide. `make bench` runs it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/commlog/commlog/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("commlog-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin/commlog", "the commlog binary to measure")
	out := fs.String("out", "bench/results.json", "write the results here ('' = nowhere)")
	dir := fs.String("dir", "", "work directory for inputs and ledgers (default: a temporary one, removed afterwards)")
	only := fs.String("only", "", "comma-separated measurements to take: "+strings.Join(bench.All(), ", ")+" (default: all)")
	profile := fs.String("profile", "", "write a CPU profile of the local pipeline run into this directory")
	small := fs.Bool("small", false, "tiny workloads, to check the harness itself (the goals are not meaningful)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	opts := bench.Options{Bin: *bin, Dir: *dir, Logger: logger, Sizes: bench.DefaultSizes(), ProfileDir: *profile}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	if *small {
		opts.Sizes = bench.Sizes{RateRows: 2000, PipelineBytes: 4 << 20, MemorySmall: 1000, MemoryLarge: 20_000,
			ExportFull: 5000, ExportIncrease: 500}
	}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "commlog-bench-")
		if err != nil {
			fmt.Fprintf(stderr, "commlog-bench: %v\n", err)
			return 1
		}
		defer os.RemoveAll(d)
		opts.Dir = d
	}
	res, err := bench.Run(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "commlog-bench: %v\n", err)
		return 1
	}
	res.Commit = commit(ctx)
	if err := bench.WriteTable(stdout, res); err != nil {
		fmt.Fprintf(stderr, "commlog-bench: %v\n", err)
		return 1
	}
	if *out != "" && !*small {
		if err := writeJSON(*out, res); err != nil {
			fmt.Fprintf(stderr, "commlog-bench: %v\n", err)
			return 1
		}
	}
	if !res.OK {
		return 1
	}
	return 0
}

// commit names the measured source: git describe of the work tree.
func commit(ctx context.Context) string {
	b, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// writeJSON replaces path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".results-*.json")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
