package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/batch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var fixedNow = func() time.Time { return time.Date(2025, 2, 1, 12, 0, 0, 0, time.UTC) }

// elem is one start tag of a rendered page.
type elem struct {
	name  string
	attrs map[string]string
}

// doc is a rendered page, parsed just enough to read the numbers back.
type doc struct {
	elems []elem
	byID  map[string]elem
}

func parsePage(t testing.TB, page []byte) doc {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	out := doc{byID: map[string]elem{}}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		e := elem{name: se.Name.Local, attrs: map[string]string{}}
		for _, a := range se.Attr {
			e.attrs[a.Name.Local] = a.Value
		}
		out.elems = append(out.elems, e)
		if id := e.attrs["id"]; id != "" {
			if _, dup := out.byID[id]; dup {
				t.Errorf("id %q appears twice", id)
			}
			out.byID[id] = e
		}
	}
}

// n reads the data-n of the element with this id; -1 when it is absent.
func (d doc) n(t testing.TB, id string) int64 {
	t.Helper()
	e, ok := d.byID[id]
	if !ok {
		return -1
	}
	v, err := strconv.ParseInt(e.attrs["data-n"], 10, 64)
	if err != nil {
		t.Fatalf("#%s data-n=%q: %v", id, e.attrs["data-n"], err)
	}
	return v
}

// withClass lists the elements that carry class c.
func (d doc) withClass(c string) []elem {
	var out []elem
	for _, e := range d.elems {
		for _, f := range strings.Fields(e.attrs["class"]) {
			if f == c {
				out = append(out, e)
			}
		}
	}
	return out
}

// allowedTags are the only tags the template writes. Any other tag in a
// page means ledger content escaped into markup.
var allowedTags = map[string]bool{
	"html": true, "head": true, "meta": true, "title": true, "style": true, "body": true, "main": true,
	"header": true, "h1": true, "h2": true, "h3": true, "p": true, "br": true, "code": true, "span": true,
	"section": true, "svg": true, "rect": true, "table": true, "thead": true, "tbody": true, "tfoot": true,
	"tr": true, "th": true, "td": true, "pre": true, "line": true, "text": true, "path": true,
	"circle": true, "g": true,
}

var tagRE = regexp.MustCompile(`<(/?)([A-Za-z!][A-Za-z0-9-]*)`)

func checkTags(t testing.TB, page []byte) {
	t.Helper()
	for _, m := range tagRE.FindAllSubmatch(page, -1) {
		name := strings.ToLower(string(m[2]))
		if name == "!doctype" {
			continue
		}
		if !allowedTags[name] {
			t.Errorf("page contains a <%s%s> tag the template never writes", m[1], m[2])
		}
	}
	if bytes.Contains(bytes.ToLower(page), []byte("<script")) {
		t.Error("page contains <script")
	}
}

// expectation is what a ledger says, computed here independently of the
// package: plain encoding/csv, string identities, a map of last events.
type expectation struct {
	events  int64
	rows    int64
	states  map[string]int64
	runs    map[string]map[string]int64 // run → state → rows, as the run left them
	files   map[string]map[string]int64
	issues  map[string]int64
	runList []string
}

func expect(t testing.TB, path string) expectation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	type last struct {
		state, run, file string
		plan             bool
	}
	cur := map[string]last{}
	var order []string
	ex := expectation{states: map[string]int64{}, runs: map[string]map[string]int64{},
		files: map[string]map[string]int64{}, issues: map[string]int64{}}
	seenRun := map[string]bool{}
	for i, rec := range recs {
		if i == 0 || len(rec) < 13 {
			continue // the header, or a torn last line
		}
		ex.events++
		file, line, key, op, state, cat, run := rec[2], rec[3], rec[4], rec[5], rec[6], rec[9], rec[1]
		if !seenRun[run] {
			seenRun[run] = true
			ex.runList = append(ex.runList, run)
			ex.runs[run] = map[string]int64{}
		}
		id := "key " + key
		if key == "" || cat == "DUPLICATE_KEY" {
			id = "pos " + file + ":" + line
		}
		prev, ok := cur[id]
		if ok && op == "plan" && !prev.plan {
			continue
		}
		if ok && prev.run != run {
			ex.runs[prev.run][prev.state]++
		}
		if !ok {
			order = append(order, id)
		}
		if _, known := stateIndex[state]; !known {
			state = "other"
		}
		cur[id] = last{state: state, run: run, file: file, plan: op == "plan"}
	}
	for _, id := range order {
		l := cur[id]
		ex.rows++
		ex.states[l.state]++
		ex.runs[l.run][l.state]++
		if ex.files[l.file] == nil {
			ex.files[l.file] = map[string]int64{}
		}
		ex.files[l.file][l.state]++
		switch l.state {
		case "failed", "unresolved", "invalid", "in_doubt", "sent", "not_sent":
			ex.issues[l.state]++
		}
	}
	return ex
}

