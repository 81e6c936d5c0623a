package crm_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

// These tests run the real client against the real emulator (crm/sandbox)
// over HTTP, one endpoint method of *crm.Client at a time, and check what
// the client returns against the sandbox's own state (Server.Objects).

const sandboxToken = "t"

// sandboxClient starts a sandbox with three seeded contacts behind httptest
// and a client for it that does not pace (the sandbox's default tier is
// unlimited).
func sandboxClient(t *testing.T, mod func(*sandbox.Options)) (*sandbox.Server, *crm.Client, string) {
	t.Helper()
	opts := sandbox.Options{Token: sandboxToken, Contacts: 3}
	if mod != nil {
		mod(&opts)
	}
	srv, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv, newClient(t, ts.URL, sandboxToken), ts.URL
}

func newClient(t *testing.T, url, token string) *crm.Client {
	t.Helper()
	c, err := crm.New(crm.Options{BaseURL: url, Token: token, Burst: 1 << 20, Window: time.Second,
		SearchPerSecond: 1 << 20, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seededIDs(t *testing.T, srv *sandbox.Server, objectType string) []string {
	t.Helper()
	var ids []string
	for _, r := range srv.Objects(objectType, false) {
		ids = append(ids, r.ID)
	}
	if len(ids) == 0 {
		t.Fatalf("sandbox seeded no %s", objectType)
	}
	return ids
}

// comm is a valid communication's properties; n makes body and time unique.
func comm(n int) map[string]string {
	return map[string]string{
		"hs_communication_channel_type": []string{"WHATS_APP", "LINKEDIN_MESSAGE", "SMS"}[n%3],
		"hs_communication_logged_from":  "CRM",
		"hs_communication_body":         "message " + strconv.Itoa(n),
		"hs_timestamp":                  time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute).Format(time.RFC3339),
	}
}

func toContact(id string) crm.AssociationInput {
	return crm.AssociationInput{To: crm.ObjectID{ID: id}, Types: []crm.AssociationType{{Category: crm.HubSpotDefined, TypeID: 81}}}
}

// createComms batch-creates n communications (comm(first)…) and returns
// their ids in input order.
func createComms(t *testing.T, c *crm.Client, first, n int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for len(ids) < n {
		var in []crm.CreateInput
		for i := len(ids); i < n && len(in) < 100; i++ {
			in = append(in, crm.CreateInput{Properties: comm(first + i), ObjectWriteTraceID: "k" + strconv.Itoa(first+i)})
		}
		res, err := c.BatchCreate(ctx, crm.Communications, in)
		if err != nil {
			t.Fatal(err)
		}
		traces := make([]string, len(in))
		for i := range in {
			traces[i] = in[i].ObjectWriteTraceID
		}
		for _, o := range crm.MatchBatch(traces, res, "") {
			if o.Err != nil {
				t.Fatalf("create %s: %v", o.TraceID, o.Err)
			}
			ids = append(ids, o.Object.ID)
		}
	}
	return ids
}

func propsOf(t *testing.T, srv *sandbox.Server, objectType, id string) map[string]string {
	t.Helper()
	for _, r := range srv.Objects(objectType, true) {
		if r.ID == id {
			return r.Properties
		}
	}
	t.Fatalf("sandbox has no %s %s", objectType, id)
	return nil
}

func TestSandboxClientCreateGetUpdateArchive(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := sandboxClient(t, nil)
	contact := seededIDs(t, srv, crm.Contacts)[0]

	created, err := c.Create(ctx, crm.Communications, crm.CreateInput{Properties: comm(1), Associations: []crm.AssociationInput{toContact(contact)}})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.Properties["hs_communication_body"] != "message 1" || created.CreatedAt.IsZero() {
		t.Fatalf("Create returned %+v", created)
	}
	if got, err := time.Parse(time.RFC3339Nano, created.Properties["hs_timestamp"]); err != nil || !got.Equal(time.Date(2024, 5, 1, 10, 1, 0, 0, time.UTC)) {
		t.Errorf("hs_timestamp = %q (%v), want 2024-05-01T10:01:00Z", created.Properties["hs_timestamp"], err)
	}
	if got := srv.Objects(crm.Communications, false); len(got) != 1 || got[0].ID != created.ID ||
		!cmp.Equal(got[0].Associations[crm.Contacts], []string{contact}) {
		t.Fatalf("sandbox state after Create: %+v", got)
	}

	tests := []struct {
		name      string
		opts      crm.GetOptions
		wantProps map[string]string // compared on these keys only
		absent    []string          // properties that must not be returned
		wantAssoc map[string]crm.AssociationList
	}{
		{name: "default properties", opts: crm.GetOptions{},
			wantProps: map[string]string{"hs_object_id": created.ID}, absent: []string{"hs_communication_body"}},
		{name: "named properties", opts: crm.GetOptions{Properties: []string{"hs_communication_body", "hs_communication_channel_type"}},
			wantProps: map[string]string{"hs_communication_body": "message 1", "hs_communication_channel_type": "LINKEDIN_MESSAGE"},
			absent:    []string{"hs_timestamp"}},
		{name: "associations", opts: crm.GetOptions{Associations: []string{crm.Contacts}},
			wantAssoc: map[string]crm.AssociationList{crm.Contacts: {Results: []crm.AssociatedID{{ID: contact, Type: "communication_to_contact"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := c.Get(ctx, crm.Communications, created.ID, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if o.ID != created.ID || o.Archived {
				t.Errorf("Get = id %s archived %v", o.ID, o.Archived)
			}
			for k, v := range tt.wantProps {
				if o.Properties[k] != v {
					t.Errorf("property %s = %q, want %q", k, o.Properties[k], v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := o.Properties[k]; ok {
					t.Errorf("property %s returned though not asked for", k)
				}
			}
			if diff := cmp.Diff(tt.wantAssoc, o.Associations); diff != "" {
				t.Errorf("associations (-want +got):\n%s", diff)
			}
		})
	}

	// Update: change one value, clear another with "".
	up, err := c.Update(ctx, crm.Communications, created.ID, map[string]string{"hs_communication_body": "edited", "hs_communication_channel_type": ""})
	if err != nil {
		t.Fatal(err)
	}
	if up.Properties["hs_communication_body"] != "edited" {
		t.Errorf("Update returned body %q", up.Properties["hs_communication_body"])
	}
	stored := propsOf(t, srv, crm.Communications, created.ID)
	if _, ok := stored["hs_communication_channel_type"]; ok || stored["hs_communication_body"] != "edited" || stored["hs_communication_logged_from"] != "CRM" {
		t.Errorf("stored after Update: %v", stored)
	}
	got, err := c.Get(ctx, crm.Communications, created.ID, crm.GetOptions{Properties: []string{"hs_communication_channel_type"}})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := got.Properties["hs_communication_channel_type"]; !ok || v != "" {
		t.Errorf("cleared property read back as %q (present %v), want null → \"\"", v, ok)
	}

	// Archive: gone for a plain Get (404), there with archived=true.
	if err := c.Archive(ctx, crm.Communications, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, crm.Communications, created.ID, crm.GetOptions{}); !crm.IsNotFound(err) {
		t.Errorf("Get of archived record: err = %v, want IsNotFound", err)
	}
	arch, err := c.Get(ctx, crm.Communications, created.ID, crm.GetOptions{Archived: true})
	if err != nil {
		t.Fatal(err)
	}
	if !arch.Archived || arch.ArchivedAt == nil {
		t.Errorf("archived Get = archived %v at %v", arch.Archived, arch.ArchivedAt)
	}
	if err := c.Archive(ctx, crm.Communications, "999999999"); err != nil {
		t.Errorf("Archive of a missing id: %v, want 204 (nil)", err)
	}
}

func TestSandboxClientList(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := sandboxClient(t, nil)
	ids := createComms(t, c, 0, 23)
	archived := []string{ids[0], ids[5], ids[22]}
	if err := c.BatchArchive(ctx, crm.Communications, append([]string{"999999999"}, archived...)); err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, id := range ids {
		if !slices.Contains(archived, id) {
			live = append(live, id)
		}
	}
	if got := len(srv.Objects(crm.Communications, false)); got != len(live) {
		t.Fatalf("sandbox has %d live records after BatchArchive, want %d", got, len(live))
	}

	walk := func(t *testing.T, q crm.ListOptions) ([]string, int) {
		var got []string
		pages := 0
		for {
			p, err := c.List(ctx, crm.Communications, q)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, o := range p.Results {
				if o.Archived != q.Archived {
					t.Errorf("record %s archived=%v in a list with archived=%v", o.ID, o.Archived, q.Archived)
				}
				if slices.Contains(q.Properties, "hs_communication_body") && o.Properties["hs_communication_body"] == "" {
					t.Errorf("record %s: asked-for body missing", o.ID)
				}
				got = append(got, o.ID)
			}
			if p.After == "" {
				return got, pages
			}
			if pages > 50 {
				t.Fatal("List never ended")
			}
			q.After = p.After
		}
	}
	tests := []struct {
		name      string
		q         crm.ListOptions
		want      []string
		wantPages int
	}{
		{"live, 7 a page", crm.ListOptions{Limit: 7, Properties: []string{"hs_communication_body"}}, live, 3},
		{"live, default limit", crm.ListOptions{}, live, 2},
		{"archived", crm.ListOptions{Limit: 2, Archived: true}, archived, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pages := walk(t, tt.q)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if pages != tt.wantPages {
				t.Errorf("%d pages, want %d", pages, tt.wantPages)
			}
		})
	}

	p, err := c.List(ctx, crm.Contacts, crm.ListOptions{Limit: 100, Associations: []string{crm.Companies}, Properties: []string{"email"}})
	if err != nil {
		t.Fatal(err)
	}
	want := srv.Objects(crm.Contacts, false)
	if len(p.Results) != len(want) || p.After != "" {
		t.Fatalf("contacts list: %d results, after %q; sandbox has %d", len(p.Results), p.After, len(want))
	}
	for i, o := range p.Results {
		if o.ID != want[i].ID || o.Properties["email"] != want[i].Properties["email"] {
			t.Errorf("contact %d = %s %q, want %s %q", i, o.ID, o.Properties["email"], want[i].ID, want[i].Properties["email"])
		}
		var gotCompanies []string
		for _, a := range o.Associations[crm.Companies].Results {
			gotCompanies = append(gotCompanies, a.ID)
		}
		if !cmp.Equal(gotCompanies, want[i].Associations[crm.Companies], cmpopts.EquateEmpty(), cmpopts.SortSlices(func(a, b string) bool { return a < b })) {
			t.Errorf("contact %s companies = %v, sandbox %v", o.ID, gotCompanies, want[i].Associations[crm.Companies])
		}
	}
}

func TestSandboxClientBatchCreate(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := sandboxClient(t, nil)
	contacts := seededIDs(t, srv, crm.Contacts)

	bad := comm(2)
	bad["hs_communication_channel_type"] = "CARRIER_PIGEON"
	in := []crm.CreateInput{
		{Properties: comm(0), Associations: []crm.AssociationInput{toContact(contacts[0]), toContact(contacts[1])}, ObjectWriteTraceID: "a"},
		{Properties: comm(1), ObjectWriteTraceID: "b"},
		{Properties: bad, Associations: []crm.AssociationInput{toContact(contacts[2])}, ObjectWriteTraceID: "c"},
		{Properties: comm(3), Associations: []crm.AssociationInput{toContact(contacts[2])}, ObjectWriteTraceID: "d"},
	}
	res, err := c.BatchCreate(ctx, crm.Communications, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 3 || res.NumErrors != 1 || len(res.Errors) != 1 {
		t.Fatalf("207 expected: %d results, numErrors %d, errors %+v", len(res.Results), res.NumErrors, res.Errors)
	}
	out := crm.MatchBatch([]string{"a", "b", "c", "d"}, res, "")
	for i, o := range out {
		if (o.Err != nil) != (i == 2) {
			t.Errorf("input %s: err = %v", o.TraceID, o.Err)
		}
	}
	if e := out[2].Err; e == nil || e.Category != "VALIDATION_ERROR" || len(e.Errors) != 1 || e.Errors[0].Code != "INVALID_OPTION" ||
		!cmp.Equal(e.Errors[0].Context["propertyName"], []string{"hs_communication_channel_type"}) {
		t.Errorf("bad input's error = %+v", out[2].Err)
	}
	wantAssoc := map[string][]string{"a": {contacts[0], contacts[1]}, "b": nil, "d": {contacts[2]}}
	stored := map[string]sandbox.Record{}
	for _, r := range srv.Objects(crm.Communications, false) {
		stored[r.ID] = r
	}
	if len(stored) != 3 {
		t.Errorf("sandbox holds %d communications, want 3", len(stored))
	}
	for trace, want := range wantAssoc {
		o := out[int(trace[0]-'a')].Object
		r, ok := stored[o.ID]
		if !ok {
			t.Errorf("%s: created %s not in the sandbox", trace, o.ID)
			continue
		}
		if o.ObjectWriteTraceID != trace || r.Properties["hs_communication_body"] != o.Properties["hs_communication_body"] {
			t.Errorf("%s: result %+v, stored %v", trace, o, r.Properties)
		}
		if !cmp.Equal(want, r.Associations[crm.Contacts], cmpopts.EquateEmpty(), cmpopts.SortSlices(func(a, b string) bool { return a < b })) {
			t.Errorf("%s: associations %v, want %v", trace, r.Associations[crm.Contacts], want)
		}
	}

	// Without trace ids one bad input refuses the whole batch.
	_, err = c.BatchCreate(ctx, crm.Communications, []crm.CreateInput{{Properties: comm(4)}, {Properties: bad}})
	if !crm.IsBatchRejected(err) || !crm.IsValidation(err) {
		t.Errorf("batch without trace ids: err = %v, want IsBatchRejected and IsValidation", err)
	}
	// More than 100 inputs: HubSpot's bean validation refuses it.
	var many []crm.CreateInput
	for i := range 101 {
		many = append(many, crm.CreateInput{Properties: comm(i), ObjectWriteTraceID: "m" + strconv.Itoa(i)})
	}
	_, err = c.BatchCreate(ctx, crm.Communications, many)
	if !crm.IsBatchRejected(err) {
		t.Errorf("101 inputs: err = %v, want a rejected batch", err)
	}
	if n := len(srv.Objects(crm.Communications, false)); n != 3 {
		t.Errorf("refused batches wrote records: %d communications, want 3", n)
	}
}

func TestSandboxClientBatchReadUpdateArchive(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := sandboxClient(t, nil)
	ids := createComms(t, c, 0, 5)

	res, err := c.BatchRead(ctx, crm.Communications, crm.BatchReadInput{
		Inputs:     []crm.ObjectID{{ID: ids[1]}, {ID: "999999999"}, {ID: ids[3]}},
		Properties: []string{"hs_communication_body"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range res.Results {
		got[o.ID] = o.Properties["hs_communication_body"]
	}
	if diff := cmp.Diff(map[string]string{ids[1]: "message 1", ids[3]: "message 3"}, got); diff != "" {
		t.Errorf("BatchRead results (-want +got):\n%s", diff)
	}
	if len(res.Errors) != 1 || res.Errors[0].Category != "OBJECT_NOT_FOUND" || !cmp.Equal(res.Errors[0].Context["ids"], []string{"999999999"}) {
		t.Errorf("BatchRead errors = %+v, want one OBJECT_NOT_FOUND naming 999999999", res.Errors)
	}

	up, err := c.BatchUpdate(ctx, crm.Communications, []crm.UpdateInput{
		{ID: ids[0], Properties: map[string]string{"hs_communication_body": "zero"}},
		{ID: ids[2], Properties: map[string]string{"hs_communication_body": "two", "hs_communication_channel_type": ""}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Results) != 2 || len(up.Errors) != 0 {
		t.Fatalf("BatchUpdate = %+v", up)
	}
	if p := propsOf(t, srv, crm.Communications, ids[0]); p["hs_communication_body"] != "zero" || p["hs_communication_channel_type"] != "WHATS_APP" {
		t.Errorf("record 0 after update: %v", p)
	}
	if p := propsOf(t, srv, crm.Communications, ids[2]); p["hs_communication_body"] != "two" || p["hs_communication_channel_type"] != "" {
		t.Errorf("record 2 after update: %v", p)
	}

	if err := c.BatchArchive(ctx, crm.Communications, []string{ids[1], ids[2]}); err != nil {
		t.Fatal(err)
	}
	res, err = c.BatchRead(ctx, crm.Communications, crm.BatchReadInput{Inputs: []crm.ObjectID{{ID: ids[1]}, {ID: ids[2]}, {ID: ids[4]}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 1 || res.Results[0].ID != ids[4] || len(res.Errors) != 1 || len(res.Errors[0].Context["ids"]) != 2 {
		t.Errorf("BatchRead after archive = %d results, errors %+v", len(res.Results), res.Errors)
	}
	res, err = c.BatchRead(ctx, crm.Communications, crm.BatchReadInput{Inputs: []crm.ObjectID{{ID: ids[1]}, {ID: ids[2]}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 2 || !res.Results[0].Archived || !res.Results[1].Archived {
		t.Errorf("archived BatchRead = %+v", res.Results)
	}
}

func TestSandboxClientBatchUpsert(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := sandboxClient(t, nil)
	p, err := c.CreateProperty(ctx, crm.Communications, crm.PropertyCreate{Name: "ext_id", Label: "External id", Type: "string",
		FieldType: "text", GroupName: "communicationinformation", HasUniqueValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasUniqueValue || p.Name != "ext_id" {
		t.Fatalf("CreateProperty = %+v", p)
	}
	upsert := func(vals map[string]string) map[string]crm.Object {
		t.Helper()
		var in []crm.UpdateInput
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			props := comm(len(in))
			props["hs_communication_body"] = vals[k]
			in = append(in, crm.UpdateInput{ID: k, IDProperty: "ext_id", Properties: props})
		}
		res, err := c.BatchUpsert(ctx, crm.Communications, in)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]crm.Object{}
		for _, o := range res.Results {
			out[o.Properties["ext_id"]] = o
		}
		return out
	}
	first := upsert(map[string]string{"x1": "one", "x2": "two"})
	second := upsert(map[string]string{"x2": "two again", "x3": "three"})
	type row struct {
		New  bool
		Body string
	}
	summary := func(m map[string]crm.Object) map[string]row {
		out := map[string]row{}
		for k, o := range m {
			out[k] = row{New: o.New != nil && *o.New, Body: o.Properties["hs_communication_body"]}
		}
		return out
	}
	if diff := cmp.Diff(map[string]row{"x1": {true, "one"}, "x2": {true, "two"}}, summary(first)); diff != "" {
		t.Errorf("first upsert (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]row{"x2": {false, "two again"}, "x3": {true, "three"}}, summary(second)); diff != "" {
		t.Errorf("second upsert (-want +got):\n%s", diff)
	}
	if first["x2"].ID != second["x2"].ID {
		t.Errorf("upsert of x2 made a new record %s (first %s)", second["x2"].ID, first["x2"].ID)
	}
	if n := len(srv.Objects(crm.Communications, false)); n != 3 {
		t.Errorf("%d communications after upserts, want 3", n)
	}
	// Read back by the unique property.
	o, err := c.Get(ctx, crm.Communications, "x2", crm.GetOptions{IDProperty: "ext_id", Properties: []string{"hs_communication_body"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != first["x2"].ID || o.Properties["hs_communication_body"] != "two again" {
		t.Errorf("Get by ext_id = %s %v", o.ID, o.Properties)
	}
	// A non-unique property cannot key an upsert.
	_, err = c.BatchUpsert(ctx, crm.Communications, []crm.UpdateInput{{ID: "b", IDProperty: "hs_communication_body", Properties: comm(9)}})
	if !crm.IsBatchRejected(err) {
		t.Errorf("upsert by a non-unique property: err = %v, want a rejected batch", err)
	}
}

func TestSandboxClientSearch(t *testing.T) {
	ctx := context.Background()
	_, c, _ := sandboxClient(t, nil)
	ids := createComms(t, c, 0, 12) // channels cycle WHATS_APP, LINKEDIN_MESSAGE, SMS
	var sms []string                // n%3 == 2, newest first
	for i := len(ids) - 1; i >= 0; i-- {
		if i%3 == 2 {
			sms = append(sms, ids[i])
		}
	}

	tests := []struct {
		name  string
		req   crm.SearchRequest
		want  []string
		total int
	}{
		{name: "EQ, newest first, 3 a page", req: crm.SearchRequest{
			FilterGroups: []crm.FilterGroup{{Filters: []crm.Filter{{PropertyName: "hs_communication_channel_type", Operator: "EQ", Value: "SMS"}}}},
			Sorts:        []crm.Sort{{PropertyName: "hs_timestamp", Direction: "DESCENDING"}},
			Properties:   []string{"hs_communication_body"}, Limit: 3,
		}, want: sms, total: 4},
		{name: "OR of groups, BETWEEN on datetime as epoch ms", req: crm.SearchRequest{
			FilterGroups: []crm.FilterGroup{
				{Filters: []crm.Filter{{PropertyName: "hs_timestamp", Operator: "BETWEEN",
					Value:     strconv.FormatInt(time.Date(2024, 5, 1, 10, 1, 0, 0, time.UTC).UnixMilli(), 10),
					HighValue: strconv.FormatInt(time.Date(2024, 5, 1, 10, 2, 0, 0, time.UTC).UnixMilli(), 10)}}},
				{Filters: []crm.Filter{{PropertyName: "hs_communication_body", Operator: "EQ", Value: "message 11"}}},
			},
			Sorts: []crm.Sort{{PropertyName: "hs_timestamp", Direction: "ASCENDING"}}, Limit: 2,
		}, want: []string{ids[1], ids[2], ids[11]}, total: 3},
		{name: "IN and free text", req: crm.SearchRequest{
			FilterGroups: []crm.FilterGroup{{Filters: []crm.Filter{{PropertyName: "hs_object_id", Operator: "IN", Values: []string{ids[4], ids[7], "999999999"}}}}},
			Query:        "message",
		}, want: []string{ids[4], ids[7]}, total: 2},
		{name: "no match", req: crm.SearchRequest{
			FilterGroups: []crm.FilterGroup{{Filters: []crm.Filter{{PropertyName: "hs_communication_body", Operator: "EQ", Value: "nothing"}}}},
		}, want: nil, total: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			req := tt.req
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatal("search never ended")
				}
				res, err := c.Search(ctx, crm.Communications, req)
				if err != nil {
					t.Fatal(err)
				}
				if res.Total != tt.total {
					t.Errorf("total = %d, want %d", res.Total, tt.total)
				}
				for _, o := range res.Results {
					got = append(got, o.ID)
					if slices.Contains(req.Properties, "hs_communication_body") && o.Properties["hs_communication_body"] == "" {
						t.Errorf("%s: asked-for property missing", o.ID)
					}
				}
				if res.After == "" {
					break
				}
				req.After = res.After
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}

	if _, err := c.Search(ctx, crm.Communications, crm.SearchRequest{FilterGroups: []crm.FilterGroup{{Filters: []crm.Filter{{PropertyName: "no_such", Operator: "EQ", Value: "x"}}}}}); !crm.IsValidation(err) {
		t.Errorf("filter on an unknown property: err = %v, want IsValidation", err)
	}
}

// TestSandboxClientSearchLag: a write is invisible to search until the
// index lag has passed on the sandbox's clock.
func TestSandboxClientSearchLag(t *testing.T) {
	ctx := context.Background()
	clock := &fakeNow{t: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)}
	_, c, _ := sandboxClient(t, func(o *sandbox.Options) {
		o.SearchLag = 5 * time.Second
		o.Now = clock.now
	})
	ids := createComms(t, c, 0, 2)
	count := func() int {
		res, err := c.Search(ctx, crm.Communications, crm.SearchRequest{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return res.Total
	}
	if n := count(); n != 0 {
		t.Errorf("right after create search sees %d records, want 0", n)
	}
	if _, err := c.Get(ctx, crm.Communications, ids[0], crm.GetOptions{}); err != nil {
		t.Errorf("Get does not lag: %v", err)
	}
	clock.add(5 * time.Second)
	if n := count(); n != 2 {
		t.Errorf("after the lag search sees %d records, want 2", n)
	}
}

// fakeNow is the sandbox's clock in TestSandboxClientSearchLag.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func TestSandboxClientSearchAll(t *testing.T) {
	ctx := context.Background()
	_, c, _ := sandboxClient(t, nil)
	ids := createComms(t, c, 0, 230)
	tests := []struct {
		name string
		req  crm.SearchRequest
		sort string
		want []string
	}{
		{"by hs_object_id, 9 a page", crm.SearchRequest{Limit: 9}, "hs_object_id", ids},
		{"by hs_timestamp, SMS only", crm.SearchRequest{Limit: 7, FilterGroups: []crm.FilterGroup{{Filters: []crm.Filter{
			{PropertyName: "hs_communication_channel_type", Operator: "EQ", Value: "SMS"}}}}}, "hs_timestamp",
			func() []string {
				var out []string
				for i, id := range ids {
					if i%3 == 2 {
						out = append(out, id)
					}
				}
				return out
			}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var last time.Time
			err := c.SearchAll(ctx, crm.Communications, tt.req, tt.sort, func(o crm.Object) error {
				v := o.Properties[tt.sort]
				if v == "" {
					return fmt.Errorf("record %s lacks the sort property %s", o.ID, tt.sort)
				}
				if tt.sort == "hs_timestamp" {
					ts, err := time.Parse(time.RFC3339Nano, v)
					if err != nil || ts.Before(last) {
						return fmt.Errorf("record %s out of order or unparsable: %s after %s (%v)", o.ID, v, last, err)
					}
					last = ts
				}
				got = append(got, o.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	stop := errors.New("enough")
	n := 0
	err := c.SearchAll(ctx, crm.Communications, crm.SearchRequest{Limit: 5}, "hs_object_id", func(crm.Object) error {
		n++
		if n == 12 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 12 {
		t.Errorf("callback error: SearchAll returned %v after %d records, want the callback's error after 12", err, n)
	}
}

func TestSandboxClientAssociations(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := sandboxClient(t, nil)
	contacts := seededIDs(t, srv, crm.Contacts)
	companies := seededIDs(t, srv, crm.Companies)
	ids := createComms(t, c, 0, 3)

	assocOf := func(id, toType string) []string {
		t.Helper()
		for _, r := range srv.Objects(crm.Communications, false) {
			if r.ID == id {
				out := slices.Clone(r.Associations[toType])
				sort.Strings(out)
				return out
			}
		}
		t.Fatalf("no communication %s", id)
		return nil
	}
	sorted := func(s ...string) []string {
		s = slices.Clone(s)
		sort.Strings(s)
		return s
	}

	// v3, type as number and as label.
	if err := c.Associate(ctx, crm.Communications, ids[0], crm.Contacts, contacts[0], "81"); err != nil {
		t.Fatal(err)
	}
	if err := c.Associate(ctx, crm.Communications, ids[0], crm.Contacts, contacts[1], "communication_to_contact"); err != nil {
		t.Fatal(err)
	}
	if err := c.Associate(ctx, crm.Communications, ids[0], crm.Contacts, contacts[1], "81"); err != nil {
		t.Errorf("associating twice: %v", err)
	}
	if err := c.Associate(ctx, crm.Communications, ids[0], crm.Companies, companies[0], "87"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sorted(contacts[0], contacts[1]), assocOf(ids[0], crm.Contacts)); diff != "" {
		t.Errorf("contacts after Associate (-want +got):\n%s", diff)
	}
	if err := c.Associate(ctx, crm.Communications, ids[0], crm.Contacts, "999999999", "81"); !crm.IsNotFound(err) {
		t.Errorf("Associate to a missing contact: err = %v, want IsNotFound", err)
	}
	if err := c.Associate(ctx, crm.Communications, ids[0], crm.Contacts, contacts[0], "87"); !crm.IsValidation(err) {
		t.Errorf("Associate with a type of another pair: err = %v, want IsValidation", err)
	}
	if err := c.Unassociate(ctx, crm.Communications, ids[0], crm.Contacts, contacts[0], "communication_to_contact"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{contacts[1]}, assocOf(ids[0], crm.Contacts)); diff != "" {
		t.Errorf("contacts after Unassociate (-want +got):\n%s", diff)
	}

	// v4 batch: default type, explicit type, a missing record.
	res, err := c.BatchAssociate(ctx, crm.Communications, crm.Contacts, []crm.AssociationPair{
		{FromID: ids[1], ToID: contacts[0]},
		{FromID: ids[1], ToID: contacts[2], Types: []crm.AssociationType{{Category: crm.HubSpotDefined, TypeID: 81}}},
		{FromID: ids[2], ToID: contacts[2]},
		{FromID: ids[2], ToID: "999999999"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var pairs [][2]string
	for _, r := range res.Results {
		if r.FromObjectTypeID != "0-18" || r.ToObjectTypeID != "0-1" {
			t.Errorf("result type ids %s → %s", r.FromObjectTypeID, r.ToObjectTypeID)
		}
		pairs = append(pairs, [2]string{r.FromObjectID, r.ToObjectID})
	}
	want := [][2]string{{ids[1], contacts[0]}, {ids[1], contacts[2]}, {ids[2], contacts[2]}}
	if diff := cmp.Diff(want, pairs); diff != "" {
		t.Errorf("BatchAssociate results (-want +got):\n%s", diff)
	}
	if len(res.Errors) != 1 || res.NumErrors != 1 {
		t.Errorf("BatchAssociate errors = %+v, want one for the missing contact", res.Errors)
	}
	if _, err := c.BatchAssociate(ctx, crm.Communications, "notes", []crm.AssociationPair{{FromID: ids[1], ToID: "1"}}); err == nil {
		t.Error("BatchAssociate without a default type for the pair: no error")
	}

	read, err := c.BatchReadAssociations(ctx, crm.Communications, crm.Contacts, append(slices.Clone(ids), "999999999"))
	if err != nil {
		t.Fatal(err)
	}
	ct := "communication_to_contact"
	wantRead := map[string][]crm.AssociatedID{
		ids[0]: {{ID: contacts[1], Type: ct}},
		ids[1]: {{ID: contacts[0], Type: ct}, {ID: contacts[2], Type: ct}},
		ids[2]: {{ID: contacts[2], Type: ct}},
	}
	byID := cmpopts.SortSlices(func(a, b crm.AssociatedID) bool { return a.ID < b.ID })
	if diff := cmp.Diff(wantRead, read, byID); diff != "" {
		t.Errorf("BatchReadAssociations (-want +got):\n%s", diff)
	}
	companyRead, err := c.BatchReadAssociations(ctx, crm.Communications, crm.Companies, ids)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]crm.AssociatedID{ids[0]: {{ID: companies[0], Type: "communication_to_company"}}}, companyRead); diff != "" {
		t.Errorf("companies (-want +got):\n%s", diff)
	}

	// v4 removal: with types (labels/archive) and without (archive).
	if err := c.BatchUnassociate(ctx, crm.Communications, crm.Contacts, []crm.AssociationPair{
		{FromID: ids[1], ToID: contacts[0]},
		{FromID: ids[1], ToID: contacts[2], Types: []crm.AssociationType{{Category: crm.HubSpotDefined, TypeID: 81}}},
		{FromID: ids[2], ToID: "999999999"},
	}); err != nil {
		t.Fatal(err)
	}
	if got := assocOf(ids[1], crm.Contacts); len(got) != 0 {
		t.Errorf("communication %s still has contacts %v", ids[1], got)
	}
	if diff := cmp.Diff([]string{contacts[2]}, assocOf(ids[2], crm.Contacts)); diff != "" {
		t.Errorf("untouched record's contacts changed (-want +got):\n%s", diff)
	}
	// The reverse side follows.
	back, err := c.Get(ctx, crm.Contacts, contacts[2], crm.GetOptions{Associations: []string{crm.Communications}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]crm.AssociatedID{{ID: ids[2], Type: "contact_to_communication"}}, back.Associations[crm.Communications].Results); diff != "" {
		t.Errorf("contact's communications (-want +got):\n%s", diff)
	}
}

func TestSandboxClientProperties(t *testing.T) {
	ctx := context.Background()
	_, c, _ := sandboxClient(t, nil)
	byName := func() map[string]crm.Property {
		t.Helper()
		props, err := c.Properties(ctx, crm.Communications)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]crm.Property{}
		for _, p := range props {
			if _, dup := m[p.Name]; dup {
				t.Errorf("property %s listed twice", p.Name)
			}
			m[p.Name] = p
		}
		return m
	}
	before := byName()
	ch, ok := before["hs_communication_channel_type"]
	if !ok || ch.Type != "enumeration" || !ch.HubspotDefined {
		t.Fatalf("hs_communication_channel_type = %+v", ch)
	}
	var opts []string
	for _, o := range ch.Options {
		opts = append(opts, o.Value)
	}
	if diff := cmp.Diff([]string{"WHATS_APP", "LINKEDIN_MESSAGE", "SMS"}, opts); diff != "" {
		t.Errorf("channel options (-want +got):\n%s", diff)
	}
	if !before["hs_object_id"].ModificationMetadata.ReadOnlyValue {
		t.Error("hs_object_id is not read-only")
	}
	if _, ok := before[crm.KeyProperty]; ok {
		t.Fatalf("%s exists before EnsureKeyProperty", crm.KeyProperty)
	}

	for i := range 2 {
		if err := c.EnsureKeyProperty(ctx); err != nil {
			t.Fatalf("EnsureKeyProperty #%d: %v", i+1, err)
		}
	}
	after := byName()
	// In the group of HubSpot's own communication properties: the sandbox
	// refuses a property in a group that does not exist.
	if k := after[crm.KeyProperty]; k.Type != "string" || k.FieldType != "text" || k.HubspotDefined || k.GroupName != after["hs_communication_body"].GroupName {
		t.Errorf("%s = %+v", crm.KeyProperty, k)
	}
	if len(after) != len(before)+1 {
		t.Errorf("%d properties after EnsureKeyProperty twice, want %d", len(after), len(before)+1)
	}

	def := crm.PropertyCreate{Name: "commlog_source", Label: "Source", Type: "enumeration", FieldType: "select",
		GroupName: "communicationinformation", Options: []crm.PropertyOption{{Label: "WhatsApp", Value: "wa"}, {Label: "SMS", Value: "sms", DisplayOrder: 1}}}
	p, err := c.CreateProperty(ctx, crm.Communications, def)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != def.Name || p.Type != "enumeration" || len(p.Options) != 2 || p.HasUniqueValue {
		t.Errorf("CreateProperty = %+v", p)
	}
	_, err = c.CreateProperty(ctx, crm.Communications, def)
	if !crm.IsConflict(err) || crm.IsValidation(err) {
		t.Errorf("duplicate property: err = %v, want IsConflict only", err)
	}
	bad := def
	bad.Name, bad.Options = "commlog_other", nil
	if _, err := c.CreateProperty(ctx, crm.Communications, bad); !crm.IsValidation(err) {
		t.Errorf("enumeration without options: err = %v, want IsValidation", err)
	}
	// The new property takes values and refuses others.
	props := comm(0)
	props["commlog_source"] = "wa"
	o, err := c.Create(ctx, crm.Communications, crm.CreateInput{Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	if o.Properties["commlog_source"] != "wa" {
		t.Errorf("created with commlog_source %q", o.Properties["commlog_source"])
	}
	props["commlog_source"] = "fax"
	if _, err := c.Create(ctx, crm.Communications, crm.CreateInput{Properties: props}); !crm.IsValidation(err) {
		t.Errorf("value outside the options: err = %v, want IsValidation", err)
	}
}

func TestSandboxClientOwners(t *testing.T) {
	ctx := context.Background()
	_, c, _ := sandboxClient(t, nil)
	owners, err := c.Owners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []crm.Owner{
		{ID: "75000001", Email: "ana.owner@example.com", FirstName: "Ana", LastName: "Owner", UserID: 9100001},
		{ID: "75000002", Email: "ben.owner@example.com", FirstName: "Ben", LastName: "Owner", UserID: 9100002},
		{ID: "75000003", Email: "chen.owner@example.com", FirstName: "Chen", LastName: "Owner", UserID: 9100003},
	}
	if diff := cmp.Diff(want, owners); diff != "" {
		t.Errorf("owners (-want +got):\n%s", diff)
	}
	// An owner id is a valid hubspot_owner_id.
	props := comm(0)
	props["hubspot_owner_id"] = owners[1].ID
	o, err := c.Create(ctx, crm.Communications, crm.CreateInput{Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, crm.Communications, o.ID, crm.GetOptions{Properties: []string{"hubspot_owner_id"}}); err != nil || got.Properties["hubspot_owner_id"] != owners[1].ID {
		t.Errorf("owner read back: %v, %v", got, err)
	}
}

func TestSandboxClientPin(t *testing.T) {
	ctx := context.Background()
	srv, c, _ := sandboxClient(t, nil)
	contact := seededIDs(t, srv, crm.Contacts)[0]
	deal := seededIDs(t, srv, crm.Deals)[0]
	id := createComms(t, c, 0, 1)[0]

	tests := []struct {
		name, objectType, objectID string
	}{
		{"contact", crm.Contacts, contact},
		{"deal", crm.Deals, deal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Pin(ctx, tt.objectType, tt.objectID, id)
			if !crm.IsValidation(err) {
				t.Fatalf("Pin before associating: err = %v, want IsValidation", err)
			}
			if v := propsOf(t, srv, tt.objectType, tt.objectID)[crm.PinnedEngagementProperty]; v != "" {
				t.Fatalf("refused pin stored %q", v)
			}
			typ, _ := crm.DefaultAssociationTypeID(crm.Communications, tt.objectType)
			if err := c.Associate(ctx, crm.Communications, id, tt.objectType, tt.objectID, strconv.Itoa(typ)); err != nil {
				t.Fatal(err)
			}
			if err := c.Pin(ctx, tt.objectType, tt.objectID, id); err != nil {
				t.Fatal(err)
			}
			if v := propsOf(t, srv, tt.objectType, tt.objectID)[crm.PinnedEngagementProperty]; v != id {
				t.Errorf("%s = %q, want %s", crm.PinnedEngagementProperty, v, id)
			}
		})
	}
	if err := c.Pin(ctx, crm.Contacts, "999999999", id); !crm.IsNotFound(err) {
		t.Errorf("Pin on a missing contact: err = %v, want IsNotFound", err)
	}
}

// TestSandboxClientErrors checks the error helpers on the sandbox's real
// answers.
func TestSandboxClientErrors(t *testing.T) {
	ctx := context.Background()
	_, c, url := sandboxClient(t, nil)
	wrong := newClient(t, url, "wrong-token")
	ids := createComms(t, c, 0, 1)

	type classes struct{ Unauthorized, NotFound, Validation, BatchRejected, Conflict bool }
	classify := func(err error) classes {
		return classes{crm.IsUnauthorized(err), crm.IsNotFound(err), crm.IsValidation(err), crm.IsBatchRejected(err), crm.IsConflict(err)}
	}
	tests := []struct {
		name   string
		call   func() error
		want   classes
		status int
	}{
		{"wrong token", func() error { _, err := wrong.Get(ctx, crm.Communications, ids[0], crm.GetOptions{}); return err },
			classes{Unauthorized: true}, 401},
		{"wrong token on a batch", func() error {
			_, err := wrong.BatchCreate(ctx, crm.Communications, []crm.CreateInput{{Properties: comm(1)}})
			return err
		}, classes{Unauthorized: true}, 401},
		{"missing record", func() error { _, err := c.Get(ctx, crm.Communications, "999999999", crm.GetOptions{}); return err },
			classes{NotFound: true}, 404},
		{"update of a missing record", func() error {
			_, err := c.Update(ctx, crm.Communications, "999999999", map[string]string{"hs_communication_body": "x"})
			return err
		}, classes{NotFound: true}, 404},
		{"unknown property on create", func() error {
			p := comm(1)
			p["no_such_property"] = "x"
			_, err := c.Create(ctx, crm.Communications, crm.CreateInput{Properties: p})
			return err
		}, classes{Validation: true}, 400},
		{"unknown property on batch create without trace ids", func() error {
			p := comm(1)
			p["no_such_property"] = "x"
			_, err := c.BatchCreate(ctx, crm.Communications, []crm.CreateInput{{Properties: comm(2)}, {Properties: p}})
			return err
		}, classes{Validation: true, BatchRejected: true}, 400},
		{"bad datetime on batch update", func() error {
			_, err := c.BatchUpdate(ctx, crm.Communications, []crm.UpdateInput{{ID: ids[0], Properties: map[string]string{"hs_timestamp": "yesterday"}}})
			return err
		}, classes{Validation: true, BatchRejected: true}, 400},
		{"unknown object type", func() error { _, err := c.List(ctx, "widgets", crm.ListOptions{}); return err },
			classes{Validation: true}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var e *crm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *crm.Error", err, err)
			}
			if e.StatusCode != tt.status {
				t.Errorf("status %d, want %d", e.StatusCode, tt.status)
			}
			if e.CorrelationID == "" {
				t.Error("no correlation id")
			}
			if diff := cmp.Diff(tt.want, classify(err)); diff != "" {
				t.Errorf("classes (-want +got):\n%s", diff)
			}
		})
	}
	if n := c.Stats().InDoubt + wrong.Stats().InDoubt; n != 0 {
		t.Errorf("%d calls in doubt; every answer above was definite", n)
	}
}

// TestSandboxClientSearchAllPastCap walks more records than one search query
// may page through (10,000): SearchAll must restart its window with GTE the
// last sort value and drop the overlap, so every record comes exactly once.
// Five records share each hs_timestamp, so the restart lands inside a run
// of equal values.
func TestSandboxClientSearchAllPastCap(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,050 records")
	}
	ctx := context.Background()
	srv, c, _ := sandboxClient(t, nil)
	const n = 10050
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for first := 0; first < n; first += 100 {
		var in []crm.CreateInput
		for i := first; i < min(first+100, n); i++ {
			p := comm(i)
			p["hs_timestamp"] = strconv.FormatInt(base.Add(time.Duration(i/5)*time.Minute).UnixMilli(), 10)
			in = append(in, crm.CreateInput{Properties: p})
		}
		if _, err := c.BatchCreate(ctx, crm.Communications, in); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for _, r := range srv.Objects(crm.Communications, false) {
		want[r.ID] = true
	}
	if len(want) != n {
		t.Fatalf("sandbox holds %d records, want %d", len(want), n)
	}
	seen := map[string]int{}
	var last time.Time
	before := c.Stats().SearchRequests
	err := c.SearchAll(ctx, crm.Communications, crm.SearchRequest{}, "hs_timestamp", func(o crm.Object) error {
		ts, err := time.Parse(time.RFC3339Nano, o.Properties["hs_timestamp"])
		if err != nil || ts.Before(last) {
			return fmt.Errorf("record %s: hs_timestamp %q after %s (%v)", o.ID, o.Properties["hs_timestamp"], last, err)
		}
		last = ts
		seen[o.ID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var dup, missing []string
	for id, k := range seen {
		if k > 1 || !want[id] {
			dup = append(dup, id)
		}
	}
	for id := range want {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	if len(dup) > 0 || len(missing) > 0 {
		t.Errorf("%d records seen twice or unknown (%v…), %d missing (%v…)", len(dup), dup[:min(3, len(dup))], len(missing), missing[:min(3, len(missing))])
	}
	// 50 pages of 200 reach the cap; the restart reads the last 50 plus
	// the overlap in one more page.
	if got := c.Stats().SearchRequests - before; got != 51 {
		t.Errorf("%d search requests, want 51", got)
	}
}
