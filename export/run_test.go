package export

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/crm"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// t0 is the fake portal's "now" in tests.
var t0 = time.Date(2024, 5, 2, 8, 0, 0, 0, time.UTC)

func ms(t time.Time) int64 { return t.UnixMilli() }

// goldenFake is a small portal with the awkward values an export meets:
// newlines, quotes and commas in bodies, epoch-ms and offset timestamps,
// empty values, associations listed twice (two labels), an archived record.
func goldenFake() *fakeAPI {
	f := newFake()
	f.put("50000000003", ms(t0.Add(-3*time.Hour)), map[string]string{
		"hs_communication_body":         "Hi Ana,\nconfirming \"Tuesday\", 10:00",
		"hs_communication_channel_type": "WHATS_APP",
		"hs_timestamp":                  "1714557600000",
		"hs_createdate":                 "2024-05-01T12:00:00+02:00",
	})
	f.put("50000000010", ms(t0.Add(-2*time.Hour)), map[string]string{
		"hs_communication_body":         "Grüße — ok 👍",
		"hs_communication_channel_type": "SMS",
		"hs_timestamp":                  "2024-05-01T10:00:00Z",
		"hs_createdate":                 "2024-05-01T10:00:01.5Z",
	})
	f.put("50000000004", ms(t0.Add(-time.Hour)), map[string]string{
		"hs_communication_channel_type": "LINKEDIN_MESSAGE",
		"hs_timestamp":                  "2024-05-01T09:00:00.000Z",
	})
	f.objs["50000000003"].assoc = map[string][]string{"contacts": {"901", "12", "901"}, "companies": {"7"}}
	f.objs["50000000004"].assoc = map[string][]string{"contacts": {"12"}}
	f.archive("50000000004", ms(t0.Add(-30*time.Minute)))
	return f
}

