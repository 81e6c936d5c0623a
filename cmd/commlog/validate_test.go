package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/batch"
	"github.com/commlog/commlog/source"
)

// sliceReader yields fixed records, as a CSV reader would (one shared Names slice).
type sliceReader struct {
	recs []*source.Record
	i    int
}

func (r *sliceReader) Next() (*source.Record, error) {
	if r.i >= len(r.recs) {
		return nil, io.EOF
	}
	r.i++
	return r.recs[r.i-1], nil
}
func (r *sliceReader) Format() string { return "csv" }
func (r *sliceReader) Close() error   { return nil }

func fakeOpen(files map[string][][]string) func(string, source.Options) (source.Reader, error) {
	return func(path string, _ source.Options) (source.Reader, error) {
		rows, ok := files[path]
		if !ok {
			return nil, &os.PathError{Op: "open", Path: path, Err: os.ErrNotExist}
		}
		names := rows[0]
		r := &sliceReader{}
		for i, v := range rows[1:] {
			r.recs = append(r.recs, &source.Record{File: path, Line: i + 2, Names: names, Values: v})
		}
		return r, nil
	}
}

const validateMapping = `version: 1
source: {format: csv, timezone: Europe/Berlin}
communication:
  channel: {column: channel, map: {wa: WHATS_APP, sms: SMS}}
  timestamp: {column: sent_at, layout: "2006-01-02 15:04:05"}
  body: {column: text}
key: [sent_at, text]
skip: {column: kind, in: [system]}
`

func TestRunValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("m.yaml", validateMapping)
	withAssoc := write("assoc.yaml", validateMapping+"associations:\n  - {to: contacts, by: phone, column: phone, default_region: DE}\n")
	contacts := write("contacts.csv", "Record ID,Phone Number\n1,+49 151 11111111\n2,0151 22222222\n3,0151 22222222\n")
	header := []string{"channel", "sent_at", "text", "kind", "phone"}
	files := map[string][][]string{
		"a.csv": {header,
			{"wa", "2024-05-01 12:00:00", "hello", "message", "+49 151 11111111"},
			{"sms", "2024-05-01 12:01:00", "sys", "system", ""},
			{"xx", "2024-05-01 12:02:00", "bad channel", "message", ""},
			{"wa", "2024-03-31 02:30:00", "gap", "message", ""},
			{"wa", "2024-05-01 12:03:00", "two", "message", "0151 22222222"},
		},
		"b.csv": {header,
			{"wa", "2024-05-01 12:00:00", "hello", "message", "+49 151 11111111"}, // same key as a.csv:2
			{"wa", "2024-05-01 12:05:00", "unknown", "message", "+49 151 33333333"},
		},
		"ok.csv": {header, {"wa", "2024-05-01 12:00:00", "hello", "message", "+49 151 11111111"}},
	}
	tests := []struct {
		name       string
		o          validateOptions
		wantErr    bool
		wantOut    []string
		wantStderr []string
		report     *validateReport
	}{
		{name: "counts and first errors", o: validateOptions{Mapping: plain, Inputs: []string{"a.csv", "b.csv"}, MaxErrors: 10}, wantErr: true,
			wantOut: []string{"rows            7", "valid           3", "skipped         1", "kind=system   1", "invalid         2", "duplicate keys  1",
				"unresolved      not checked (offline)",
				`a.csv:4: channel: "xx" is not in map (mapped: sms, wa)`,
				`a.csv:5: timestamp: "2024-03-31 02:30:00" does not exist in Europe/Berlin`,
				"b.csv:2: same key as a.csv:2 (would be imported once)"},
			wantStderr: []string{"no associations"}},
		{name: "max errors", o: validateOptions{Mapping: plain, Inputs: []string{"a.csv"}, MaxErrors: 1, JSON: true}, wantErr: true,
			report: &validateReport{Rows: 5, Valid: 2, Skipped: 1, Invalid: 2, SkipReason: []count{{"kind=system", 1}},
				Errors:   []string{`a.csv:4: channel: "xx" is not in map (mapped: sms, wa)`},
				Warnings: []string{"the mapping has no associations: the communications would appear on no timeline"}}},
		{name: "clean", o: validateOptions{Mapping: withAssoc, Inputs: []string{"ok.csv"}, MaxErrors: 10},
			wantOut: []string{"valid           1", "invalid         0"}, wantStderr: []string{"not resolved (offline)"}},
		{name: "contacts file", o: validateOptions{Mapping: withAssoc, Inputs: []string{"a.csv", "b.csv"}, MaxErrors: 10, ContactsFile: contacts}, wantErr: true,
			wantOut: []string{"valid           1", "unresolved      2", "a.csv:6: unresolved: 2 contacts with phone (value hidden; --log-pii shows it)",
				"b.csv:3: unresolved: no contacts with phone (value hidden"}},
		{name: "contacts file pii", o: validateOptions{Mapping: withAssoc, Inputs: []string{"b.csv"}, MaxErrors: 10, ContactsFile: contacts, LogPII: true}, wantErr: true,
			wantOut: []string{`b.csv:3: unresolved: no contacts with phone "+4915133333333"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.open = fakeOpen(files)
			var out, errb bytes.Buffer
			err := runValidate(context.Background(), tt.o, &out, &errb)
			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v, want error %v\n%s", err, tt.wantErr, out.String())
			}
			if err != nil && (!errors.Is(err, batch.ErrRowsFailed) || exitCode(err) != exitRowsNotOK) {
				t.Errorf("err = %v, want exit 3 (ErrRowsFailed)", err)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			if tt.report != nil {
				var got validateReport
				if err := json.Unmarshal(out.Bytes(), &got); err != nil {
					t.Fatalf("JSON: %v\n%s", err, out.String())
				}
				if diff := cmp.Diff(*tt.report, got); diff != "" {
					t.Errorf("report (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestRunValidateFailures(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nsource: {format: xls}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(good, []byte(validateMapping), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		o    validateOptions
		want string
		code int
	}{
		{"bad mapping", context.Background(), validateOptions{Mapping: bad, Inputs: []string{"a.csv"}},
			`bad.yaml:2:18: source.format: unknown format "xls"`, exitFatal},
		{"missing input", context.Background(), validateOptions{Mapping: good, Inputs: []string{"nope.csv"}}, "nope.csv", exitFatal},
		{"cancelled", ctx, validateOptions{Mapping: good, Inputs: []string{"a.csv"}}, "context canceled", exitStopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.open = fakeOpen(map[string][][]string{"a.csv": {{"x"}, {"1"}}})
			err := runValidate(tt.ctx, tt.o, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) || exitCode(err) != tt.code {
				t.Errorf("err = %v (exit %d), want …%s… exit %d", err, exitCode(err), tt.want, tt.code)
			}
		})
	}
}

// TestValidateCommand runs the real command line: flags, the usage error
// without inputs, and the shipped sample when the readers are in.
func TestValidateCommand(t *testing.T) {
	e, _, errb := testEnv(nil)
	if got := run(context.Background(), e, []string{"commlog", "validate", "--mapping", "m.yaml"}); got != exitUsage {
		t.Errorf("no inputs: exit %d, want %d; stderr %s", got, exitUsage, errb)
	}
	dir := t.TempDir()
	m := filepath.Join(dir, "m.yaml")
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(m, []byte(validateMapping), 0o644)
	os.WriteFile(in, []byte("channel,sent_at,text,kind\nwa,2024-05-01 12:00:00,hi,message\nxx,2024-05-01 12:00:00,hi,message\n"), 0o644)
	e, out, errb := testEnv(nil)
	if got := run(context.Background(), e, []string{"commlog", "validate", "--mapping", m, in}); got != exitRowsNotOK {
		t.Errorf("exit %d, want %d; stderr %s", got, exitRowsNotOK, errb)
	}
	if want := "in.csv:3: channel"; !strings.Contains(out.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
}
