package sandbox

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// node is one element of a parsed page: its attributes and all the text
// inside it (entities decoded, as a browser shows it).
type node struct {
	name  string
	attrs map[string]string
	text  string
}

type htmlDoc struct {
	nodes []*node
	byID  map[string]*node
}

// parseHTML reads the page as the tolerant XML decoder sees HTML.
func parseHTML(t testing.TB, page []byte) htmlDoc {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict, d.AutoClose, d.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	doc := htmlDoc{byID: map[string]*node{}}
	var open []*node
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return doc
		}
		if err != nil {
			t.Fatalf("page does not parse: %v\n%s", err, page)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			n := &node{name: strings.ToLower(x.Name.Local), attrs: map[string]string{}}
			for _, a := range x.Attr {
				n.attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			doc.nodes = append(doc.nodes, n)
			if id := n.attrs["id"]; id != "" {
				if _, dup := doc.byID[id]; dup {
					t.Errorf("id %q appears twice", id)
				}
				doc.byID[id] = n
			}
			open = append(open, n)
		case xml.EndElement:
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		case xml.CharData:
			for _, n := range open {
				n.text += string(x)
			}
		}
	}
}

func (d htmlDoc) withClass(class string) []*node {
	var out []*node
	for _, n := range d.nodes {
		if strings.Contains(" "+n.attrs["class"]+" ", " "+class+" ") {
			out = append(out, n)
		}
	}
	return out
}

// page GETs the timeline with query parameters (no token).
func (h *harness) page(query url.Values) (int, http.Header, []byte) {
	h.t.Helper()
	resp, err := http.Get(h.ts.URL + "/?" + query.Encode())
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// newContact creates a contact and returns its id.
func (h *harness) newContact(props map[string]any) string {
	h.t.Helper()
	return h.must(201, "POST", "/crm/v3/objects/contacts", map[string]any{"properties": props}).str("id")
}

// logTo creates communications associated with contact; ts are their
// hs_timestamps, bodies their bodies. It returns the ids in order.
func (h *harness) logTo(contact string, bodies []string, ts []string, extra ...string) []string {
	h.t.Helper()
	var in []map[string]any
	for i, b := range bodies {
		c := comm(b, extra...)
		c["properties"].(map[string]any)["hs_timestamp"] = ts[i]
		c["associations"] = []any{map[string]any{"to": map[string]any{"id": contact},
			"types": []any{map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 81}}}}
		in = append(in, c)
	}
	r := h.must(201, "POST", "/crm/v3/objects/communications/batch/create", inputs(in...))
	ids := make([]string, len(bodies))
	for i := range bodies {
		ids[i] = r.str(fmt.Sprintf("results.%d.id", i))
	}
	return ids
}

// safe fails on anything in the DOM that could run script.
func assertNoActiveContent(t *testing.T, d htmlDoc) {
	t.Helper()
	for _, n := range d.nodes {
		switch n.name {
		case "script", "img", "svg", "iframe", "object", "embed", "textarea", "math", "video", "audio", "base", "link":
			t.Errorf("page has a <%s> element: %v", n.name, n.attrs)
		}
		for k, v := range n.attrs {
			if strings.HasPrefix(k, "on") || k == "srcdoc" || k == "formaction" {
				t.Errorf("<%s> has attribute %s=%q", n.name, k, v)
			}
			if (k == "href" || k == "action") && strings.Contains(strings.ToLower(v), "javascript:") {
				t.Errorf("<%s %s=%q>", n.name, k, v)
			}
		}
	}
	if n := len(d.withClass("x")); n > 0 {
		t.Errorf("an injected class attribute reached %d elements", n)
	}
}

