package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/commlog/commlog/crm/sandbox"
)

func bodies(env *sandboxEnv) map[string]string {
	out := map[string]string{}
	for _, r := range env.srv.Objects("communications", false) {
		out[r.Properties[KeyProperty]] = r.Properties["hs_communication_body"]
	}
	return out
}

func TestUpdateByKeyAndIDWithPlanAndResume(t *testing.T) {
	ctx := context.Background()
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	led := imported(t, env, 10)
	recs, err := LedgerCreated(led)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,key,hs_communication_body\n")
	for i, r := range recs[:6] {
		body := fmt.Sprintf("new %d", i)
		if i == 5 {
			body = "" // clears
		}
		switch i % 3 {
		case 0: // by id
			fmt.Fprintf(&b, "%s,,%s\n", r.ID, body)
		default: // by key: through the ledger, or through search
			fmt.Fprintf(&b, ",%s,%s\n", r.Key, body)
		}
	}
	b.WriteString(",no-such-key,x\n")
	in := filepath.Join(dir, "changes.csv")
	os.WriteFile(in, []byte(b.String()), 0o644)

	var plan bytes.Buffer
	o := UpdateOptions{Input: in, API: env.client, PlanOut: &plan, RunOptions: runOpts(dir, "update.csv")}
	o.Plan = true
	sum, err := Update(ctx, o)
	if err != nil || sum.Planned != 6 || sum.Unresolved != 1 {
		t.Fatalf("plan: %v %+v", err, sum)
	}
	if !strings.Contains(plan.String(), `hs_communication_body: "message 1" → "new 1"`) ||
		!strings.Contains(plan.String(), `"message 5" → (cleared)`) {
		t.Errorf("plan diff:\n%s", plan.String())
	}
	if bodies(env)[recs[0].Key] != "message 0" {
		t.Fatal("plan wrote to HubSpot")
	}

	o.Plan = false
	sum, err = Update(ctx, o)
	if !errors.Is(err, ErrRowsFailed) || sum.Done != 6 || sum.Unresolved != 1 {
		t.Fatalf("update: err %v, %+v (want 6 done, 1 unresolved)", err, sum)
	}
	got := bodies(env)
	for i, r := range recs[:6] {
		want := fmt.Sprintf("new %d", i)
		if i == 5 {
			want = ""
		}
		if got[r.Key] != want {
			t.Errorf("record %s body %q, want %q", r.ID, got[r.Key], want)
		}
	}
	if got[recs[7].Key] != "message 7" {
		t.Errorf("an untouched record changed: %q", got[recs[7].Key])
	}
	sum, _ = Update(ctx, o)
	if sum.Done != 0 || sum.AlreadyDone != 6 {
		t.Errorf("second run: %+v", sum)
	}
}

func TestUpdateRefusesReadOnlyAndUnknownColumns(t *testing.T) {
	env := newSandboxEnv(t, sandbox.Options{Contacts: 1})
	dir := t.TempDir()
	in := filepath.Join(dir, "c.csv")
	os.WriteFile(in, []byte("id,hs_createdate,no_such_prop\n1,2024-01-01,x\n"), 0o644)
	o := UpdateOptions{Input: in, API: env.client, RunOptions: runOpts(dir, "update.csv")}
	_, err := Update(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), `"hs_createdate" is read-only`) || !strings.Contains(err.Error(), `"no_such_prop" does not exist`) {
		t.Fatalf("err = %v", err)
	}
	if _, serr := os.Stat(o.Ledger); serr == nil {
		t.Error("a refused update wrote a ledger")
	}
}

func TestReadUpdateCSVErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content, want string }{
		{"no id or key", "a,b\n1,2\n", "no id column"},
		{"no properties", "id\n1\n", "no property columns"},
		{"bad id", "id,x\nabc,1\n", ":2: id \"abc\""},
		{"short row", "id,x\n1\n", ":2: 1 fields"},
		{"neither", "id,key,x\n,,1\n", ":2: neither"},
	}
	for _, tt := range tests {
		p := filepath.Join(dir, tt.name+".csv")
		os.WriteFile(p, []byte(tt.content), 0o644)
		_, err := scanRows(p, func(head []string) (rowParser, error) {
			_, parse, err := updateHeader(p, head)
			return parse, err
		}, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}