func render(t testing.TB, o Options) ([]byte, *Report) {
	t.Helper()
	if o.Now == nil {
		o.Now = fixedNow
	}
	var buf bytes.Buffer
	rep, err := Write(context.Background(), &buf, o)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes(), rep
}

// copyLedger puts a testdata ledger (and, if asked, its run log) into a
// temporary directory.
func copyLedger(t *testing.T, name string, withRunLog bool) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("testdata", name)
	dst := filepath.Join(dir, name)
	copyFile(t, src, dst)
	if withRunLog {
		copyFile(t, batch.RunLogPath(src), batch.RunLogPath(dst))
	}
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

const header = "time,run_id,source_file,source_line,key,operation,state,hubspot_id,http_status,error_category,error_message,attempt,batch\n"

func writeLedgerText(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "l.csv")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeEvents writes events through batch's own ledger writer, so quoting
// is exactly what a real run produces.
func writeEvents(t testing.TB, path string, evs []batch.LedgerRow) {
	t.Helper()
	l, _, err := batch.OpenLedger(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(evs...); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// randomEvents makes a ledger of n events over three runs with every kind
// of event: repeated keys, keyless rows, duplicate-key skips, plan events,
// unknown states.
func randomEvents(seed uint64, n int) []batch.LedgerRow {
	rng := rand.New(rand.NewPCG(seed, 1))
	all := append(States()[:len(states)-1], "mystery")
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []batch.LedgerRow
	for i := 0; i < n; i++ {
		run := i * 3 / n
		ev := batch.LedgerRow{
			Time:       start.Add(time.Duration(run)*time.Hour + time.Duration(i)*37*time.Millisecond).Format(time.RFC3339Nano),
			RunID:      fmt.Sprintf("run-%d", run),
			SourceFile: fmt.Sprintf("in-%d.txt", rng.IntN(4)),
			SourceLine: 2 + rng.IntN(300),
			Operation:  batch.OpCreate,
			State:      all[rng.IntN(len(all))],
		}
		switch rng.IntN(10) {
		case 0:
			ev.State, ev.Category, ev.Message = batch.StateInvalid, "INVALID_ROW", "bad row "+strconv.Itoa(rng.IntN(3))
		case 1:
			ev.Key, ev.State, ev.Category = fmt.Sprintf("%032x", rng.IntN(200)), batch.StateSkipped, "DUPLICATE_KEY"
		case 2:
			ev.Key, ev.Operation, ev.State = fmt.Sprintf("%032x", rng.IntN(200)), batch.OpPlan, batch.StatePlanned
		case 3:
			ev.Key = "not-hex-" + strconv.Itoa(rng.IntN(20))
		default:
			ev.Key = fmt.Sprintf("%032x", rng.IntN(200))
		}
		if ev.State == batch.StateFailed {
			ev.HTTPStatus, ev.Category, ev.Message = 207, "VALIDATION_ERROR", "msg "+strconv.Itoa(rng.IntN(5))
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestNumbersMatchLedger(t *testing.T) {
	random := filepath.Join(t.TempDir(), "random.csv")
	writeEvents(t, random, randomEvents(7, 3000))
	oneRow := writeLedgerText(t, header+"2025-01-01T00:00:00Z,r1,a.txt,2,0000000000000000000000000000000a,create,created,9,0,,,1,1\n")
	tests := []struct {
		name   string
		ledger string
	}{
		{"basic with run log", copyLedger(t, "basic.ledger.csv", true)},
		{"basic without run log", copyLedger(t, "basic.ledger.csv", false)},
		{"header only", writeLedgerText(t, header)},
		{"zero bytes", writeLedgerText(t, "")},
		{"one row", oneRow},
		{"torn last line", writeLedgerText(t, header+"2025-01-01T00:00:00Z,r1,a.txt,2,0000000000000000000000000000000a,create,created,9,0,,,1,1\n2025-01-01T00:00:01Z,r1,a.txt,3,00")},
		{"random", random},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, rep := render(t, Options{Ledger: tc.ledger})
			checkTags(t, page)
			d := parsePage(t, page)
			ex := expect(t, tc.ledger)
			if strings.HasPrefix(tc.name, "torn") {
				ex.events, ex.rows = 1, 1 // the torn line is no event
				ex.states = map[string]int64{"created": 1}
				ex.runs = map[string]map[string]int64{"r1": {"created": 1}}
				ex.files = map[string]map[string]int64{"a.txt": {"created": 1}}
			}

			got := map[string]int64{"events": d.n(t, "events"), "rows": d.n(t, "rows"), "total": d.n(t, "state-total")}
			want := map[string]int64{"events": ex.events, "rows": ex.rows, "total": ex.rows}
			for _, s := range states {
				got["state-"+s] = d.n(t, "state-"+s)
				want["state-"+s] = ex.states[s]
			}
			if sel := rep.Selected; sel >= 0 && rep.Runs[sel].InLedger {
				run := rep.Runs[sel].ID
				if want, got := ex.runList[len(ex.runList)-1], run; got != want {
					t.Errorf("selected run %q, want the latest %q", got, want)
				}
				for _, s := range states {
					got["run-state-"+s] = d.n(t, "run-state-"+s)
					want["run-state-"+s] = ex.runs[run][s]
				}
			}
			for _, s := range issueStates {
				got["issue-"+s] = max(d.n(t, "issue-"+s), 0)
				want["issue-"+s] = ex.issues[s]
			}
			// Every issue's groups add up to its rows.
			for _, g := range d.withClass("group") {
				n, _ := strconv.ParseInt(g.attrs["data-n"], 10, 64)
				got["groups-"+g.attrs["data-state"]] += n
			}
			for s, n := range ex.issues {
				want["groups-"+s] = n
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("page numbers differ from the ledger (-ledger +page):\n%s", diff)
			}

			gotFiles := map[string]map[string]int64{}
			for _, f := range d.withClass("file") {
				gotFiles[f.attrs["data-file"]] = map[string]int64{}
			}
			var cur map[string]int64
			for _, e := range d.elems {
				if e.name == "tr" && strings.Contains(e.attrs["class"], "file") {
					cur = gotFiles[e.attrs["data-file"]]
					continue
				}
				if e.name == "tr" {
					cur = nil
				}
				if cur != nil && e.attrs["data-state"] != "" {
					if n, _ := strconv.ParseInt(e.attrs["data-n"], 10, 64); n > 0 {
						cur[e.attrs["data-state"]] = n
					}
				}
			}
			if diff := cmp.Diff(ex.files, gotFiles); diff != "" {
				t.Errorf("per-file numbers differ (-ledger +page):\n%s", diff)
			}
			if got, want := len(d.withClass("run")), len(ex.runList); got < want {
				t.Errorf("%d runs listed, the ledger has %d", got, want)
			}
		})
	}
}

func TestEveryRunsCountsMatch(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "random.csv")
	writeEvents(t, ledger, randomEvents(11, 2000))
	ex := expect(t, ledger)
	for _, run := range ex.runList {
		page, _ := render(t, Options{Ledger: ledger, RunID: run})
		d := parsePage(t, page)
		if got := d.byID["run-id"]; got.name == "" {
			t.Fatalf("run %s: no #run-id", run)
		}
		got, want := map[string]int64{}, map[string]int64{}
		for _, s := range states {
			got[s] = d.n(t, "run-state-"+s)
			want[s] = ex.runs[run][s]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("run %s (-ledger +page):\n%s", run, diff)
		}
	}
}

func TestGolden(t *testing.T) {
	page, _ := render(t, Options{Ledger: "testdata/basic.ledger.csv"})
	golden := filepath.Join("testdata", "basic.golden.html")
	if *update {
		if err := os.WriteFile(golden, page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./report -run TestGolden -update)", err)
	}
	if diff := cmp.Diff(string(want), string(page)); diff != "" {
		t.Errorf("page differs from %s (-want +got; refresh with -update):\n%s", golden, diff)
	}
}

func TestBasicDetails(t *testing.T) {
	page, rep := render(t, Options{Ledger: "testdata/basic.ledger.csv"})
	d := parsePage(t, page)
	got := map[string]string{
		"run":          rep.Runs[rep.Selected].ID,
		"requests":     d.byID["requests"].attrs["data-n"],
		"rate-limited": d.byID["rate-limited"].attrs["data-n"],
		"retries":      d.byID["retries"].attrs["data-n"],
		"chart":        d.byID["rate-chart"].attrs["data-source"],
	}
	want := map[string]string{"run": "r2", "requests": "4", "rate-limited": "0", "retries": "1", "chart": "run log"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, s := range []string{
		`commlog --sandbox import --mapping samples/whatsapp.yaml --ledger basic.ledger.csv a.txt b.txt c.txt`,
		`commlog --sandbox import --retry-failed --mapping samples/whatsapp.yaml`,
		`no contact with phone ******4567`, // already masked in the ledger: kept as it is
		`a.txt:4`,
	} {
		if !bytes.Contains(page, []byte(s)) {
			t.Errorf("page lacks %q", s)
		}
	}
	// The duplicate-key skip of b.txt:4 must not turn a.txt:2's created record into a skip.
	if got := d.n(t, "state-created"); got != 3 {
		t.Errorf("created = %d, want 3", got)
	}
}

func TestRateChart(t *testing.T) {
	t.Run("run log marks 429s and retries", func(t *testing.T) {
		page, _ := render(t, Options{Ledger: "testdata/basic.ledger.csv", RunID: "r1"})
		d := parsePage(t, page)
		var r429, retries int64
		for _, m := range d.withClass("mark-429") {
			n, _ := strconv.ParseInt(m.attrs["data-n"], 10, 64)
			r429 += n
		}
		for _, m := range d.withClass("mark-retry") {
			n, _ := strconv.ParseInt(m.attrs["data-n"], 10, 64)
			retries += n
		}
		if r429 != 2 || retries != 3 {
			t.Errorf("marks: %d 429s, %d retries; want 2 and 3 (the r1 samples)", r429, retries)
		}
		if _, ok := d.byID["requests-line"]; !ok {
			t.Error("no requests/s line")
		}
		if d.byID["rate-chart"].attrs["data-points"] != "3" {
			t.Errorf("points = %q, want 3", d.byID["rate-chart"].attrs["data-points"])
		}
	})
	t.Run("without run log the ledger times are used", func(t *testing.T) {
		page, _ := render(t, Options{Ledger: copyLedger(t, "basic.ledger.csv", false)})
		d := parsePage(t, page)
		if got := d.byID["rate-chart"].attrs["data-source"]; got != "ledger" {
			t.Errorf("chart source %q, want ledger", got)
		}
		if _, ok := d.byID["requests-line"]; ok {
			t.Error("a requests/s line without a run log")
		}
		if _, ok := d.byID["chart-note"]; !ok || !bytes.Contains(page, []byte("unavailable")) {
			t.Error("no note saying the request/429 series are unavailable")
		}
		if _, ok := d.byID["command-missing"]; !ok {
			t.Error("no note that the command was not recorded")
		}
	})
	t.Run("long runs are drawn with at most maxPoints points", func(t *testing.T) {
		var samples []batch.Sample
		for i := 0; i <= 5000; i++ {
			samples = append(samples, batch.Sample{Seconds: float64(i), Created: int64(i * 3), Requests: int64(i), RateLimited: int64(i / 100)})
		}
		c := buildChart(&Run{Samples: samples}, nil, 0)
		if c.Points > maxPoints || c.Points == 0 {
			t.Errorf("%d points", c.Points)
		}
		if c.RateLimited != 50 {
			t.Errorf("429s marked = %d, want 50", c.RateLimited)
		}
		if c.PeakRecords != 3 {
			t.Errorf("peak records/s = %v, want 3", c.PeakRecords)
		}
	})
}

func TestHostileContent(t *testing.T) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "evil.csv")
	hostile := []string{
		`<script>alert("file")</script>.txt`,
		`"><img src=x onerror=alert(1)>`,
		`' onmouseover='alert(1)`,
		`</td></tr></table><svg onload=alert(1)>`,
		"javascript:alert(1)",
		`<!-- --><style>body{display:none}</style>`,
	}
	var evs []batch.LedgerRow
	for i, h := range hostile {
		evs = append(evs, batch.LedgerRow{Time: "2025-01-01T00:00:00Z", RunID: h, SourceFile: h, SourceLine: i + 2,
			Key: fmt.Sprintf("%032x", i), Operation: batch.OpCreate, State: batch.StateFailed,
			HTTPStatus: 400, Category: h, Message: h})
	}
	writeEvents(t, ledger, evs)
	rec := batch.RunRecord{RunID: hostile[0], Operation: "import", Command: []string{"commlog", "import", hostile[1], hostile[3]},
		Outcome: hostile[2], Error: hostile[5], Samples: []batch.Sample{{Seconds: 0}, {Seconds: 1, Created: 1}}}
	b, _ := json.Marshal(rec)
	if err := os.WriteFile(batch.RunLogPath(ledger), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	page, _ := render(t, Options{Ledger: ledger, LogPII: true})
	checkTags(t, page)
	d := parsePage(t, page)
	var cats []string
	for _, g := range d.withClass("group") {
		cats = append(cats, g.attrs["data-category"])
	}
	if len(cats) != len(hostile) {
		t.Fatalf("%d groups, want %d", len(cats), len(hostile))
	}
	// Escaped, not dropped: the attribute values read back as written.
	for _, h := range hostile {
		found := false
		for _, c := range cats {
			found = found || c == h
		}
		if !found {
			t.Errorf("category %q did not survive escaping; got %q", h, cats)
		}
	}
	for _, e := range d.elems {
		for k := range e.attrs {
			if strings.HasPrefix(strings.ToLower(k), "on") {
				t.Errorf("<%s> has an event handler attribute %s", e.name, k)
			}
		}
	}
}

func TestPII(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "pii.csv")
	file := "WhatsApp Chat with +1 555 123 4567.txt"
	writeEvents(t, ledger, []batch.LedgerRow{{Time: "2025-01-01T00:00:00Z", RunID: "r", SourceFile: file, SourceLine: 2,
		Key: fmt.Sprintf("%032x", 1), Operation: batch.OpCreate, State: batch.StateInvalid, Category: "INVALID_ROW",
		Message: "bad sender 07700 900123 on 2024-03-05 10:30"}})
	page, _ := render(t, Options{Ledger: ledger})
	masked := []byte(html.UnescapeString(string(page))) // html/template writes + as &#43;
	for _, s := range []string{"555 123", "07700 900"} {
		if bytes.Contains(masked, []byte(s)) {
			t.Errorf("page without LogPII shows %q", s)
		}
	}
	for _, s := range []string{"+* *** *** 4567.txt", "***** **0123", "2024-03-05 10:30"} {
		if !bytes.Contains(masked, []byte(s)) {
			t.Errorf("page without LogPII lacks %q", s)
		}
	}
	page, _ = render(t, Options{Ledger: ledger, LogPII: true})
	shown := []byte(html.UnescapeString(string(page)))
	if !bytes.Contains(shown, []byte(file)) {
		t.Errorf("page with LogPII lacks the file name %q", file)
	}
}

func TestMaskPhones(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+1 555 123 4567", "+* *** *** 4567"},
		{"call (555) 123-4567 now", "call (***) ***-4567 now"},
		{"+447700900123", "+********0123"},
		{"already ******4567", "already ******4567"},
		{"at 2024-03-05 10:30", "at 2024-03-05 10:30"},
		{"on 05/03/2024", "on 05/03/2024"},
		{"HTTP 429 after 12 s", "HTTP 429 after 12 s"},
		{"line 123456", "line 123456"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := maskPhones(tc.in); got != tc.want {
			t.Errorf("maskPhones(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFmtSeconds(t *testing.T) {
	for in, want := range map[float64]string{0: "0s", 0.0123: "12ms", 0.5: "500ms", 1.26: "1.3s", 65.4: "1m5s", 3600: "1h0m0s"} {
		if got := fmtSeconds(in); got != want {
			t.Errorf("fmtSeconds(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		in         []string
		join, retr string
	}{
		{[]string{"commlog", "import", "--mapping", "m.yaml", "a b.txt"},
			"commlog import --mapping m.yaml 'a b.txt'", "commlog import --retry-failed --mapping m.yaml 'a b.txt'"},
		{[]string{"commlog", "import", "--retry-failed", "x"}, "commlog import --retry-failed x", "commlog import --retry-failed x"},
		{[]string{"commlog", "it's"}, `commlog 'it'\''s'`, `commlog 'it'\''s' --retry-failed`},
	}
	for _, tc := range tests {
		got := []string{shellJoin(tc.in), shellJoin(withRetryFailed(tc.in))}
		if diff := cmp.Diff([]string{tc.join, tc.retr}, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	badRunLog := copyLedger(t, "basic.ledger.csv", false)
	if err := os.WriteFile(batch.RunLogPath(badRunLog), []byte("{\"run_id\":\"r1\"}\nnot json\n{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tornRunLog := copyLedger(t, "basic.ledger.csv", false)
	if err := os.WriteFile(batch.RunLogPath(tornRunLog), []byte("{\"run_id\":\"r1\",\"operation\":\"import\"}\n{\"run_id\":\"r2\",\"oper"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		o       Options
		wantErr string // "" for success
	}{
		{"missing ledger", Options{Ledger: filepath.Join(dir, "nope.csv")}, "no such file"},
		{"not a ledger", Options{Ledger: writeLedgerText(t, "a,b\n1,2\n")}, ":1: header"},
		{"bad field", Options{Ledger: writeLedgerText(t, header+"t,r,f,x,k,create,created,,0,,,1,1\n")}, ":2: source_line"},
		{"bad run log line", Options{Ledger: badRunLog}, ".runs.jsonl:2:"},
		{"torn run log tail", Options{Ledger: tornRunLog}, ""},
		{"unknown run", Options{Ledger: "testdata/basic.ledger.csv", RunID: "r9"}, `run "r9"`},
		{"no ledger", Options{}, "no ledger"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Now = fixedNow
			_, err := Write(context.Background(), io.Discard, tc.o)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	for i := 0; i < 2*checkEvery; i++ {
		fmt.Fprintf(&b, "2025-01-01T00:00:00Z,r1,a.txt,%d,%032x,create,created,%d,0,,,1,1\n", i+2, i, i)
	}
	ledger := writeLedgerText(t, b.String())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, Options{Ledger: ledger}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Build with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestGroupCap(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "many.csv")
	var evs []batch.LedgerRow
	for i := 0; i < maxGroups+50; i++ {
		evs = append(evs, batch.LedgerRow{Time: "2025-01-01T00:00:00Z", RunID: "r", SourceFile: "a", SourceLine: i + 2,
			Key: fmt.Sprintf("%032x", i), Operation: batch.OpCreate, State: batch.StateFailed, Category: "C",
			Message: "distinct " + strconv.Itoa(i)})
	}
	writeEvents(t, ledger, evs)
	rep, err := Build(context.Background(), Options{Ledger: ledger})
	if err != nil {
		t.Fatal(err)
	}
	var groups int
	var rows int64
	for _, is := range rep.Issues {
		groups += len(is.Groups)
		for _, g := range is.Groups {
			rows += g.Rows
		}
	}
	if groups != maxGroups+1 || rows != int64(maxGroups+50) {
		t.Errorf("%d groups holding %d rows; want %d groups (one pooled) holding %d", groups, rows, maxGroups+1, maxGroups+50)
	}
}

func FuzzRender(f *testing.F) {
	f.Add("a.txt", "VALIDATION_ERROR", "Property values were not valid", "r1")
	f.Add(`<script>x</script>`, `" onmouseover="x`, `</td><svg onload=x>`, `'><b>`)
	f.Add("+1 555 123 4567", "", "\x00\xff", "")
	f.Fuzz(func(t *testing.T, file, cat, msg, run string) {
		ledger := filepath.Join(t.TempDir(), "f.csv")
		writeEvents(t, ledger, []batch.LedgerRow{
			{Time: "2025-01-01T00:00:00Z", RunID: run, SourceFile: file, SourceLine: 2, Key: "k1",
				Operation: batch.OpCreate, State: batch.StateFailed, Category: cat, Message: msg},
			{Time: "2025-01-01T00:00:01Z", RunID: run, SourceFile: file, SourceLine: 3,
				Operation: batch.OpCreate, State: batch.StateInvalid, Category: cat, Message: msg},
		})
		for _, pii := range []bool{false, true} {
			var buf bytes.Buffer
			if _, err := Write(context.Background(), &buf, Options{Ledger: ledger, LogPII: pii, Now: fixedNow}); err != nil {
				// The writer and the reader must agree on every string.
				t.Fatalf("Write: %v", err)
			}
			checkTags(t, buf.Bytes())
		}
	})
}
