package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

// TestEveryHelpHasPurposeUsageExample holds every registered command (and
// commlog itself) to a one-line purpose, usage and at least one example.
func TestEveryHelpHasPurposeUsageExample(t *testing.T) {
	names := []string{""}
	for _, c := range commands(&globals{env: &env{}}) {
		names = append(names, c.Name)
		if c.Usage == "" || strings.Contains(c.Usage, "\n") {
			t.Errorf("%s: purpose %q is not one line", c.Name, c.Usage)
		}
	}
	for _, name := range names {
		args := []string{"commlog", "--help"}
		if name != "" {
			args = []string{"commlog", name, "--help"}
		}
		e, out, errb := testEnv(nil)
		if code := run(context.Background(), e, args); code != exitOK {
			t.Fatalf("%s --help: exit %d: %s", name, code, errb)
		}
		if s := out.String(); !strings.Contains(s, "Example") || !strings.Contains(s, "USAGE") {
			t.Errorf("commlog %s --help lacks usage or examples:\n%s", name, s)
		}
	}
}

func TestArchiveVerifyRestoreCommands(t *testing.T) {
	srv, err := sandbox.New(sandbox.Options{Token: "tok", Contacts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.Close(); srv.Close() })
	c, err := crm.New(crm.Options{BaseURL: ts.URL, Token: "tok", Burst: 1000, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.EnsureKeyProperty(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var ids, ledger strings.Builder
	ledger.WriteString("time,run_id,source_file,source_line,key,operation,state,hubspot_id,http_status,error_category,error_message,attempt,batch,body_sha256\n")
	for i := 0; i < 3; i++ {
		o, err := c.Create(ctx, crm.Communications, crm.CreateInput{Properties: map[string]string{
			"hs_communication_channel_type": "SMS", "hs_communication_logged_from": "CRM", crm.KeyProperty: fmt.Sprintf("k%d", i),
			"hs_communication_body": "hello", "hs_timestamp": "2024-05-01T10:00:00Z"}})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&ids, o.ID)
		fmt.Fprintf(&ledger, "2025-01-01T00:00:00Z,r1,a.csv,%d,k%d,create,created,%s,0,,,1,1,\n", i+2, i, o.ID)
	}
	idsFile := filepath.Join(dir, "ids.txt")
	ledgerFile := filepath.Join(dir, "chats.ledger.csv")
	os.WriteFile(idsFile, []byte(ids.String()), 0o644)
	os.WriteFile(ledgerFile, []byte(ledger.String()), 0o644)
	snap := filepath.Join(dir, "snap.jsonl")
	vars := map[string]string{"HUBSPOT_ACCESS_TOKEN": "tok", "HUBSPOT_BASE_URL": ts.URL}

	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string
	}{
		{"verify before", []string{"verify", "--ledger", ledgerFile}, exitOK, "ok"},
		{"no tty, no --yes", []string{"archive", "--ids", idsFile}, exitRefused, "needs a confirmation"},
		{"over threshold", []string{"archive", "--ids", idsFile, "--yes", "--max-delete", "2"}, exitRefused, "more than --max-delete 2"},
		{"plan", []string{"archive", "--ledger", ledgerFile, "--plan"}, exitOK, "plan (nothing was written"},
		{"archive", []string{"archive", "--ledger", ledgerFile, "--yes", "--snapshot", snap}, exitOK, "done"},
		{"verify finds drift", []string{"verify", "--ledger", ledgerFile, "--skip-associations"}, exitRowsNotOK, "archived"},
		{"restore", []string{"restore", "--snapshot", snap, "--search-settle", "10ms"}, exitOK, "done"},
	}
	for _, tt := range tests {
		e, _, errb := testEnv(vars)
		got := run(ctx, e, append([]string{"commlog", "--base-url", ts.URL}, tt.args...))
		if got != tt.want || !strings.Contains(errb.String(), tt.wantStderr) {
			t.Fatalf("%s: exit %d (want %d), stderr:\n%s", tt.name, got, tt.want, errb)
		}
	}
	if n := len(srv.Objects("communications", false)); n != 3 {
		t.Errorf("%d live communications after archive and restore, want 3", n)
	}
}
