package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestImportCommandExitCodes runs `commlog --sandbox import` in-process:
// a clean input exits 0, a second run of it creates nothing, and an input
// with an unresolved association exits 3.
func TestImportCommandExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	contacts := write("contacts.csv", "email,firstname\nann@example.com,Ann\n")
	mapping := write("m.yaml", `version: 1
source: { format: csv }
communication:
  channel: SMS
  timestamp: { column: sent_at, layout: epoch_ms }
  body: { template: "{{ .text }}" }
key: [id]
associations:
  - { to: contacts, by: email, column: email }
`)
	clean := write("clean.csv", "id,sent_at,text,email\n1,1714521600000,hi,ann@example.com\n2,1714521660000,yo,ANN@example.com\n")
	orphan := write("orphan.csv", "id,sent_at,text,email\n3,1714521600000,hi,nobody@example.com\n")
	base := []string{"commlog", "--sandbox", "--sandbox-state", filepath.Join(dir, "sb"), "--sandbox-contacts", contacts, "--no-progress"}

	tests := []struct {
		name    string
		input   string
		want    int
		created float64
	}{
		{"clean", clean, exitOK, 2},
		{"again", clean, exitOK, 0},
		{"unresolved", orphan, exitRowsNotOK, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, out, errb := testEnv(nil)
			args := append(append([]string{}, base...), "--json", "import", "--mapping", mapping, "--search-settle", "1s", tt.input)
			if got := run(context.Background(), e, args); got != tt.want {
				t.Fatalf("exit %d, want %d; stderr:\n%s", got, tt.want, errb)
			}
			var sum map[string]any
			if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
				t.Fatalf("--json summary: %v\n%s", err, out)
			}
			if sum["created"] != tt.created {
				t.Errorf("created = %v, want %v", sum["created"], tt.created)
			}
		})
	}
}
