package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/commlog/commlog/crm/sandbox"
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

// TestTokenAndBodiesStayOutOfOutput runs an import at debug log level
// (requests and responses are logged: the contact list with its phones,
// the batch with its body) and checks that the access token appears
// nowhere (stdout, stderr, ledger, run log) and that message bodies and
// phone numbers are not logged without --log-pii.
func TestTokenAndBodiesStayOutOfOutput(t *testing.T) {
	const token = "pat-na1-SECRET-0f3c9a"
	const body = "very private message body"
	const phone = "+4915123456789"
	dir := t.TempDir()
	contacts := filepath.Join(dir, "contacts.csv")
	if err := os.WriteFile(contacts, []byte("email,phone\nann@example.com,"+phone+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := sandbox.New(sandbox.Options{Token: token, ContactsFile: contacts})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer func() { ts.Close(); srv.Close() }()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokenFile := write("token", token+"\n")
	mapping := write("m.yaml", `version: 1
source: { format: csv }
communication:
  channel: SMS
  timestamp: { column: sent_at, layout: epoch_ms }
  body: { template: "{{ .text }}" }
key: [id]
associations:
  - { to: contacts, by: phone, column: phone, default_region: DE }
`)
	input := write("in.csv", "id,sent_at,text,phone\n1,1714521600000,"+body+","+phone+"\n")
	ledger := filepath.Join(dir, "ledger.csv")
	e, out, errb := testEnv(nil)
	code := run(context.Background(), e, []string{"commlog", "--base-url", ts.URL, "--token-file", tokenFile,
		"--log-level", "debug", "--no-progress", "import", "--mapping", mapping, "--ledger", ledger, input})
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errb)
	}
	if n := len(srv.Objects("communications", false)); n != 1 {
		t.Fatalf("%d communications created, want 1 (the request must carry the body for this test to mean anything)", n)
	}
	files := map[string]string{"stdout": out.String(), "stderr": errb.String()}
	for _, p := range []string{ledger, filepath.Join(dir, "ledger.runs.jsonl")} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = string(b)
	}
	for name, text := range files {
		if strings.Contains(text, token) || strings.Contains(text, "SECRET") {
			t.Errorf("%s contains the access token", name)
		}
		if strings.Contains(text, body) {
			t.Errorf("%s contains a message body", name)
		}
		if strings.Contains(text, phone) || strings.Contains(text, "15123456789") {
			t.Errorf("%s contains the phone number", name)
		}
	}
	if !strings.Contains(errb.String(), "level=DEBUG") {
		t.Error("no debug logging happened: the test proves nothing")
	}
}
