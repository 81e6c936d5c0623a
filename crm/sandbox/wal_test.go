package sandbox

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestWalLineRoundTrip: the hand-written put encoding reads back, through
// encoding/json as replay does, as the operations written.
func TestWalLineRoundTrip(t *testing.T) {
	props := map[string]string{}
	for i, s := range hostile {
		props[fmt.Sprintf("p%d %s", i, s)] = s
	}
	ops := []walOp{
		{Op: "reset"},
		{Op: "put", T: "communications", Obj: &walObject{ID: 50000000001, Props: props, Created: 1714557600000, Updated: 1714557600001}},
		{Op: "put", T: "contacts", Obj: &walObject{ID: 7, Props: map[string]string{}, Created: -5, Updated: 0, Archived: true, ArchivedAt: 99}},
		{Op: "assoc", T: "communications", ID: 1, ToID: 2, Assoc: 81},
		{Op: "prop", T: "communications", Prop: &propertyDef{Name: "commlog_key", Type: "string", Options: []propertyOption{}}},
	}
	line, err := appendWalLine(nil, ops)
	if err != nil {
		t.Fatal(err)
	}
	if line[len(line)-1] != '\n' {
		t.Fatal("line does not end in a newline")
	}
	var got []walOp
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	// encoding/json decodes invalid UTF-8 as U+FFFD on both sides.
	want, _ := json.Marshal(ops)
	var wantOps []walOp
	json.Unmarshal(want, &wantOps)
	if diff := cmp.Diff(wantOps, got, cmp.AllowUnexported(propertyDef{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestGroupCommitKeepsAnsweredWrites: concurrent writers share log writes,
// and every write that was answered is in the log when the process dies
// (no Close: the second server reads what the first left).
func TestGroupCommitKeepsAnsweredWrites(t *testing.T) {
	dir := t.TempDir()
	s1, err := New(Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: s1, ts: newTS(t, s1)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				var in []map[string]any
				for k := range 4 {
					in = append(in, comm(fmt.Sprintf("g%d r%d k%d %s", g, i, k, hostile[(g+i+k)%len(hostile)])))
				}
				r := h.do("POST", "/crm/v3/objects/communications/batch/create", inputs(in...))
				if r.status != 201 {
					t.Errorf("status %d: %s", r.status, r.raw)
					return
				}
				mu.Lock()
				answered += len(in)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	want := s1.Objects("communications", true)
	if len(want) != answered {
		t.Fatalf("%d stored, %d answered", len(want), answered)
	}
	s2, err := New(Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, s2.Objects("communications", true)); diff != "" {
		t.Errorf("after crash (-want +got):\n%s", diff)
	}
	s2.wal.close()
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
}