func TestTimelineEscapesHostileContent(t *testing.T) {
	h := start(t, Options{Now: newClock().Now})
	bodies := []struct{ in, shown string }{
		{`<script>alert(1)</script>`, `<script>alert(1)</script>`},
		{`"><img src=x onerror=alert(1)>`, `"><img src=x onerror=alert(1)>`},
		{`' onmouseover='alert(1)' class='x`, `' onmouseover='alert(1)' class='x`},
		{`</div></li><svg onload=alert(1)>`, `</div></li><svg onload=alert(1)>`},
		{`&lt;script&gt;alert(1)&lt;/script&gt;`, `<script>alert(1)</script>`},
		{`<p>Hi <b>there</b>,</p><p>line two<br>line <i>three</i></p>`, "Hi there,\nline two\nline three"},
		{"<a href=\"javascript:alert(1)\">x</a>", "<a href=\"javascript:alert(1)\">x</a>"},
	}
	in := make([]string, len(bodies))
	ts := make([]string, len(bodies))
	for i, b := range bodies {
		in[i] = b.in
		ts[i] = fmt.Sprintf("2024-05-01T10:00:%02dZ", 59-i) // first body newest
	}
	contact := h.newContact(map[string]any{"firstname": `<script>alert("name")</script>`, "lastname": `"><b onclick=x>`, "email": "eve@example.com"})
	ids := h.logTo(contact, in, ts)

	for _, q := range []url.Values{{"contact": {contact}}, {"q": {"eve@example.com"}}} {
		status, hdr, page := h.page(q)
		if status != 200 {
			t.Fatalf("%v: status %d: %s", q, status, page)
		}
		if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("CSP = %q", csp)
		}
		d := parseHTML(t, page)
		assertNoActiveContent(t, d)
		var got []string
		for _, id := range ids {
			n := d.byID["comm-"+id]
			if n == nil {
				t.Fatalf("%v: no #comm-%s in %s", q, id, page)
			}
			body := ""
			for _, b := range d.withClass("body") {
				if strings.Contains(n.text, b.text) && b.text != "" {
					body = b.text
				}
			}
			got = append(got, body)
		}
		var want []string
		for _, b := range bodies {
			want = append(want, b.shown)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v: bodies as text (-want +got):\n%s", q, diff)
		}
		if name := d.byID["contact-name"]; name == nil || name.text != `<script>alert("name")</script> "><b onclick=x>` {
			t.Errorf("contact name shown as %+v", name)
		}
	}

	// A hostile query is echoed as text in the field and the message.
	status, _, page := h.page(url.Values{"q": {`"><script>alert(1)</script>`}})
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	d := parseHTML(t, page)
	assertNoActiveContent(t, d)
	if v := d.byID["q"].attrs["value"]; v != `"><script>alert(1)</script>` {
		t.Errorf("search field value = %q", v)
	}
	if d.byID["no-match"] == nil {
		t.Error("no #no-match for a query that matches nothing")
	}
}

