package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

// exportPortal starts a sandbox holding n communications and returns the
// arguments that point commlog at it and the environment with its token.
func exportPortal(t *testing.T, n int) ([]string, map[string]string) {
	t.Helper()
	const token = "export-test-token"
	srv, err := sandbox.New(sandbox.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	c, err := crm.New(crm.Options{BaseURL: ts.URL, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	in := make([]crm.CreateInput, n)
	for i := range in {
		in[i] = crm.CreateInput{Properties: map[string]string{
			"hs_communication_channel_type": "SMS", "hs_communication_logged_from": "CRM",
			"hs_communication_body": fmt.Sprintf("text %d, with a comma\nand a newline", i), "hs_timestamp": "1714521600000",
		}}
	}
	if _, err := c.BatchCreate(context.Background(), crm.Communications, in); err != nil {
		t.Fatal(err)
	}
	return []string{"commlog", "--base-url", ts.URL, "--no-progress"}, map[string]string{"HUBSPOT_ACCESS_TOKEN": token}
}

func TestExportCommand(t *testing.T) {
	base, vars := exportPortal(t, 5)
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		want     int
		file     string // output file to check, "" = stdout
		rows     int    // < 0: between 1 and -rows
		mode     string // --json summary mode, "" = no --json
		wantText string // expected on stderr
	}{
		{name: "csv file", args: []string{"export", "-o", filepath.Join(dir, "a.csv"), "--associations", "contacts"},
			file: filepath.Join(dir, "a.csv"), rows: 5, wantText: "export summary (full)"},
		{name: "stdout", args: []string{"export", "--properties", "hs_communication_body"}, rows: 5},
		{name: "jsonl first incremental", args: []string{"--json", "export", "-o", filepath.Join(dir, "b.jsonl"), "--state", filepath.Join(dir, "s.json"), "--safety-lag", "1ms"},
			file: filepath.Join(dir, "b.jsonl"), rows: 5, mode: "initial"},
		{name: "jsonl next incremental", args: []string{"--json", "export", "-o", filepath.Join(dir, "c.jsonl"), "--state", filepath.Join(dir, "s.json"), "--safety-lag", "1ms"},
			file: filepath.Join(dir, "c.jsonl"), rows: -5, mode: "incremental"}, // the records changed at the mark come again
		{name: "bad format", args: []string{"export", "--format", "xml"}, want: exitUsage},
		{name: "unknown extension", args: []string{"export", "-o", filepath.Join(dir, "x.txt")}, want: exitUsage},
		{name: "json summary on the data stream", args: []string{"--json", "export"}, want: exitUsage},
		{name: "argument", args: []string{"export", "out.csv"}, want: exitUsage},
		{name: "unknown property", args: []string{"export", "-o", filepath.Join(dir, "d.csv"), "--properties", "no_such"}, want: exitFatal, wantText: "no_such"},
		{name: "unknown association", args: []string{"export", "-o", filepath.Join(dir, "d.csv"), "--associations", "owners"}, want: exitFatal, wantText: "owners"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, out, errb := testEnv(vars)
			if got := run(context.Background(), e, append(append([]string{}, base...), tt.args...)); got != tt.want {
				t.Fatalf("exit %d, want %d; stderr:\n%s", got, tt.want, errb)
			}
			if !strings.Contains(errb.String(), tt.wantText) {
				t.Errorf("stderr does not mention %q:\n%s", tt.wantText, errb)
			}
			if tt.want != exitOK {
				return
			}
			data := out.Bytes()
			if tt.file != "" {
				var err error
				if data, err = os.ReadFile(tt.file); err != nil {
					t.Fatal(err)
				}
			}
			rows := 0
			if strings.HasSuffix(tt.file, ".jsonl") {
				rows = bytes.Count(data, []byte("\n"))
			} else {
				recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
				if err != nil {
					t.Fatalf("output is not CSV: %v\n%s", err, data)
				}
				rows = len(recs) - 1
			}
			if tt.rows >= 0 && rows != tt.rows || tt.rows < 0 && (rows < 1 || rows > -tt.rows) {
				t.Errorf("%d rows, want %d", rows, tt.rows)
			}
			if tt.mode != "" {
				var sum struct {
					Mode    string `json:"mode"`
					Records int    `json:"records"`
				}
				if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
					t.Fatalf("--json summary: %v\n%s", err, out)
				}
				if sum.Mode != tt.mode || sum.Records != rows {
					t.Errorf("summary mode %q records %d, want %q %d", sum.Mode, sum.Records, tt.mode, rows)
				}
			}
		})
	}
}

// TestExportInterrupted: a run stopped by its context exits 5 and leaves
// neither an output file nor a state file behind.
func TestExportInterrupted(t *testing.T) {
	base, vars := exportPortal(t, 3)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, _, errb := testEnv(vars)
	args := append(base, "export", "-o", filepath.Join(dir, "a.csv"), "--state", filepath.Join(dir, "s.json"))
	if got := run(ctx, e, args); got != exitStopped {
		t.Fatalf("exit %d, want %d; stderr:\n%s", got, exitStopped, errb)
	}
	for _, f := range []string{"a.csv", "s.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s exists after an interrupted run", f)
		}
	}
}
