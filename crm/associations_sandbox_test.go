package crm_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

// TestBatchReadAssociationsSandbox checks the batch read against the
// sandbox's own per-record reads: for 1,201 communications (two requests),
// some with several contacts, some with none, one archived, plus ids that
// do not exist, the map must hold exactly what a v3 read of each record
// with ?associations=contacts returns (the archived one: nothing). It
// then checks the other direction, contacts → communications, the same way.
func TestBatchReadAssociationsSandbox(t *testing.T) {
	ctx := context.Background()
	srv, err := sandbox.New(sandbox.Options{Contacts: 5})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	c, err := crm.New(crm.Options{BaseURL: ts.URL, Token: "test", Burst: 1 << 20, Window: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var contacts []string
	for _, r := range srv.Objects(crm.Contacts, false) {
		contacts = append(contacts, r.ID)
	}
	if len(contacts) < 3 {
		t.Fatalf("sandbox seeded %d contacts", len(contacts))
	}
	var ids []string
	for len(ids) < 1201 {
		var in []crm.CreateInput
		for i := 0; i < 100 && len(ids)+len(in) < 1201; i++ {
			n := len(ids) + i
			ci := crm.CreateInput{Properties: map[string]string{"hs_communication_body": "m" + strconv.Itoa(n),
				"hs_communication_channel_type": "SMS", "hs_communication_logged_from": "CRM", "hs_timestamp": "2024-05-01T10:00:00Z"}}
			for k := 0; k < n%3; k++ { // 0, 1 or 2 contacts
				ci.Associations = append(ci.Associations, crm.AssociationInput{To: crm.ObjectID{ID: contacts[(n+k)%len(contacts)]},
					Types: []crm.AssociationType{{Category: crm.HubSpotDefined, TypeID: 81}}})
			}
			in = append(in, ci)
		}
		res, err := c.BatchCreate(ctx, crm.Communications, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Results {
			ids = append(ids, o.ID)
		}
	}
	if err := c.Archive(ctx, crm.Communications, ids[2]); err != nil {
		t.Fatal(err)
	}

	// perRecord is what reading each live record on its own returns.
	perRecord := func(fromType, toType string, ids []string) map[string][]crm.AssociatedID {
		out := map[string][]crm.AssociatedID{}
		for _, id := range ids {
			o, err := c.Get(ctx, fromType, id, crm.GetOptions{Associations: []string{toType}})
			if crm.IsNotFound(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if l := o.Associations[toType].Results; len(l) > 0 {
				out[id] = l
			}
		}
		return out
	}
	want := perRecord(crm.Communications, crm.Contacts, ids)
	if len(want) < 700 {
		t.Fatalf("only %d communications have contacts: the test does too little", len(want))
	}
	got, err := c.BatchReadAssociations(ctx, crm.Communications, crm.Contacts, append([]string{"999999999", "0"}, ids...))
	if err != nil {
		t.Fatal(err)
	}
	sortIDs := cmpopts.SortSlices(func(a, b crm.AssociatedID) bool { return a.ID+a.Type < b.ID+b.Type })
	if diff := cmp.Diff(want, got, sortIDs); diff != "" {
		t.Errorf("communications → contacts (-per-record reads +batch read):\n%s", diff)
	}

	back, err := c.BatchReadAssociations(ctx, crm.Contacts, crm.Communications, contacts)
	if err != nil {
		t.Fatal(err)
	}
	wantBack := perRecord(crm.Contacts, crm.Communications, contacts)
	if diff := cmp.Diff(wantBack, back, sortIDs); diff != "" {
		t.Errorf("contacts → communications (-want +got):\n%s", diff)
	}
}