func TestTimelinePages(t *testing.T) {
	h := start(t, Options{Token: "pat-secret", Now: newClock().Now})
	ana := h.newContact(map[string]any{"firstname": "Ana", "lastname": "Silva", "email": "ana@example.com", "mobilephone": "+49 151 23456789"})
	anaB := h.newContact(map[string]any{"firstname": "Ana", "lastname": "Rossi", "email": "rossi@example.com"})
	ben := h.newContact(map[string]any{"firstname": "Ben", "lastname": "Okafor", "email": "ben@example.com"})
	ids := h.logTo(ana, []string{"oldest", "middle", "newest", "gone"},
		[]string{"2024-05-01T09:00:00Z", "1714557600000", "2024-05-01T11:00:00.250Z", "2024-05-01T12:00:00Z"})
	h.must(204, "DELETE", "/crm/v3/objects/communications/"+ids[3], nil)
	// Pin the oldest: it must come first anyway.
	h.must(200, "PATCH", "/crm/v3/objects/contacts/"+ana, map[string]any{"properties": map[string]any{"hs_pinned_engagement_id": ids[0]}})
	company := h.must(201, "POST", "/crm/v3/objects/companies", map[string]any{"properties": map[string]any{"name": "Acme GmbH"}}).str("id")
	deal := h.must(201, "POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]any{"dealname": "Acme renewal"}}).str("id")
	h.must(200, "PUT", "/crm/v4/objects/contacts/"+ana+"/associations/default/companies/"+company, nil)
	h.must(200, "PUT", "/crm/v4/objects/contacts/"+ana+"/associations/default/deals/"+deal, nil)
	h.must(200, "PUT", "/crm/v4/objects/communications/"+ids[2]+"/associations/default/deals/"+deal, nil)
	before := h.srv.Stats().Requests

	type want struct {
		status   int
		ids      []string // elements that must exist
		absent   []string
		order    []string // communication ids in page order
		count    int      // #count data-n, -1: no #count
		matches  int
		contains []string
	}
	for _, tc := range []struct {
		name  string
		query url.Values
		want  want
	}{
		{"empty search", url.Values{}, want{status: 200, ids: []string{"search", "q", "browse"}, absent: []string{"no-match", "contact"}, count: -1, matches: 1}},
		{"blank query", url.Values{"q": {"   "}}, want{status: 200, ids: []string{"browse"}, absent: []string{"no-match", "contact"}, count: -1, matches: 1}},
		{"no match", url.Values{"q": {"zebra"}}, want{status: 200, ids: []string{"no-match"}, absent: []string{"contact", "matches", "browse"}, count: -1}},
		{"several matches", url.Values{"q": {"ana"}}, want{status: 200, ids: []string{"matches"}, absent: []string{"contact"}, count: -1, matches: 2}},
		{"one match by name: pinned first, then newest first", url.Values{"q": {"ana silva"}},
			want{status: 200, ids: []string{"contact", "pinned", "count", "timeline", "companies", "deals"}, order: []string{ids[0], ids[2], ids[1]}, count: 3,
				contains: []string{"Acme GmbH", "Acme renewal", "WhatsApp"}}},
		{"by email", url.Values{"q": {"ANA@example"}}, want{status: 200, ids: []string{"contact"}, order: []string{ids[0], ids[2], ids[1]}, count: 3}},
		{"by phone with spaces", url.Values{"q": {"0151 2345 6789"}}, want{status: 200, ids: []string{"contact"}, count: 3, order: []string{ids[0], ids[2], ids[1]}}},
		{"by international phone", url.Values{"q": {"+49 (151) 234"}}, want{status: 200, ids: []string{"contact"}, count: 3, order: []string{ids[0], ids[2], ids[1]}}},
		{"by id, no communications", url.Values{"contact": {ben}}, want{status: 200, ids: []string{"contact", "count"}, absent: []string{"pinned", "companies"}, count: 0}},
		{"unknown id", url.Values{"contact": {"123"}}, want{status: 404, ids: []string{"no-contact"}, absent: []string{"contact"}, count: -1}},
		{"other Ana", url.Values{"contact": {anaB}}, want{status: 200, ids: []string{"contact"}, count: 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, page := h.page(tc.query)
			if status != tc.want.status {
				t.Fatalf("status %d, want %d", status, tc.want.status)
			}
			d := parseHTML(t, page)
			for _, id := range tc.want.ids {
				if d.byID[id] == nil {
					t.Errorf("no #%s", id)
				}
			}
			for _, id := range tc.want.absent {
				if d.byID[id] != nil {
					t.Errorf("unexpected #%s", id)
				}
			}
			var order []string
			for _, n := range d.withClass("comm") {
				order = append(order, n.attrs["data-id"])
			}
			if diff := cmp.Diff(tc.want.order, order); diff != "" {
				t.Errorf("communications in page order (-want +got):\n%s", diff)
			}
			count := -1
			if n := d.byID["count"]; n != nil {
				fmt.Sscan(n.attrs["data-n"], &count)
			}
			if count != tc.want.count {
				t.Errorf("#count = %d, want %d", count, tc.want.count)
			}
			if n := len(d.withClass("match")); n != tc.want.matches {
				t.Errorf("%d contacts listed, want %d", n, tc.want.matches)
			}
			for _, s := range tc.want.contains {
				if !bytes.Contains(page, []byte(s)) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, n := range d.nodes {
				if n.name == "a" && strings.HasPrefix(n.attrs["class"], "comm-id") && !strings.HasSuffix(n.attrs["href"], "#comm-"+strings.TrimPrefix(n.text, "#")) {
					t.Errorf("communication link %q does not point at #comm-%s", n.attrs["href"], n.text)
				}
			}
		})
	}
	if after := h.srv.Stats().Requests; after != before {
		t.Errorf("page views counted as API requests: %d → %d", before, after)
	}
	// The page needs no token; the API still does.
	h.tok = ""
	h.must(401, "GET", "/crm/v3/objects/contacts", nil)
	if st, _, _ := h.page(nil); st != 200 {
		t.Errorf("page without token: %d", st)
	}
	// Only GET/HEAD reach the page; other methods on / stay API 404s.
	h.tok = "pat-secret"
	h.must(404, "POST", "/", map[string]any{})
}

// TestTimelineNewestShown: a contact with more communications than a page
// holds shows the newest ones and counts them all.
func TestTimelineNewestShown(t *testing.T) {
	h := start(t, Options{})
	c := h.newContact(map[string]any{"email": "busy@example.com"})
	n := maxTimelineItems + 30
	for k := 0; k < n; k += 100 {
		var bodies, ts []string
		for i := k; i < min(k+100, n); i++ {
			bodies = append(bodies, fmt.Sprint("m", i))
			ts = append(ts, fmt.Sprint(1714557600000+int64(i)*60000))
		}
		h.logTo(c, bodies, ts)
	}
	_, _, page := h.page(url.Values{"contact": {c}})
	d := parseHTML(t, page)
	if got := d.byID["count"].attrs["data-n"]; got != fmt.Sprint(n) {
		t.Errorf("count %s, want %d", got, n)
	}
	items := d.withClass("body")
	if len(items) != maxTimelineItems {
		t.Fatalf("%d shown, want %d", len(items), maxTimelineItems)
	}
	if items[0].text != fmt.Sprint("m", n-1) || items[len(items)-1].text != fmt.Sprint("m", n-maxTimelineItems) {
		t.Errorf("shown %s … %s, want the newest m%d … m%d", items[0].text, items[len(items)-1].text, n-1, n-maxTimelineItems)
	}
}

func TestTimelineGolden(t *testing.T) {
	h := start(t, Options{Now: newClock().Now})
	c := h.newContact(map[string]any{"firstname": "Grace", "lastname": "Tanaka", "email": "grace@example.com", "phone": "+44 7700 900123"})
	h.must(201, "POST", "/crm/v3/properties/communications", map[string]any{"name": "commlog_direction", "label": "Direction", "type": "string", "fieldType": "text", "groupName": "communicationinformation"})
	ids := h.logTo(c, []string{"<p>Hello Grace,<br>see you <b>tomorrow</b>.</p>", "Name: Grace\nThanks & bye <3"},
		[]string{"2024-05-01T10:00:00Z", "2024-05-01T10:05:00.500Z"}, "hs_communication_channel_type", "SMS", "commlog_direction", "out")
	h.must(200, "PATCH", "/crm/v3/objects/communications/"+ids[0], map[string]any{"properties": map[string]any{"commlog_direction": "INBOUND"}})
	_, _, page := h.page(url.Values{"contact": {c}})
	golden := filepath.Join("testdata", "timeline.golden.html")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestTimelineGolden -update)", err)
	}
	if diff := cmp.Diff(string(want), string(page)); diff != "" {
		t.Errorf("timeline page differs from %s (-want +got; refresh with -update):\n%s", golden, diff)
	}
}

