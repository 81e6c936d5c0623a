package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const reportLedger = `time,run_id,source_file,source_line,key,operation,state,hubspot_id,http_status,error_category,error_message,attempt,batch
2025-01-10T10:00:00Z,r1,a.txt,2,0000000000000000000000000000000a,create,created,101,0,,,1,1
2025-01-10T10:00:01Z,r1,a.txt,3,0000000000000000000000000000000b,create,failed,,207,VALIDATION_ERROR,Property values were not valid,1,1
2025-01-10T10:00:01Z,r1,a.txt,4,,create,invalid,,0,INVALID_ROW,a.txt:4: no timestamp,0,0
`

func TestRunReport(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "chats.ledger.csv")
	if err := os.WriteFile(ledger, []byte(reportLedger), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "r.html")
	if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		want       int
		wantFile   bool
		wantStdout string
		wantStderr string
	}{
		{"writes the page", []string{"report", "--ledger", ledger, "--out", out}, exitOK, true, "", "report written to " + out + ": 3 rows, 1 runs, showing run r1"},
		{"page to stdout", []string{"report", "--ledger", ledger, "--out", "-"}, exitOK, false, "<!DOCTYPE html>", ""},
		{"json summary", []string{"--json", "report", "--ledger", ledger, "--out", out}, exitOK, true, `"rows": 3`, ""},
		{"no ledger flag", []string{"report", "--out", out}, exitUsage, false, "", "ledger"},
		{"stray argument", []string{"report", "--ledger", ledger, "extra"}, exitUsage, false, "", `unexpected argument "extra"`},
		{"missing ledger", []string{"report", "--ledger", filepath.Join(dir, "nope.csv"), "--out", out}, exitFatal, false, "", "nope.csv"},
		{"unknown run", []string{"report", "--ledger", ledger, "--run", "r9", "--out", out}, exitFatal, false, "", `run "r9"`},
		{"unwritable out", []string{"report", "--ledger", ledger, "--out", filepath.Join(dir, "no-dir", "r.html")}, exitFatal, false, "", "no-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(out)
			e, outb, errb := testEnv(nil)
			got := run(context.Background(), e, append([]string{"commlog"}, tt.args...))
			if got != tt.want {
				t.Fatalf("exit %d, want %d; stderr:\n%s", got, tt.want, errb)
			}
			_, err := os.Stat(out)
			if exists := err == nil; exists != tt.wantFile {
				t.Errorf("output file exists = %v, want %v", exists, tt.wantFile)
			}
			if !strings.Contains(outb.String(), tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, outb)
			}
			if !strings.Contains(errb.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, errb)
			}
			if tt.wantFile {
				page, _ := os.ReadFile(out)
				if !strings.Contains(string(page), `id="state-created" data-n="1"`) {
					t.Errorf("page lacks the created count:\n%.400s", page)
				}
			}
			left, _ := filepath.Glob(filepath.Join(dir, "out", ".commlog-report-*"))
			if len(left) > 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
}

func TestRunReportJSON(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "l.csv")
	if err := os.WriteFile(ledger, []byte(reportLedger), 0o644); err != nil {
		t.Fatal(err)
	}
	e, outb, _ := testEnv(nil)
	if code := run(context.Background(), e, []string{"commlog", "--json", "report", "--ledger", ledger, "--out", filepath.Join(dir, "r.html")}); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var got reportSummary
	if err := json.Unmarshal(outb.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	want := reportSummary{Out: filepath.Join(dir, "r.html"), Ledger: ledger, Events: 3, Rows: 3, Runs: 1, RunID: "r1",
		States: map[string]int64{"created": 1, "failed": 1, "invalid": 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
