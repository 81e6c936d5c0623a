package export

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

// clock is a settable clock shared by the sandbox and the export, so that
// the search index lag and the safety lag are measured on one time line.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type portal struct {
	srv    *sandbox.Server
	client *crm.Client
	clock  *clock
}

func newPortal(t testing.TB, lag time.Duration, contacts int) *portal {
	t.Helper()
	c := &clock{t: t0}
	srv, err := sandbox.New(sandbox.Options{SearchLag: lag, Now: c.Now, Contacts: contacts})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	client, err := crm.New(crm.Options{BaseURL: ts.URL, Token: "test", Burst: 1 << 20, Window: time.Second, SearchPerSecond: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return &portal{srv: srv, client: client, clock: c}
}

// create makes n communications in batches of up to 100, each associated
// with one of contacts (when given).
func (p *portal) create(t testing.TB, n int, contacts []string, rng *rand.Rand) []string {
	t.Helper()
	var ids []string
	for done := 0; done < n; {
		k := min(100, n-done)
		in := make([]crm.CreateInput, k)
		for i := range in {
			in[i] = crm.CreateInput{Properties: map[string]string{
				"hs_communication_channel_type": "WHATS_APP",
				"hs_communication_logged_from":  "CRM",
				"hs_communication_body":         fmt.Sprintf("message %d\nline two", done+i),
				"hs_timestamp":                  "2024-05-01T10:00:00Z",
			}}
			if len(contacts) > 0 {
				in[i].Associations = []crm.AssociationInput{{To: crm.ObjectID{ID: contacts[rng.IntN(len(contacts))]},
					Types: []crm.AssociationType{{Category: crm.HubSpotDefined, TypeID: 81}}}}
			}
		}
		res, err := p.client.BatchCreate(context.Background(), crm.Communications, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Results {
			ids = append(ids, o.ID)
		}
		done += k
	}
	return ids
}

// exported is one row of a JSONL export as the test reads it back.
type exported struct {
	ID           string              `json:"id"`
	Properties   map[string]*string  `json:"properties"`
	Archived     bool                `json:"archived"`
	ArchivedAt   *string             `json:"archived_at"`
	Associations map[string][]string `json:"associations"`
}

func readJSONL(t testing.TB, path string) []exported {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []exported
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r exported
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// view is what the test compares: the parts of a record an export carries.
type view struct {
	Body     string
	Modified string
	Archived bool
	Contacts []string
}

// TestIncrementalUnionIsFinalState is the acceptance test: while
// the sandbox creates, updates and archives records, a series of
// incremental exports runs; the union of their outputs, latest row per id,
// must equal the sandbox's final state, archived records marked, no id
// missed.
func TestIncrementalUnionIsFinalState(t *testing.T) {
	const lag = 2 * time.Second
	p := newPortal(t, lag, 20)
	rng := rand.New(rand.NewPCG(42, 1))
	var contacts []string
	for _, c := range p.srv.Objects(crm.Contacts, false) {
		contacts = append(contacts, c.ID)
	}
	if len(contacts) == 0 {
		t.Fatal("the sandbox seeded no contacts")
	}
	live := p.create(t, 250, contacts, rng)

	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	var outputs []string
	export := func(i int) error {
		out := filepath.Join(dir, fmt.Sprintf("run%02d.jsonl", i))
		_, err := Run(context.Background(), Options{API: p.client, Output: out, State: state, SafetyLag: lag,
			Associations: []string{"contacts"}, Now: p.clock.Now, listLimit: 37, searchLimit: 23, searchCap: 92})
		if err == nil {
			outputs = append(outputs, out)
		}
		return err
	}

	ctx := context.Background()
	for round := 0; round < 8; round++ {
		var wg sync.WaitGroup
		var mutErr error
		wg.Add(1)
		go func() { // the portal's users, working while the export runs
			defer wg.Done()
			for k := 0; k < 40 && mutErr == nil; k++ {
				p.clock.Add(time.Duration(20+rng.IntN(300)) * time.Millisecond)
				switch op := rng.IntN(10); {
				case op < 2 || len(live) < 10:
					live = append(live, p.create(t, 1+rng.IntN(3), contacts, rng)...)
				case op < 8:
					id := live[rng.IntN(len(live))]
					_, mutErr = p.client.Update(ctx, crm.Communications, id, map[string]string{
						"hs_communication_body": fmt.Sprintf("edited in round %d op %d", round, k)})
				default:
					i := rng.IntN(len(live))
					mutErr = p.client.Archive(ctx, crm.Communications, live[i])
					live = append(live[:i], live[i+1:]...)
				}
			}
		}()
		if err := export(round); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		wg.Wait()
		if mutErr != nil {
			t.Fatal(mutErr)
		}
		p.clock.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
	}
	// Quiet now: once the lag has passed, one more run catches up.
	p.clock.Add(2 * lag)
	if err := export(99); err != nil {
		t.Fatal(err)
	}

	got := map[string]view{}
	for _, out := range outputs {
		for _, r := range readJSONL(t, out) {
			got[r.ID] = view{Body: deref(r.Properties["hs_communication_body"]), Modified: deref(r.Properties[propModified]),
				Archived: r.Archived, Contacts: r.Associations["contacts"]}
		}
	}
	want := map[string]view{}
	for _, r := range p.srv.Objects(crm.Communications, true) {
		mod, _ := parseTime(r.Properties[propModified])
		c := r.Associations[crm.Contacts]
		if c == nil {
			c = []string{}
		}
		want[r.ID] = view{Body: r.Properties["hs_communication_body"], Modified: formatTime(mod), Archived: r.Archived, Contacts: c}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("union of %d exports differs from the final state (-want +got):\n%s", len(outputs), diff)
	}
	archived := 0
	for _, v := range want {
		if v.Archived {
			archived++
		}
	}
	if archived == 0 || len(want) < 300 {
		t.Errorf("the test did too little: %d records, %d archived", len(want), archived)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestIncrementalPastSearchCap changes more than 10,000 records inside one
// window (in groups sharing a timestamp, one group straddling the cap) and
// checks that one incremental run writes each exactly once.
func TestIncrementalPastSearchCap(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 10,250 records")
	}
	const n = 10250
	p := newPortal(t, 0, 0)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	if err := WriteState(state, &State{HighWaterMark: formatTime(t0.Add(-time.Hour))}); err != nil {
		t.Fatal(err)
	}
	var created []string
	for len(created) < n {
		// 70 records per instant: the 10,000th result falls inside a group.
		created = append(created, p.create(t, min(70, n-len(created)), nil, nil)...)
		p.clock.Add(time.Millisecond)
	}
	p.clock.Add(DefaultSafetyLag + time.Second)
	out := filepath.Join(dir, "changes.csv")
	sum, err := Run(context.Background(), Options{API: p.client, Output: out, State: state, Properties: []string{"hs_communication_body"}})
	if err != nil {
		t.Fatal(err)
	}
	got := ids(t, out)
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("record %s written twice", id)
		}
		seen[id] = true
	}
	if diff := cmp.Diff(sortedIDs(created), sortedIDs(got)); diff != "" {
		t.Errorf("exported ids (-want +got):\n%s", diff)
	}
	if sum.Pages <= searchCap/200 {
		t.Errorf("%d search pages for %d records: the walk cannot have passed the cap", sum.Pages, n)
	}
	st, err := ReadState(state)
	if err != nil {
		t.Fatal(err)
	}
	if want := p.srv.Objects(crm.Communications, false)[n-1].Properties[propModified]; st.HighWaterMark != normalize(want) {
		t.Errorf("mark %s, want the newest change %s", st.HighWaterMark, want)
	}
}

func normalize(v string) string {
	t, _ := parseTime(v)
	return formatTime(t)
}
