package crm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// answerAssocRead makes the hub answer every v4 batch/read with fn's
// status and body, and records the inputs of each request.
func answerAssocRead(hub *fakeHub, fn func(in []v4ReadInput) (int, string)) func() [][]v4ReadInput {
	var mu sync.Mutex
	var got [][]v4ReadInput
	hub.setHook(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		if !strings.HasSuffix(r.URL.Path, "/batch/read") || !strings.Contains(r.URL.Path, "/v4/") {
			return false
		}
		var in batchInputs[v4ReadInput]
		if err := json.Unmarshal(body, &in); err != nil {
			hub.t.Error(err)
		}
		mu.Lock()
		got = append(got, in.Inputs)
		mu.Unlock()
		status, out := fn(in.Inputs)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(out))
		return true
	})
	return func() [][]v4ReadInput {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

func TestBatchReadAssociationsAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    map[string][]AssociatedID
		wantErr string
	}{
		{
			name:   "ids as strings and numbers, labels, a record without associations",
			status: 207,
			body: `{"status":"COMPLETE","results":[
				{"from":{"id":"11"},"to":[{"toObjectId":"501","associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":81,"label":null},{"category":"USER_DEFINED","typeId":12,"label":"Buyer"}]}]},
				{"from":{"id":12},"to":[{"toObjectId":90000000000001,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":81}]}]}],
				"numErrors":1,"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","subCategory":"crm.associations.NO_ASSOCIATIONS_FOUND","message":"No contact is associated with communication 13.","context":{"fromObjectId":["13"]}}],
				"startedAt":"2025-03-01T10:00:00Z","completedAt":"2025-03-01T10:00:00Z"}`,
			want: map[string][]AssociatedID{
				"11": {{ID: "501", Type: "communication_to_contact"}, {ID: "501", Type: "12"}},
				"12": {{ID: "90000000000001", Type: "communication_to_contact"}},
			},
		},
		{
			name:   "nothing associated at all",
			status: 207,
			body:   `{"status":"COMPLETE","results":[],"numErrors":3,"errors":[{"status":"error","category":"OBJECT_NOT_FOUND","subCategory":"crm.associations.NO_ASSOCIATIONS_FOUND","message":"No contact is associated with communication 11."}]}`,
			want:   map[string][]AssociatedID{},
		},
		{
			name:    "an error that is not a missing record is not swallowed",
			status:  207,
			body:    `{"status":"COMPLETE","results":[],"numErrors":1,"errors":[{"status":"error","category":"VALIDATION_ERROR","message":"Invalid from object type"}]}`,
			wantErr: "VALIDATION_ERROR: Invalid from object type",
		},
		{
			name:    "an answer for a record not asked for",
			status:  200,
			body:    `{"status":"COMPLETE","results":[{"from":{"id":"77"},"to":[]}]}`,
			wantErr: "record 77, which was not asked for",
		},
		{
			name:    "a refused request",
			status:  400,
			body:    `{"status":"error","message":"Unable to infer object type from: nope","category":"VALIDATION_ERROR","correlationId":"c0ffee00-0000-4000-8000-000000000000"}`,
			wantErr: "400 VALIDATION_ERROR: Unable to infer object type from",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := newFakeHub(t)
			answerAssocRead(hub, func([]v4ReadInput) (int, string) { return tt.status, tt.body })
			got, err := hub.client(t, nil).BatchReadAssociations(context.Background(), Communications, Contacts, []string{"11", "12", "13"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestBatchReadAssociationsChunksAndPages sends 2,500 ids: three requests
// of at most 1,000; the record whose associations run over a page is asked
// for again, with its cursor, in the first request that has room.
func TestBatchReadAssociationsChunksAndPages(t *testing.T) {
	hub := newFakeHub(t)
	requests := answerAssocRead(hub, func(in []v4ReadInput) (int, string) {
		var results []string
		for _, q := range in {
			if q.ID != "7" {
				continue
			}
			if q.After == "" {
				results = append(results, `{"from":{"id":"7"},"to":[{"toObjectId":1,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":81}]}],"paging":{"next":{"after":"MQ%3D%3D","link":"?after=MQ%3D%3D"}}}`)
			} else {
				results = append(results, `{"from":{"id":"7"},"to":[{"toObjectId":2,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":81}]}]}`)
			}
		}
		return 200, `{"status":"COMPLETE","results":[` + strings.Join(results, ",") + `]}`
	})
	ids := make([]string, 2500)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	got, err := hub.client(t, nil).BatchReadAssociations(context.Background(), Communications, Contacts, ids)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]AssociatedID{"7": {{ID: "1", Type: "communication_to_contact"}, {ID: "2", Type: "communication_to_contact"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var sizes []int
	for _, in := range requests() {
		sizes = append(sizes, len(in))
	}
	if diff := cmp.Diff([]int{1000, 1000, 501}, sizes); diff != "" {
		t.Fatalf("inputs per request (-want +got):\n%s", diff)
	}
	if last := requests()[2]; last[500] != (v4ReadInput{ID: "7", After: "MQ%3D%3D"}) {
		t.Errorf("page request %+v, want id 7 with the cursor", last[500])
	}
}

func TestBatchReadAssociationsStopsOnARepeatedCursor(t *testing.T) {
	hub := newFakeHub(t)
	requests := answerAssocRead(hub, func([]v4ReadInput) (int, string) {
		return 200, `{"status":"COMPLETE","results":[{"from":{"id":"7"},"to":[],"paging":{"next":{"after":"same"}}}]}`
	})
	_, err := hub.client(t, nil).BatchReadAssociations(context.Background(), Communications, Contacts, []string{"7"})
	if err == nil || !strings.Contains(err.Error(), `cursor "same"`) {
		t.Fatalf("err = %v, want the repeated cursor named", err)
	}
	if n := len(requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestBatchReadAssociationsRetried: a read, so a 5xx or a dropped
// connection is retried, never in doubt.
func TestBatchReadAssociationsRetried(t *testing.T) {
	for _, fault := range []string{"503", "drop"} {
		t.Run(fault, func(t *testing.T) {
			hub := newFakeHub(t)
			hub.mu.Lock()
			o, _ := hub.create(Communications, CreateInput{Associations: []AssociationInput{{To: ObjectID{"501"}, Types: []AssociationType{{HubSpotDefined, 81}}}}})
			hub.mu.Unlock()
			if fault == "drop" {
				commitThenDrop(hub, pathIs("/batch/read"), 2)
			} else {
				serverErrors(hub, 503, 2)
			}
			c := hub.client(t, nil)
			got, err := c.BatchReadAssociations(context.Background(), Communications, Contacts, []string{o.ID})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string][]AssociatedID{o.ID: {{ID: "501", Type: "communication_to_contact"}}}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if s := c.Stats(); s.Retries != 2 || s.InDoubt != 0 || s.Requests != 3 {
				t.Errorf("Stats = %+v, want 3 requests, 2 retries, none in doubt", s)
			}
		})
	}
}

func TestAssociationTypeName(t *testing.T) {
	tests := []struct {
		from, to, category string
		typeID             int
		want               string
	}{
		{Communications, Contacts, HubSpotDefined, 81, "communication_to_contact"},
		{"communication", "company", HubSpotDefined, 87, "communication_to_company"},
		{Contacts, Communications, "", 82, "contact_to_communication"},
		{Communications, Contacts, UserDefined, 81, "81"},
		{Communications, Deals, HubSpotDefined, 81, "81"},
		{"0-18", "0-1", HubSpotDefined, 81, "81"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%s-%d", tt.from, tt.to, tt.typeID), func(t *testing.T) {
			if got := associationTypeName(tt.from, tt.to, tt.category, tt.typeID); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