func TestBodyText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"<p>a</p><p>b</p>", "a\nb"},
		{"a<br>b<BR/>c<br />d", "a\nb\nc\nd"},
		{"<b>x</b> <I>y</I>", "x y"},
		{"<script>x</script>", "<script>x</script>"},
		{"1 < 2 > 0", "1 < 2 > 0"},
		{"unclosed <b", "unclosed <b"},
		{"&amp;lt; &quot;", "&lt; \""},
	} {
		if got := bodyText(tc.in); got != tc.want {
			t.Errorf("bodyText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDirection(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{nil, ""},
		{map[string]string{"hs_communication_direction": "INBOUND"}, "inbound"},
		{map[string]string{"direction": "out"}, "outbound"},
		{map[string]string{"commlog_direction": "Sent"}, "outbound"},
		{map[string]string{"x_direction": "sideways"}, "sideways"},
	} {
		if got := direction(tc.props); got != tc.want {
			t.Errorf("direction(%v) = %q, want %q", tc.props, got, tc.want)
		}
	}
}

func FuzzBodyText(f *testing.F) {
	for _, s := range []string{"<p>a<br>b</p>", "<script>", "&lt;", "<<>>", "<b", "\xff<br>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := bodyText(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Errorf("bodyText(%q) = %q is not valid UTF-8", s, out)
		}
		if len(out) > len(s)+1 {
			t.Errorf("bodyText(%q) = %q grew", s, out)
		}
	})
}
