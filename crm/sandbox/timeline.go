package sandbox

import (
	"bytes"
	"container/heap"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The timeline page (GET /) shows the sandbox's state the way a HubSpot
// user sees it on a contact record: find a contact by name, email or
// phone, then read its communications, pinned one first, newest next (the
// order of HubSpot's record timeline), with channel, direction when a
// property gives one, time, body, and the companies and deals involved.
//
// It is a local development page, not HubSpot API:
//   - It is served where the sandbox listens (127.0.0.1 by default) and is
//     open even when Options.Token is set. The token emulates HubSpot's
//     private-app auth for API clients; the page is for the person at the
//     machine, who can read the state directory anyway. Do not bind the
//     sandbox beyond loopback if the data must stay private.
//   - It is not counted in Stats, not rate limited, and takes no faults
//     or latency.
//   - It reads the live state, not the lagging search index.
//
// Bodies are untrusted. hs_communication_body is HTML in HubSpot; the page
// renders it as text: <br> and <p> become line breaks, <b>/<i> tags are
// dropped, entities are decoded, and everything else — <script>, <img
// onerror=…>, attribute tricks — is shown literally, escaped by
// html/template. No markup from a body ever reaches the DOM. A strict
// Content-Security-Policy (no scripts at all; only the page's own inline
// style, by hash) is the second line of defence.
//
// Cost: a contact's communications come from its association index (the
// contact's own set of associated communication ids), never from a scan of
// all communications, so a page costs O(the contact's communications),
// whatever the store holds. Contact search scans contacts only.

const (
	maxTimelineItems = 200 // communications listed per page (the count covers all)
	maxContactHits   = 50
	maxBrowseScan    = 10000 // contacts looked at for the "with messages" list
)

//go:embed timeline.html.tmpl
var timelineSource string

var timelineTmpl = template.Must(template.New("timeline").Funcs(template.FuncMap{
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).Parse(timelineSource))

// timelineCSP allows nothing but the page's own <style> block.
var timelineCSP = func() string {
	i := strings.Index(timelineSource, "<style>")
	j := strings.Index(timelineSource, "</style>")
	sum := sha256.Sum256([]byte(timelineSource[i+len("<style>") : j]))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}()

type tlContactRef struct {
	ID, Name, Email, Phone string
	Comms                  int
}

type tlLink struct{ Kind, ID, Name string }

type tlItem struct {
	ID        string
	Pinned    bool
	Channel   string
	Direction string // "" when no property says
	Time      time.Time
	HasTime   bool
	Body      string
	Links     []tlLink
}

type tlContact struct {
	tlContactRef
	Companies, Deals []tlLink
	Count            int // non-archived communications associated
	Shown            int
	Items            []tlItem
}

type tlPage struct {
	Query         string
	Searched      bool
	Matches       []tlContactRef
	Contact       *tlContact
	NotFoundID    string
	Browse        []tlContactRef
	TotalContacts int
	TotalComms    int
}

// serveTimeline answers GET / (and HEAD).
func (s *Server) serveTimeline(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := tlPage{Query: strings.TrimSpace(q.Get("q"))}
	s.mu.RLock()
	contacts := s.st.tables["contacts"]
	page.TotalContacts, page.TotalComms = liveCount(contacts), liveCount(s.st.tables["communications"])
	switch id := strings.TrimSpace(q.Get("contact")); {
	case id != "":
		if c := contacts.get(id, false); c != nil {
			page.Contact = s.timelineOf(c)
		} else {
			page.NotFoundID = id
		}
	case page.Query != "":
		page.Searched = true
		hits := findContacts(contacts, page.Query)
		if len(hits) == 1 {
			page.Contact = s.timelineOf(hits[0])
		}
		for _, c := range hits {
			page.Matches = append(page.Matches, contactRef(c))
		}
	default:
		page.Browse = browseContacts(contacts)
	}
	s.mu.RUnlock()

	var buf bytes.Buffer
	if err := timelineTmpl.Execute(&buf, page); err != nil {
		s.log.Error("sandbox: timeline page", "err", err)
		http.Error(w, "timeline page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", timelineCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	status := http.StatusOK
	if page.NotFoundID != "" {
		status = http.StatusNotFound
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

func liveCount(tb *table) int {
	n := 0
	for _, o := range tb.byID {
		if !o.archived {
			n++
		}
	}
	return n
}

func contactRef(c *object) tlContactRef {
	name := strings.TrimSpace(c.props["firstname"] + " " + c.props["lastname"])
	if name == "" {
		name = "(no name)"
	}
	phone := c.props["phone"]
	for _, p := range []string{"mobilephone", "hs_whatsapp_phone_number"} {
		if phone == "" {
			phone = c.props[p]
		}
	}
	return tlContactRef{ID: idString(c.id), Name: name, Email: c.props["email"], Phone: phone,
		Comms: len(c.assoc["communications"])}
}

// phoneProps are the contact properties a phone query is compared with.
var phoneProps = []string{"phone", "mobilephone", "hs_whatsapp_phone_number", "hs_calculated_phone_number", "hs_calculated_mobile_number"}

func digitsOf(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// findContacts matches q against the full name and email (case-insensitive
// substring) and, when q is phone-like (digits and + ( ) - . and spaces,
// at least four digits), against the digits of the phone properties — so
// "+49 151 2345" finds "+491512345…" and "0151 2345" finds its national form.
func findContacts(tb *table, q string) []*object {
	lq := strings.ToLower(q)
	qd := ""
	if strings.IndexFunc(q, func(r rune) bool { return !unicode.IsDigit(r) && !strings.ContainsRune("+()-. ", r) }) < 0 {
		qd = strings.TrimLeft(digitsOf(q), "0")
		if len(qd) < 4 {
			qd = ""
		}
	}
	var out []*object
	for _, id := range tb.order {
		c := tb.byID[id]
		if c.archived {
			continue
		}
		name := strings.ToLower(c.props["firstname"] + " " + c.props["lastname"])
		ok := strings.Contains(name, lq) || strings.Contains(strings.ToLower(c.props["email"]), lq)
		for _, p := range phoneProps {
			if ok || qd == "" {
				break
			}
			ok = c.props[p] != "" && strings.Contains(digitsOf(c.props[p]), qd)
		}
		if ok {
			out = append(out, c)
			if len(out) == maxContactHits {
				break
			}
		}
	}
	return out
}

// browseContacts lists the first contacts that have communications, so a
// newcomer has something to click before knowing any name.
func browseContacts(tb *table) []tlContactRef {
	var out []tlContactRef
	for i, id := range tb.order {
		if i == maxBrowseScan || len(out) == 20 {
			break
		}
		if c := tb.byID[id]; !c.archived && len(c.assoc["communications"]) > 0 {
			out = append(out, contactRef(c))
		}
	}
	return out
}

// timelineOf builds contact c's timeline. Caller holds s.mu (read).
func (s *Server) timelineOf(c *object) *tlContact {
	comms := s.st.tables["communications"]
	tc := &tlContact{tlContactRef: contactRef(c)}
	tc.Companies = s.links(c, "companies")
	tc.Deals = s.links(c, "deals")

	pinID, _ := parseID(c.props["hs_pinned_engagement_id"])
	var pinned *object
	// Newest maxTimelineItems by hs_timestamp (creation time when unset),
	// kept in a bounded heap: O(n log k) for a contact with n messages.
	top := &commHeap{}
	for id := range c.assoc["communications"] {
		o := comms.byID[id]
		if o == nil || o.archived {
			continue
		}
		tc.Count++
		if id == pinID {
			pinned = o
			continue
		}
		e := commEntry{o: o, at: commTime(o)}
		if top.Len() < maxTimelineItems {
			heap.Push(top, e)
		} else if top.less(top.s[0], e) {
			top.s[0] = e
			heap.Fix(top, 0)
		}
	}
	entries := slices.Clone(top.s)
	slices.SortFunc(entries, func(a, b commEntry) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return cmpUint(b.o.id, a.o.id)
	})
	if pinned != nil {
		tc.Items = append(tc.Items, s.item(comms, pinned, true))
	}
	for _, e := range entries {
		tc.Items = append(tc.Items, s.item(comms, e.o, false))
	}
	tc.Shown = len(tc.Items)
	return tc
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func commTime(o *object) time.Time {
	if t, ok := parseInstant(o.props["hs_timestamp"]); ok {
		return t
	}
	return o.created
}

type commEntry struct {
	o  *object
	at time.Time
}

// commHeap is a min-heap on (time, id): its root is the oldest kept.
type commHeap struct{ s []commEntry }

func (h *commHeap) less(a, b commEntry) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	return a.o.id < b.o.id
}
func (h *commHeap) Len() int           { return len(h.s) }
func (h *commHeap) Less(i, j int) bool { return h.less(h.s[i], h.s[j]) }
func (h *commHeap) Swap(i, j int)      { h.s[i], h.s[j] = h.s[j], h.s[i] }
func (h *commHeap) Push(x any)         { h.s = append(h.s, x.(commEntry)) }
func (h *commHeap) Pop() any {
	e := h.s[len(h.s)-1]
	h.s = h.s[:len(h.s)-1]
	return e
}

// links lists o's live associated records of type to, with a display name.
func (s *Server) links(o *object, to string) []tlLink {
	tb := s.st.tables[to]
	var out []tlLink
	for _, id := range associatedIDs(o, to) {
		x := tb.byID[id]
		if x == nil || x.archived {
			continue
		}
		name := ""
		for _, p := range []string{"name", "dealname", "subject", "domain"} {
			if name = x.props[p]; name != "" {
				break
			}
		}
		out = append(out, tlLink{Kind: tb.typ.singular, ID: idString(id), Name: name})
	}
	return out
}

func (s *Server) item(comms *table, o *object, pinned bool) tlItem {
	it := tlItem{ID: idString(o.id), Pinned: pinned, Body: bodyText(o.props["hs_communication_body"])}
	ch := o.props["hs_communication_channel_type"]
	it.Channel = ch
	if def := comms.props["hs_communication_channel_type"]; def != nil {
		for _, opt := range def.Options {
			if opt.Value == ch {
				it.Channel = opt.Label
			}
		}
	}
	if it.Channel == "" {
		it.Channel = "Communication"
	}
	it.Direction = direction(o.props)
	if t, ok := parseInstant(o.props["hs_timestamp"]); ok {
		it.Time, it.HasTime = t, true
	} else {
		it.Time = o.created
	}
	for _, to := range []string{"companies", "deals", "tickets"} {
		it.Links = append(it.Links, s.links(o, to)...)
	}
	return it
}

// direction reads a direction from a property when the portal has one
// (commlog writes none today): hs_communication_direction, direction, or
// a custom property ending in _direction. INBOUND/OUTBOUND and in/out
// read as "inbound"/"outbound"; other values are shown as they are.
func direction(props map[string]string) string {
	v := props["hs_communication_direction"]
	if v == "" {
		v = props["direction"]
	}
	if v == "" {
		keys := make([]string, 0, 2)
		for k := range props {
			if strings.HasSuffix(k, "_direction") {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if len(keys) > 0 {
			v = props[keys[0]]
		}
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "inbound", "in", "incoming", "received":
		return "inbound"
	case "outbound", "out", "outgoing", "sent":
		return "outbound"
	}
	return strings.TrimSpace(v)
}

// bodyText turns a HubSpot HTML body into the plain text the page shows:
// <br> and </p> (and <p> after text) become newlines, <b> <i> <p> tags
// vanish, entities are decoded. Any other tag stays as literal text. The
// result is plain text and is escaped like any other by html/template, so
// this function affects only readability, never safety.
func bodyText(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexByte(s, '>')
		if j < 0 {
			b.WriteString(s)
			break
		}
		switch tag := strings.ToLower(strings.ReplaceAll(s[1:j], " ", "")); tag {
		case "br", "br/":
			b.WriteByte('\n')
		case "p", "/p":
			if out := b.String(); out != "" && !strings.HasSuffix(out, "\n") {
				b.WriteByte('\n')
			}
		case "b", "/b", "i", "/i":
		default:
			b.WriteString(s[:j+1])
		}
		s = s[j+1:]
	}
	return strings.TrimRight(html.UnescapeString(b.String()), "\n")
}
