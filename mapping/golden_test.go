package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/source"
)

// TestApplyGolden maps whole inputs — the samples, the WhatsApp variants and
// testdata/mapping/apply/dst.csv (DST edges, repeats, skips, bad rows) — and
// compares every Result with testdata/mapping/apply/*.golden.jsonl. Keys
// must never change: ledgers of earlier runs depend on them. Refresh with
// go test ./mapping -run TestApplyGolden -update, only for a deliberate
// change of output.
func TestApplyGolden(t *testing.T) {
	dir := filepath.Join(testdata, "apply")
	type input struct{ name, mapping, file string }
	inputs := []input{
		{"dst", filepath.Join(dir, "dst.yaml"), filepath.Join(dir, "dst.csv")},
		{"samples-chats", "../samples/chats.yaml", "../samples/chats.csv"},
		{"samples-chats-jsonl", "../samples/chats-jsonl.yaml", "../samples/chats.jsonl"},
		{"samples-linkedin", "../samples/linkedin-messages.yaml", "../samples/linkedin-messages.csv"},
		{"samples-sms", "../samples/sms-backup.yaml", "../samples/sms-backup.xml"},
	}
	chats, err := filepath.Glob("../testdata/source/whatsapp/*.txt")
	if err != nil || len(chats) == 0 {
		t.Fatalf("no WhatsApp inputs: %v", err)
	}
	for _, c := range chats {
		name := "whatsapp-" + strings.TrimSuffix(filepath.Base(c), ".txt")
		name = strings.Map(func(r rune) rune {
			if r == ' ' || r > 0x7f {
				return '_'
			}
			return r
		}, name)
		inputs = append(inputs, input{name, filepath.Join(dir, "chat.yaml"), c})
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			m, err := Load(in.mapping)
			if err != nil {
				t.Fatal(err)
			}
			got := applyAll(t, m, in.file)
			golden := filepath.Join(dir, in.name+".golden.jsonl")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// applyAll maps every record of file, one JSON line per Result.
func applyAll(t *testing.T, m *Mapping, file string) []byte {
	t.Helper()
	type line struct {
		Line       int
		Key        string            `json:",omitempty"`
		Properties map[string]string `json:",omitempty"`
		Targets    []Target          `json:",omitempty"`
		OwnerEmail string            `json:",omitempty"`
		Skipped    string            `json:",omitempty"`
		Err        string            `json:",omitempty"`
		Notes      []string          `json:",omitempty"`
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	rd, err := source.Open(file, m.SourceOptions())
	if err != nil {
		fmt.Fprintf(&out, "open: %v\n", err)
		return out.Bytes()
	}
	defer rd.Close()
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return out.Bytes()
		}
		if err != nil {
			fmt.Fprintf(&out, "read: %v\n", err)
			return out.Bytes()
		}
		r := m.Apply(rec)
		l := line{Line: r.Line, Key: r.Key, Properties: r.Properties, Targets: r.Targets, OwnerEmail: r.OwnerEmail, Skipped: r.Skipped, Notes: r.Notes}
		if r.Err != nil {
			l.Err = r.Err.Error()
		}
		if err := enc.Encode(l); err != nil {
			t.Fatal(err)
		}
	}
}
