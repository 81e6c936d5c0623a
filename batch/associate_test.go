package batch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

func assocOf(env *sandboxEnv, id, toType string) []string {
	for _, r := range env.srv.Objects("communications", false) {
		if r.ID == id {
			return r.Associations[toType]
		}
	}
	return nil
}

func TestAssociateAndRemove(t *testing.T) {
	ctx := context.Background()
	env := newSandboxEnv(t, sandbox.Options{Contacts: 2})
	led := imported(t, env, 4)
	recs, _ := LedgerCreated(led)
	company := env.srv.Objects("companies", false)[0].ID
	deal := env.srv.Objects("deals", false)[0].ID
	dir := t.TempDir()
	in := filepath.Join(dir, "pairs.csv")
	os.WriteFile(in, []byte("communication,object_type,object_id,association_type\n"+
		recs[0].ID+",companies,"+company+",87\n"+
		recs[1].Key+",company,"+company+",communication_to_company\n"+
		recs[2].ID+",deals,"+deal+",\n"+
		recs[3].ID+",planets,1,\n"), 0o644)
	o := AssociateOptions{Input: in, ImportLedger: led, API: env.client, RunOptions: runOpts(dir, "assoc.csv")}
	sum, err := Associate(ctx, o)
	if !errors.Is(err, ErrRowsFailed) || sum.Done != 3 || sum.Invalid != 1 {
		t.Fatalf("associate: %v %+v", err, sum)
	}
	for i, want := range []struct{ typ, id string }{{"companies", company}, {"companies", company}, {"deals", deal}} {
		if got := assocOf(env, recs[i].ID, want.typ); !slices.Contains(got, want.id) {
			t.Errorf("record %s: %s associations %v, want %s", recs[i].ID, want.typ, got, want.id)
		}
	}
	sum, _ = Associate(ctx, o)
	if sum.AlreadyDone != 3 || sum.Done != 0 {
		t.Errorf("second run: %+v", sum)
	}
	contactsBefore := assocOf(env, recs[0].ID, "contacts")
	o.Remove = true
	if sum, err = Associate(ctx, o); !errors.Is(err, ErrRowsFailed) || sum.Done != 3 {
		b, _ := os.ReadFile(o.Ledger)
		t.Fatalf("remove: %v %+v\n%s", err, sum, b)
	}
	if got := assocOf(env, recs[0].ID, "companies"); len(got) != 0 {
		t.Errorf("after --remove: %v", got)
	}
	// The typed removal (v4 batch/labels/archive) took only that type.
	if got := assocOf(env, recs[0].ID, "contacts"); len(contactsBefore) == 0 || !slices.Equal(got, contactsBefore) {
		t.Errorf("contacts after removing the company type: %v, before %v", got, contactsBefore)
	}
}

func TestParseAssoc(t *testing.T) {
	tests := []struct {
		typ, id, at string
		want        assocItem
		wantErr     string
	}{
		{"contact", "5", "", assocItem{toType: "contacts", toID: "5"}, ""},
		{"companies", "5", "87", assocItem{toType: "companies", toID: "5", typeID: 87}, ""},
		{"deals", "5", "communication_to_deal", assocItem{toType: "deals", toID: "5", typeID: 85}, ""},
		{"tickets", "5", "my_custom_label", assocItem{toType: "tickets", toID: "5", label: "my_custom_label"}, ""},
		{"planets", "5", "", assocItem{}, "object_type"},
		{"contacts", "x", "", assocItem{}, "object_id"},
		{"contacts", "5", "Bad Label", assocItem{}, "snake-case"},
	}
	for _, tt := range tests {
		got, err := parseAssoc(tt.typ, tt.id, tt.at)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseAssoc(%q,%q,%q) err = %v", tt.typ, tt.id, tt.at, err)
			}
			continue
		}
		if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(assocItem{})); d != "" || err != nil {
			t.Errorf("parseAssoc(%q,%q,%q): %v %s", tt.typ, tt.id, tt.at, err, d)
		}
	}
}

func TestPin(t *testing.T) {
	ctx := context.Background()
	env := newSandboxEnv(t, sandbox.Options{Contacts: 2})
	led := imported(t, env, 5)
	recs, _ := LedgerCreated(led)
	contact := env.contactID(t)
	other := env.srv.Objects("contacts", false)[1].ID
	pinned := func(id string) string {
		for _, r := range env.srv.Objects("contacts", false) {
			if r.ID == id {
				return r.Properties[crm.PinnedEngagementProperty]
			}
		}
		return ""
	}
	dir := t.TempDir()

	// Newest imported message per contact.
	sum, err := Pin(ctx, PinOptions{LatestPerContact: true, FromLedger: led, API: env.client, RunOptions: runOpts(dir, "pin1.csv")})
	if err != nil || sum.Done != 1 {
		t.Fatalf("pin --latest-per-contact: %v %+v", err, sum)
	}
	if got := pinned(contact); got != recs[4].ID {
		t.Errorf("pinned %q, want the newest %s", got, recs[4].ID)
	}

	// A CSV pin on a record the communication is not associated with fails
	// unless --associate.
	in := filepath.Join(dir, "pins.csv")
	os.WriteFile(in, []byte(fmt.Sprintf("object_type,object_id,communication\ncontacts,%s,%s\n", other, recs[1].Key)), 0o644)
	o := PinOptions{Input: in, ImportLedger: led, API: env.client, RunOptions: runOpts(dir, "pin2.csv")}
	sum, err = Pin(ctx, o)
	if !errors.Is(err, ErrRowsFailed) || sum.Failed != 1 || pinned(other) != "" {
		t.Fatalf("pin without association: %v %+v", err, sum)
	}
	o.AssociateFirst, o.RetryFailed = true, true
	if sum, err = Pin(ctx, o); err != nil || sum.Done != 1 {
		t.Fatalf("pin --associate: %v %+v", err, sum)
	}
	if got := pinned(other); got != recs[1].ID {
		t.Errorf("pinned %q, want %s", got, recs[1].ID)
	}
}
