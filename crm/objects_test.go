package crm

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

var ignoreTimes = cmpopts.IgnoreFields(Object{}, "CreatedAt", "UpdatedAt")

// TestEndpointsWire runs every endpoint once against the fake and compares
// the exact requests sent (method, path, query, JSON body) with a golden file.
func TestEndpointsWire(t *testing.T) {
	ctx := context.Background()
	hub := newFakeHub(t)
	hub.owners = []Owner{{ID: "1", Email: "a@example.com"}, {ID: "2", Email: "b@example.com"}, {ID: "3", Email: "c@example.com", UserID: 7}}
	c := hub.client(t, nil)

	created, err := c.Create(ctx, Communications, CreateInput{Properties: map[string]string{"hs_communication_body": "hi", "hs_timestamp": "2024-05-01T10:00:00Z"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, Communications, created.ID, GetOptions{Properties: []string{"hs_communication_body"}, Associations: []string{"contacts"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created, got, ignoreTimes); diff != "" {
		t.Errorf("Get differs from Create (-create +get):\n%s", diff)
	}
	upd, err := c.Update(ctx, Communications, created.ID, map[string]string{"hs_communication_body": ""})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := upd.Properties["hs_communication_body"]; !ok || v != "" {
		t.Errorf("Update with empty string: body = %q, %v; want cleared", v, ok)
	}
	if _, err := c.List(ctx, Communications, ListOptions{Limit: 5, Properties: []string{"hs_timestamp"}, Archived: false}); err != nil {
		t.Fatal(err)
	}
	br, err := c.BatchCreate(ctx, Communications, []CreateInput{
		{Properties: map[string]string{"hs_communication_body": "a", KeyProperty: "k1"}, ObjectWriteTraceID: "k1",
			Associations: []AssociationInput{{To: ObjectID{"501"}, Types: []AssociationType{{HubSpotDefined, 81}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := br.Results[0].ID
	if _, err := c.BatchRead(ctx, Communications, BatchReadInput{Inputs: []ObjectID{{id}}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.BatchRead(ctx, Communications, BatchReadInput{Inputs: []ObjectID{{"k1"}}, IDProperty: KeyProperty, Properties: []string{KeyProperty}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.BatchUpdate(ctx, Communications, []UpdateInput{{ID: id, Properties: map[string]string{"hs_communication_body": "b"}}}); err != nil {
		t.Fatal(err)
	}
	up, err := c.BatchUpsert(ctx, Communications, []UpdateInput{{ID: "k2", IDProperty: KeyProperty, Properties: map[string]string{"hs_communication_body": "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Results) != 1 || up.Results[0].New == nil || !*up.Results[0].New {
		t.Errorf("BatchUpsert of a new key: results %+v, want one with new=true", up.Results)
	}
	if _, err := c.Search(ctx, Communications, SearchRequest{
		FilterGroups: []FilterGroup{{Filters: []Filter{{PropertyName: KeyProperty, Operator: "IN", Values: []string{"k1", "k2"}}}}},
		Sorts:        []Sort{{PropertyName: "hs_timestamp", Direction: "ASCENDING"}},
		Properties:   []string{KeyProperty}, Limit: 100,
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Associate(ctx, Communications, id, Contacts, "502", "communication_to_contact"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unassociate(ctx, Communications, id, Contacts, "502", "81"); err != nil {
		t.Fatal(err)
	}
	ar, err := c.BatchAssociate(ctx, Communications, Contacts, []AssociationPair{{FromID: id, ToID: "503"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]AssociationLabels{{FromObjectTypeID: "0-18", FromObjectID: id, ToObjectTypeID: "0-1", ToObjectID: "503", Labels: []string{}}}, ar.Results); diff != "" {
		t.Errorf("BatchAssociate results (-want +got):\n%s", diff)
	}
	if _, err := c.BatchAssociate(ctx, Communications, Contacts, []AssociationPair{{FromID: id, ToID: "504", Types: []AssociationType{{HubSpotDefined, 81}, {UserDefined, 9}}}}); err != nil {
		t.Fatal(err)
	}
	// Three associated contacts, two a page: the second page is asked for
	// with after; the unknown id and the repeated one cost nothing.
	assoc, err := c.BatchReadAssociations(ctx, Communications, Contacts, []string{id, "999999", id})
	if err != nil {
		t.Fatal(err)
	}
	wantAssoc := map[string][]AssociatedID{id: {
		{ID: "501", Type: "communication_to_contact"}, {ID: "503", Type: "communication_to_contact"},
		{ID: "504", Type: "9"}, {ID: "504", Type: "communication_to_contact"},
	}}
	if diff := cmp.Diff(wantAssoc, assoc, cmpopts.SortSlices(func(a, b AssociatedID) bool { return a.ID+a.Type < b.ID+b.Type })); diff != "" {
		t.Errorf("BatchReadAssociations (-want +got):\n%s", diff)
	}
	if err := c.BatchUnassociate(ctx, Communications, Contacts, []AssociationPair{{FromID: id, ToID: "503"}, {FromID: id, ToID: "504"}, {FromID: id, ToID: "501", Types: []AssociationType{{HubSpotDefined, 81}}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureKeyProperty(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureKeyProperty(ctx); err != nil { // now present: no create
		t.Fatal(err)
	}
	owners, err := c.Owners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hub.owners, owners); diff != "" {
		t.Errorf("Owners (-want +got):\n%s", diff)
	}
	contact, err := c.Create(ctx, Contacts, CreateInput{Properties: map[string]string{"email": "x@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Pin(ctx, Contacts, contact.ID, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Archive(ctx, Communications, created.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.BatchArchive(ctx, Communications, []string{id}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, Communications, id, GetOptions{}); !IsNotFound(err) {
		t.Errorf("Get after BatchArchive: err = %v, want not found", err)
	}

	hub.mu.Lock()
	assocs := len(hub.assocs)
	hub.mu.Unlock()
	if assocs != 0 {
		t.Errorf("%d associations left after unassociating all", assocs)
	}
	golden(t, "requests.golden", strings.Join(hub.requestLog(), "\n")+"\n")
	if s := c.Stats(); s.RateLimited != 0 || s.Retries != 0 || s.InDoubt != 0 || s.SearchRequests != 1 {
		t.Errorf("Stats = %+v", s)
	}
}

func TestListPaging(t *testing.T) {
	ctx := context.Background()
	hub := newFakeHub(t)
	c := hub.client(t, nil)
	for i := range 7 {
		if _, err := c.Create(ctx, Communications, CreateInput{Properties: map[string]string{"n": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	q := ListOptions{Limit: 3}
	for {
		p, err := c.List(ctx, Communications, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Results {
			seen = append(seen, o.Properties["n"])
		}
		if p.After == "" {
			break
		}
		q.After = p.After
	}
	if diff := cmp.Diff([]string{"0", "1", "2", "3", "4", "5", "6"}, seen); diff != "" {
		t.Errorf("paged list (-want +got):\n%s", diff)
	}
}

// TestSearchAllPastCap walks 10,450 matches, more than one search may page
// through, including a run of equal sort values across the restart.
func TestSearchAllPastCap(t *testing.T) {
	ctx := context.Background()
	hub := newFakeHub(t)
	const n = 10450
	hub.mu.Lock()
	for i := range n {
		ts := fmt.Sprint(1_700_000_000_000 + int64(i))
		if i >= 9990 && i < 10010 {
			ts = "1700000009990" // equal values straddling the first window's end
		}
		hub.create(Communications, CreateInput{Properties: map[string]string{"hs_timestamp": ts, "kind": "x"}})
	}
	hub.mu.Unlock()
	c := hub.client(t, nil)
	seen := map[string]int{}
	err := c.SearchAll(ctx, Communications, SearchRequest{
		FilterGroups: []FilterGroup{{Filters: []Filter{{PropertyName: "kind", Operator: "EQ", Value: "x"}}}},
	}, "hs_timestamp", func(o Object) error {
		seen[o.ID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Errorf("SearchAll saw %d distinct objects, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("object %s seen %d times", id, k)
		}
	}
	if s := c.Stats(); s.RateLimited != 0 {
		t.Errorf("search pacing: %d 429s, want 0", s.RateLimited)
	}
}

func TestSearchAllStallsOnHugeTie(t *testing.T) {
	hub := newFakeHub(t)
	hub.mu.Lock()
	for range searchCap + 5 {
		hub.create(Communications, CreateInput{Properties: map[string]string{"same": "1"}})
	}
	hub.mu.Unlock()
	c := hub.client(t, nil)
	err := c.SearchAll(context.Background(), Communications, SearchRequest{}, "same", func(Object) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("err = %v, want a stall error", err)
	}
}

func TestDefaultAssociationTypeID(t *testing.T) {
	tests := []struct {
		from, to string
		want     int
		ok       bool
	}{
		{Communications, Contacts, 81, true},
		{Communications, Companies, 87, true},
		{Communications, Deals, 85, true},
		{Communications, Tickets, 83, true},
		{"communication", "contact", 81, true},
		{Contacts, Communications, 82, true},
		{Companies, Communications, 88, true},
		{Contacts, Companies, 0, false},
	}
	for _, tt := range tests {
		got, ok := DefaultAssociationTypeID(tt.from, tt.to)
		if got != tt.want || ok != tt.ok {
			t.Errorf("DefaultAssociationTypeID(%q, %q) = %d, %v; want %d, %v", tt.from, tt.to, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no token", Options{BaseURL: "http://127.0.0.1:1"}},
		{"relative URL", Options{BaseURL: "/api", Token: "x"}},
		{"negative TPS", Options{Token: "x", TPS: -1}},
	}
	for _, tt := range tests {
		if _, err := New(tt.opts); err == nil {
			t.Errorf("%s: New succeeded, want an error", tt.name)
		}
	}
}