func TestFullExportGolden(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		opts   Options
		golden string
	}{
		{name: "csv", file: "out.csv", golden: "full.csv",
			opts: Options{Archived: true, Associations: []string{"contacts", "company"}}},
		{name: "jsonl", file: "out.jsonl", golden: "full.jsonl",
			opts: Options{Archived: true, Associations: []string{"contacts", "company"}}},
		{name: "csv selected properties", file: "out.csv", golden: "selected.csv",
			opts: Options{Properties: []string{"hs_timestamp", "hs_communication_body", "hs_object_id"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), tt.file)
			o := tt.opts
			o.API, o.Output, o.Now = goldenFake(), out, func() time.Time { return t0 }
			sum, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, got)
			rows := 0
			if strings.HasSuffix(tt.file, ".csv") {
				recs, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				rows = len(recs) - 1
			} else {
				rows = bytes.Count(got, []byte("\n"))
			}
			if sum.Records != int64(rows) {
				t.Errorf("summary says %d records, the file holds %d", sum.Records, rows)
			}
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestFormatFromExtension(t *testing.T) {
	tests := []struct {
		output  string
		format  Format
		wantErr bool
		first   string // first bytes of the output
	}{
		{output: "x.csv", first: "id,"},
		{output: "x.JSONL", first: "{"},
		{output: "x.ndjson", first: "{"},
		{output: "x.txt", format: JSONL, first: "{"},
		{output: "x.txt", wantErr: true},
		{output: "x.csv", format: "xml", wantErr: true},
		{output: "-", first: "id,"},
	}
	for _, tt := range tests {
		t.Run(tt.output+string(tt.format), func(t *testing.T) {
			var stdout bytes.Buffer
			out := tt.output
			if out != "-" {
				out = filepath.Join(t.TempDir(), out)
			}
			_, err := Run(context.Background(), Options{API: goldenFake(), Output: out, Format: tt.format, Stdout: &stdout})
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b := stdout.Bytes()
			if out != "-" {
				b, _ = os.ReadFile(out)
			}
			if !bytes.HasPrefix(b, []byte(tt.first)) {
				t.Errorf("output starts %.20q, want %q", b, tt.first)
			}
		})
	}
}

// TestIncrementalMark checks the mark's rules on the fake: the window
// [mark, now − lag), the new mark min(window end, newest change), archived
// records inside the window only, and nothing moved by a failed run.
func TestIncrementalMark(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	f := newFake()
	lag := time.Minute
	now := t0
	opts := func(out string) Options {
		return Options{API: f, Output: filepath.Join(dir, out), State: state, SafetyLag: lag,
			Now: func() time.Time { return now }}
	}
	f.put("1", ms(t0.Add(-time.Hour)), map[string]string{"hs_communication_body": "old"})
	f.put("2", ms(t0.Add(-10*time.Minute)), map[string]string{"hs_communication_body": "b"})
	f.put("3", ms(t0.Add(-30*time.Second)), map[string]string{"hs_communication_body": "inside the lag"})

	// First run: a full export through the list; the mark is the newest
	// change at most now − lag.
	sum, err := Run(context.Background(), opts("1.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Mode != ModeInitial || sum.Records != 3 {
		t.Fatalf("first run: mode %s records %d, want initial 3", sum.Mode, sum.Records)
	}
	wantMark := formatTime(now.Add(-lag))
	if sum.HighWaterMark != wantMark {
		t.Errorf("mark %s, want %s (window end, which is older than the newest change)", sum.HighWaterMark, wantMark)
	}

	// Second run: record 2 updated, 1 archived, 3 unchanged but inside
	// the old window's lag, so exported again.
	now = t0.Add(10 * time.Minute)
	f.put("2", ms(t0.Add(5*time.Minute)), map[string]string{"hs_communication_body": "b2"})
	f.archive("1", ms(t0.Add(6*time.Minute)))
	f.put("4", ms(now.Add(-10*time.Second)), map[string]string{"hs_communication_body": "too fresh"})
	sum, err = Run(context.Background(), opts("2.csv"))
	if err != nil {
		t.Fatal(err)
	}
	got := ids(t, filepath.Join(dir, "2.csv"))
	if diff := cmp.Diff([]string{"3", "2", "1"}, got); diff != "" {
		t.Errorf("second run ids (-want +got):\n%s", diff)
	}
	// The newest change search returned; the archive at +6m does not
	// count (the archived list has no index lag to vouch for).
	if want := formatTime(t0.Add(5 * time.Minute)); sum.HighWaterMark != want {
		t.Errorf("mark %s, want the newest change search saw, %s", sum.HighWaterMark, want)
	}
	if sum.Archived != 1 || sum.Live != 2 {
		t.Errorf("live %d archived %d, want 2 and 1", sum.Live, sum.Archived)
	}

	// A failing run leaves the output file and the state as they were.
	before, _ := os.ReadFile(state)
	now = t0.Add(20 * time.Minute)
	f.failAt = f.calls + 3
	if _, err := Run(context.Background(), opts("2.csv")); err == nil {
		t.Fatal("want the injected failure")
	}
	after, _ := os.ReadFile(state)
	if !bytes.Equal(before, after) {
		t.Errorf("a failed run changed the state:\n%s\n→\n%s", before, after)
	}
	if diff := cmp.Diff([]string{"3", "2", "1"}, ids(t, filepath.Join(dir, "2.csv"))); diff != "" {
		t.Errorf("a failed run changed the output (-want +got):\n%s", diff)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	// An interrupted run too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, opts("3.csv")); err != context.Canceled {
		t.Fatalf("cancelled run: err %v, want context.Canceled", err)
	}
	if after, _ := os.ReadFile(state); !bytes.Equal(before, after) {
		t.Error("an interrupted run changed the state")
	}
	if _, err := os.Stat(filepath.Join(dir, "3.csv")); !os.IsNotExist(err) {
		t.Errorf("an interrupted run left an output file: %v", err)
	}

	// The next good run picks up from the old mark: 4 is now old enough;
	// 2, changed exactly at the mark, and 1, archived after it, come again
	// (a row too many, never a gap).
	f.failAt = 0
	if _, err := Run(context.Background(), opts("4.csv")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"2", "4", "1"}, ids(t, filepath.Join(dir, "4.csv"))); diff != "" {
		t.Errorf("fourth run ids (-want +got):\n%s", diff)
	}
}

// ids reads the id column of a CSV export.
func ids(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, r := range recs[1:] {
		out = append(out, r[0])
	}
	return out
}

// TestIncrementalAssociations: an incremental run reads the associations
// search does not return with one batch read per object type and page,
// not one read per record, and writes them as in a full export.
func TestIncrementalAssociations(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	if err := WriteState(state, &State{HighWaterMark: formatTime(t0.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	f := newFake()
	for i := 1; i <= 25; i++ {
		f.put(strconv.Itoa(i), ms(t0.Add(time.Duration(i)*time.Second-30*time.Minute)), map[string]string{"hs_communication_body": "m"})
	}
	f.objs["3"].assoc = map[string][]string{"contacts": {"901", "12"}, "companies": {"7"}}
	f.objs["20"].assoc = map[string][]string{"contacts": {"12"}}
	out := filepath.Join(dir, "changes.jsonl")
	api := &countReads{fakeAPI: f}
	sum, err := Run(context.Background(), Options{API: api, Output: out, State: state, Associations: []string{"contacts", "companies"},
		Now: func() time.Time { return t0 }, searchLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 25 {
		t.Fatalf("records %d, want 25", sum.Records)
	}
	// Three search pages (10, 10, 5 records), two object types.
	if diff := cmp.Diff([]int{10, 10, 10, 10, 5, 5}, api.sizes); diff != "" {
		t.Errorf("ids per association read (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var row struct {
			ID           string              `json:"id"`
			Associations map[string][]string `json:"associations"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		if len(row.Associations["contacts"])+len(row.Associations["companies"]) > 0 {
			got[row.ID] = row.Associations
		}
	}
	want := map[string]map[string][]string{
		"3":  {"contacts": {"12", "901"}, "companies": {"7"}},
		"20": {"contacts": {"12"}, "companies": {}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("associations written (-want +got):\n%s", diff)
	}
}

// countReads records how many ids each association read asked for.
type countReads struct {
	*fakeAPI
	sizes []int
}

func (c *countReads) BatchReadAssociations(ctx context.Context, fromType, toType string, ids []string) (map[string][]crm.AssociatedID, error) {
	c.fakeAPI.mu.Lock()
	c.sizes = append(c.sizes, len(ids))
	c.fakeAPI.mu.Unlock()
	return c.fakeAPI.BatchReadAssociations(ctx, fromType, toType, ids)
}
