package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/commlog/commlog/batch"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, 0},
		{"fatal", errors.New("disk full"), 1},
		{"usage", usagef("bad flag"), 2},
		{"rows failed", fmt.Errorf("3 rows: %w", batch.ErrRowsFailed), 3},
		{"in doubt", fmt.Errorf("2 rows: %w", batch.ErrInDoubt), 4},
		{"stopped", fmt.Errorf("max duration: %w", batch.ErrStopped), 5},
		{"interrupted", fmt.Errorf("import: %w", context.Canceled), 5},
		{"refused", fmt.Errorf("too many: %w", batch.ErrRefused), 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// testEnv runs commlog in-process with buffers for stdout and stderr.
func testEnv(vars map[string]string) (*env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &env{
		stdin:  bytes.NewReader(nil),
		stdout: &out, stderr: &errb,
		getenv: func(k string) string { return vars[k] },
	}, &out, &errb
}

func TestRunUsageAndHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"help", []string{"commlog", "--help"}, 0},
		{"unknown flag", []string{"commlog", "--no-such-flag"}, 2},
		{"bad log level", []string{"commlog", "--log-level", "loud", "--help"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, errb := testEnv(nil)
			if got := run(context.Background(), e, tt.args); got != tt.want {
				t.Errorf("exit %d, want %d; stderr: %s", got, tt.want, errb)
			}
		})
	}
}

func TestMissingRequiredFlagIsUsage(t *testing.T) {
	for _, cmd := range []string{"import", "validate"} {
		e, _, errb := testEnv(nil)
		if got := run(context.Background(), e, []string{"commlog", cmd, "x.csv"}); got != exitUsage {
			t.Errorf("commlog %s without --mapping: exit %d, want %d; stderr: %s", cmd, got, exitUsage, errb)
		}
	}
}
