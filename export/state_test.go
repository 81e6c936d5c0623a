package export

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseState(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *State
		wantErr string
	}{
		{name: "mark and last run", in: `{"high_water_mark":"2024-05-02T07:59:00.000Z","last_run":{"mode":"incremental","records":3}}`,
			want: &State{HighWaterMark: "2024-05-02T07:59:00.000Z", LastRun: &LastRun{Mode: "incremental", Records: 3}}},
		{name: "no mark yet", in: `{"high_water_mark":""}`, want: &State{}},
		{name: "unknown fields are kept out, not fatal", in: `{"high_water_mark":"2024-05-02T07:59:00Z","future":1}`,
			want: &State{HighWaterMark: "2024-05-02T07:59:00Z"}},
		{name: "bad mark", in: `{"high_water_mark":"yesterday"}`, wantErr: "not an ISO-8601 time"},
		{name: "syntax error has a position", in: "{\n  \"high_water_mark\": ,\n}", wantErr: "line 2, column"},
		{name: "trailing data", in: `{} {}`, wantErr: "trailing data"},
		{name: "empty", in: ``, wantErr: "EOF"},
		{name: "wrong type", in: `{"high_water_mark":5}`, wantErr: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseState([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if s, err := ReadState(path); err != nil || s != nil {
		t.Fatalf("missing file: %v, %v; want nil, nil", s, err)
	}
	want := &State{HighWaterMark: "2024-05-02T07:59:00.000Z", LastRun: &LastRun{Mode: ModeIncremental, Format: JSONL, Records: 7}}
	if err := WriteState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := os.WriteFile(path, []byte("{oops"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a corrupt state file must be an error naming it, got %v", err)
	}
}

// FuzzParseState: any bytes give a state or an error, never a panic, and
// a state that parses has a usable mark.
func FuzzParseState(f *testing.F) {
	for _, s := range []string{
		`{"high_water_mark":"2024-05-02T07:59:00.000Z","last_run":{"records":3}}`,
		`{"high_water_mark":""}`, `{}`, `[]`, `null`, `{"high_water_mark":"2024-05-02"}`, "{\n\"a\":",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseState(b)
		if err != nil {
			return
		}
		if _, _, err := s.mark(); err != nil {
			t.Errorf("parsed state with a bad mark: %v", err)
		}
	})
}
