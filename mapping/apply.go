package mapping

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/commlog/commlog/source"
)

// Result is what mapping one record gives: a communication ready to send,
// a deliberate skip, or a row error. Exactly one of Err, Skipped or
// Properties is meaningful; Key is set whenever the key fields could be read
// (skipped rows too, so the ledger can record them).
type Result struct {
	File string
	Line int
	// Key is the idempotency key: 32 lowercase hex characters of SHA-256 over
	// the mapping version and the key fields' name=value pairs, \x1f-joined,
	// plus "#n" for the n-th consecutive identical record of a file.
	Key string
	// Properties are ready to send: hs_timestamp as 2006-01-02T15:04:05.000Z
	// (UTC), hs_communication_channel_type, hs_communication_logged_from
	// ("CRM" unless the mapping overrides it), hs_communication_body,
	// hubspot_owner_id when known, and the mapping's other properties.
	// Empty values are left out. commlog_key is not included: the import
	// adds it.
	Properties map[string]string
	// Targets are the association targets, unresolved, in mapping order.
	// The import resolves them with an Index; a row whose targets do not each
	// resolve to exactly one record is unresolved and creates nothing.
	Targets []Target
	// OwnerEmail is set (lower-cased) when owner_id uses lookup: owner_email;
	// the import resolves it with Index.ResolveOwner and sets hubspot_owner_id.
	OwnerEmail string
	// Skipped, when non-empty, is why the row is skipped on purpose ("kind=system").
	Skipped string
	// Err, when non-nil, is why the row is invalid: a *RowError.
	Err error
	// Notes are per-row notices, e.g. a DST overlap resolved by source.ambiguous_time.
	Notes []string
}

// Target is one association a communication should get.
type Target struct {
	ObjectType string // contacts, companies, deals, tickets
	By         string // id, email, phone, linkedin_url or a property name
	Value      string // normalised: E.164, lower-case e-mail, normalised URL; "" when Reason is set
	Raw        string // as read from the record
	OnMissing  string // unresolved | fail
	// Reason, when non-empty, says why Value could not be made (not a phone
	// number, empty column…); such a target resolves to nothing.
	Reason string
}

// RowError is an invalid row: which field and why, at file:line.
type RowError struct {
	File  string
	Line  int
	Field string // communication field or key/skip/associations[i]; "" for read errors
	Msg   string
	Err   error // the reader's error, for read errors
}

func (e *RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

func (e *RowError) Unwrap() error { return e.Err }

// state is the per-goroutine part of a Mapping.
type state struct {
	// plan cache: the column plan of the last header seen, keyed on the
	// identity of the reader's shared Names slice (&Names[0]) and its length.
	planNames *string
	planLen   int
	plan      *plan

	// occurrence counter (O(1) state): the previous record's key material.
	prevFile string
	prevKey  []byte
	prevN    int

	keyBuf   []byte
	tsBuf    [64]byte // key and hs_timestamp
	bodyBuf  bytes.Buffer
	outBuf   strings.Builder
	data     map[string]string // template data, refilled per record
	phones   []*phoneCache     // one per default region
	phoneGen int               // size of a generation: phoneCacheGen, smaller in tests

	zones zoneCache // wall-clock ranges of the mapping's source.timezone

	targets []Target // the rest of the block targetSlice carves from
}

// targetSlice returns an empty slice with room for n Targets, carved from
// a larger block so that a row does not pay an allocation of its own. The
// capacity is capped: appending past it never touches a neighbour.
func (st *state) targetSlice(n int) []Target {
	if n > 16 {
		return make([]Target, 0, n)
	}
	if len(st.targets) < n {
		st.targets = make([]Target, 64*n)
	}
	t := st.targets[:0:n]
	st.targets = st.targets[n:]
	return t
}

func newState() *state {
	return &state{data: map[string]string{}, phoneGen: phoneCacheGen}
}

// plan maps slots to record value indexes for one header.
type plan struct {
	idx     []int  // slot → index in Values, -1 when the record has no such field
	keyIdx  []int  // key field → index in Values, -1 when the record has no such field
	missing string // first explicit key field missing, if any
	names   []string
}

func (m *Mapping) planFor(rec *source.Record) *plan {
	st := m.st
	if len(rec.Names) > 0 && st.plan != nil && st.planNames == &rec.Names[0] && st.planLen == len(rec.Names) {
		return st.plan
	}
	p := &plan{idx: make([]int, len(m.slotNames)), names: rec.Names}
	for s, name := range m.slotNames {
		p.idx[s] = slices.Index(rec.Names, name)
	}
	p.keyIdx = make([]int, len(m.keyFields))
	for i, f := range m.keyFields {
		p.keyIdx[i] = p.idx[m.slots[f]]
	}
	if m.keyExplicit {
		for _, f := range m.keyFields {
			if p.idx[m.slots[f]] < 0 {
				p.missing = f
				break
			}
		}
	}
	if len(rec.Names) > 0 {
		st.planNames, st.planLen, st.plan = &rec.Names[0], len(rec.Names), p
	} else {
		st.planNames, st.plan = nil, nil
	}
	return p
}

// get returns a slot's value and whether the record has the field.
func (p *plan) get(rec *source.Record, slot int) (string, bool) {
	if slot < 0 || slot >= len(p.idx) {
		return "", false
	}
	i := p.idx[slot]
	if i < 0 {
		return "", false
	}
	if i >= len(rec.Values) {
		return "", true
	}
	return rec.Values[i], true
}

// Apply maps one record. It never panics on bad input: problems come back
// in Result.Err. Apply is for one goroutine at a time (see Mapping).
func (m *Mapping) Apply(rec *source.Record) Result {
	res := Result{File: rec.File, Line: rec.Line}
	var setKey func() // sets res.Key, once it is known
	rowErr := func(field, format string, args ...any) Result {
		if setKey != nil {
			setKey()
		}
		res.Err = &RowError{File: rec.File, Line: rec.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
		res.Properties, res.Targets = nil, nil
		return res
	}
	if rec.Err != nil {
		msg := rec.Err.Error()
		var se *source.RowError
		if errors.As(rec.Err, &se) {
			msg = se.Msg
		}
		res.Err = &RowError{File: rec.File, Line: rec.Line, Msg: msg, Err: rec.Err}
		return res
	}
	p := m.planFor(rec)
	if p.missing != "" {
		return rowErr("key", "field %q is not in the record (fields: %s)", p.missing, fieldList(p.names))
	}
	sum := m.key(rec, p)
	setKey = func() { res.Key = string(appendKey(m.st.tsBuf[:0], sum)) }

	for _, r := range m.skip {
		if v, ok := p.get(rec, r.slot); ok && slices.Contains(r.in, v) {
			setKey()
			res.Skipped = r.column + "=" + v
			return res
		}
	}

	props := make(map[string]string, 6+len(m.props))
	res.Properties = props

	// channel
	ch, err := m.value(rec, p, &m.channel)
	if err != nil {
		return rowErr("channel", "%v", err)
	}
	if !slices.Contains(channels, ch) {
		if m.channel.enum != nil {
			return rowErr("channel", "%q is not in channel.map (mapped: %s)", ch, strings.Join(m.channel.enumKeys, ", "))
		}
		return rowErr("channel", "invalid channel %q (valid: %s; or add a map)", ch, strings.Join(channels, ", "))
	}
	props["hs_communication_channel_type"] = ch

	// timestamp
	ts, note, field, err := m.time(rec, p)
	if err != nil {
		return rowErr(field, "%v", err)
	}
	if note != "" {
		res.Notes = append(res.Notes, note)
	}
	// Key and hs_timestamp share one allocation: both are kept as long as
	// the Result, and a row pays one string less.
	both := string(appendHubSpotTime(appendKey(m.st.tsBuf[:0], sum), ts))
	res.Key = both[:keyLen]
	props["hs_timestamp"] = both[keyLen:]
	props["hs_communication_logged_from"] = "CRM"

	// body
	body, err := m.value(rec, p, &m.body.valueSpec)
	if err != nil {
		return rowErr("body", "%v", err)
	}
	if strings.TrimSpace(body) == "" && !m.body.allowEmpty {
		if kind, _ := p.get(rec, m.body.kindSlot); kind != source.KindMedia {
			return rowErr("body", "empty (only media rows may have an empty body; set body.allow_empty: true to import empty messages)")
		}
	}
	if !m.body.html {
		body = m.textToHTML(body)
	}
	props["hs_communication_body"] = body

	// owner
	if m.owner.set {
		v, err := m.value(rec, p, &m.owner.valueSpec)
		if err != nil {
			return rowErr("owner_id", "%v", err)
		}
		v = strings.TrimSpace(v)
		switch {
		case v == "":
		case m.owner.lookup:
			if !strings.Contains(v, "@") {
				return rowErr("owner_id", "%q is not an e-mail address (owner_id.lookup is owner_email)", v)
			}
			res.OwnerEmail = strings.ToLower(v)
		case !isDigits(v):
			return rowErr("owner_id", "%q is not an owner id (want digits, or set lookup: owner_email)", v)
		default:
			props["hubspot_owner_id"] = v
		}
	}

	for i := range m.props {
		pr := &m.props[i]
		v, err := m.value(rec, p, &pr.valueSpec)
		if err != nil {
			return rowErr("properties."+pr.name, "%v", err)
		}
		if v != "" {
			props[pr.name] = v
		}
	}

	if len(m.assocs) > 0 {
		res.Targets = m.st.targetSlice(len(m.assocs))
	}
	for i := range m.assocs {
		a := &m.assocs[i]
		raw, ok := p.get(rec, a.slot)
		if !ok {
			return rowErr(fmt.Sprintf("associations[%d]", i), "field %q is not in the record (fields: %s)", a.column, fieldList(p.names))
		}
		parts := []string{raw}
		if a.split != "" {
			parts = strings.Split(raw, a.split)
		}
		n := 0
		for _, part := range parts {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			n++
			res.Targets = append(res.Targets, m.target(a, part))
		}
		if n == 0 && !a.optional {
			res.Targets = append(res.Targets, Target{ObjectType: a.to, By: a.by, Raw: raw, OnMissing: a.onMissing,
				Reason: fmt.Sprintf("%s is empty", a.column)})
		}
	}
	return res
}

func fieldList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	const max = 12
	if len(names) > max {
		return strings.Join(names[:max], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}

// value evaluates a valueSpec against a record.
func (m *Mapping) value(rec *source.Record, p *plan, v *valueSpec) (string, error) {
	var s string
	switch {
	case v.isConst:
		return v.constant, nil
	case v.parts != nil:
		st := m.st
		st.bodyBuf.Reset()
		for _, part := range v.parts {
			if part.slot < 0 {
				st.bodyBuf.WriteString(part.text)
				continue
			}
			val, ok := p.get(rec, part.slot)
			if !ok {
				return "", fmt.Errorf("template: field %q is not in the record (fields: %s)", part.name, fieldList(p.names))
			}
			st.bodyBuf.WriteString(val)
		}
		s = st.bodyBuf.String()
	case v.tmpl != nil:
		st := m.st
		clear(st.data)
		for i, n := range rec.Names {
			if i < len(rec.Values) {
				st.data[n] = rec.Values[i]
			} else {
				st.data[n] = ""
			}
		}
		st.bodyBuf.Reset()
		if err := v.tmpl.Execute(&st.bodyBuf, st.data); err != nil {
			return "", templateError(err, p.names)
		}
		s = st.bodyBuf.String()
	default:
		var ok bool
		s, ok = p.get(rec, v.slot)
		if !ok {
			return "", fmt.Errorf("field %q is not in the record (fields: %s)", v.column, fieldList(p.names))
		}
	}
	if v.enum != nil {
		key := strings.TrimSpace(s)
		if to, ok := v.enum[key]; ok {
			return to, nil
		}
		if v.hasDef {
			return v.def, nil
		}
		return "", fmt.Errorf("%q is not in map (mapped: %s)", key, strings.Join(v.enumKeys, ", "))
	}
	if s == "" && v.hasDef {
		return v.def, nil
	}
	return s, nil
}

// templateError rewrites text/template's missing-key error into ours.
func templateError(err error, names []string) error {
	msg := err.Error()
	if i := strings.Index(msg, "map has no entry for key "); i >= 0 {
		return fmt.Errorf("template: field %s is not in the record (fields: %s)", msg[i+len("map has no entry for key "):], fieldList(names))
	}
	if i := strings.Index(msg, "error calling "); i >= 0 {
		msg = msg[i:]
	}
	return fmt.Errorf("template: %s", msg)
}

// key computes the SHA-256 that Result.Key is the first half of (see
// appendKey). Material: "v<version>" then name=value per key field,
// \x1f-joined. When the material equals the previous record's in the same
// file, "#n" is appended (n = 2, 3, …): only the previous record's material
// is kept, so memory is O(1).
func (m *Mapping) key(rec *source.Record, p *plan) [sha256.Size]byte {
	st := m.st
	b := append(st.keyBuf[:0], 'v')
	b = strconv.AppendInt(b, int64(m.version), 10)
	for i, f := range m.keyFields {
		j := p.keyIdx[i]
		if j < 0 { // only for the default key; explicit key fields were checked by the plan
			continue
		}
		b = append(b, 0x1f)
		b = append(b, f...)
		b = append(b, '=')
		if j < len(rec.Values) {
			b = append(b, rec.Values[j]...)
		}
	}
	// The previous record's material is kept (the two buffers swap), so a
	// repeat is found by comparing bytes and hashed once, with its "#n".
	if rec.File == st.prevFile && bytes.Equal(b, st.prevKey) {
		st.prevN++
		n := len(b)
		b = append(b, 0x1f, '#')
		b = strconv.AppendInt(b, int64(st.prevN), 10)
		sum := sha256.Sum256(b)
		st.keyBuf = b[:n]
		st.keyBuf, st.prevKey = st.prevKey, st.keyBuf
		return sum
	}
	st.prevFile, st.prevN = rec.File, 1
	st.keyBuf, st.prevKey = st.prevKey, b
	return sha256.Sum256(b)
}

// keyLen is the length of Result.Key: the first 16 bytes of the SHA-256, in hex.
const keyLen = 32

// appendKey appends the key of sum, as Result.Key spells it.
func appendKey(b []byte, sum [sha256.Size]byte) []byte {
	return hex.AppendEncode(b, sum[:keyLen/2])
}

// time reads the timestamp; it returns the field name for errors.
func (m *Mapping) time(rec *source.Record, p *plan) (time.Time, string, string, error) {
	ts := &m.timestamp
	if ts.column != "" {
		raw, ok := p.get(rec, ts.slot)
		if !ok {
			return time.Time{}, "", "timestamp", fmt.Errorf("field %q is not in the record (fields: %s)", ts.column, fieldList(p.names))
		}
		raw = strings.TrimSpace(raw)
		if !ts.hasZone && m.loc != nil {
			t, note, err := m.st.zones.parseWall(raw, ts.layout, ts.fixed, m.loc, m.timezone, m.ambiguous)
			return t, note, "timestamp", err
		}
		t, note, err := parseTime(raw, ts.layout, ts.hasZone, m.loc, m.timezone, m.ambiguous)
		return t, note, "timestamp", err
	}
	// Chat defaults: time (with offset) if set, else local_time in source.timezone.
	if v, ok := p.get(rec, ts.timeSlot); ok && strings.TrimSpace(v) != "" {
		t, note, err := parseTime(strings.TrimSpace(v), layoutRFC3339, true, nil, "", m.ambiguous)
		return t, note, source.FieldTime, err
	}
	v, ok := p.get(rec, ts.localSlt)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return time.Time{}, "", "timestamp", fmt.Errorf("record has neither %s nor %s (set communication.timestamp for this format)", source.FieldTime, source.FieldLocalTime)
	}
	if m.loc == nil {
		return time.Time{}, "", source.FieldLocalTime, fmt.Errorf("%q carries no UTC offset and source.timezone is not set", v)
	}
	t, note, err := m.st.zones.parseWall(v, localLayout, ts.localFixed, m.loc, m.timezone, m.ambiguous)
	return t, note, source.FieldLocalTime, err
}

// parseTime reads raw with layout. Wall-clock layouts are read in loc and
// DST gaps and overlaps are reported rather than shifted silently.
func parseTime(raw, layout string, hasZone bool, loc *time.Location, zone, ambiguous string) (time.Time, string, error) {
	if raw == "" {
		return time.Time{}, "", errors.New("empty")
	}
	switch layout {
	case layoutEpochMS, layoutEpochS:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("%q is not an integer (layout %s)", raw, layout)
		}
		if layout == layoutEpochMS {
			if n < -62135596800000 || n > 253402300799999 {
				return time.Time{}, "", fmt.Errorf("%q is out of range (layout %s)", raw, layout)
			}
			return time.UnixMilli(n).UTC(), "", nil
		}
		if n < -62135596800 || n > 253402300799 {
			return time.Time{}, "", fmt.Errorf("%q is out of range (layout %s)", raw, layout)
		}
		return time.Unix(n, 0).UTC(), "", nil
	case layoutRFC3339:
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("%q is not RFC 3339 with an offset (such as 2024-05-01T10:00:00Z or 2024-05-01T12:00:00+02:00)", raw)
		}
		return t, "", nil
	}
	if hasZone {
		t, err := time.Parse(layout, raw)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("%q does not match layout %s", raw, layout)
		}
		return t, "", nil
	}
	wall, err := time.Parse(layout, raw)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%q does not match layout %s", raw, layout)
	}
	return resolveLocal(wall, raw, loc, zone, ambiguous)
}

// resolveLocal turns a wall-clock time (parsed as UTC) into an instant in
// loc. Go's time.Date moves nonexistent times and picks one of two instants
// for ambiguous ones without telling; this checks both ways.
func resolveLocal(wall time.Time, raw string, loc *time.Location, zone, ambiguous string) (time.Time, string, error) {
	y, mo, d := wall.Date()
	h, mi, s := wall.Clock()
	t := time.Date(y, mo, d, h, mi, s, wall.Nanosecond(), loc)
	if !sameWall(t, wall) {
		return time.Time{}, "", fmt.Errorf("%q does not exist in %s (skipped by the DST change); the source.timezone may be wrong", raw, zone)
	}
	_, off := t.Zone()
	for _, probe := range [2]time.Duration{-3 * time.Hour, 3 * time.Hour} {
		_, o2 := t.Add(probe).Zone()
		if o2 == off {
			continue
		}
		c := wall.Add(-time.Duration(o2) * time.Second)
		if c.Equal(t) || !sameWall(c.In(loc), wall) {
			continue
		}
		earlier, later := t, c
		if c.Before(t) {
			earlier, later = c, t
		}
		const f = "2006-01-02T15:04:05Z07:00"
		switch ambiguous {
		case "earlier":
			return earlier, fmt.Sprintf("timestamp %q is ambiguous in %s (DST overlap); took the earlier instant %s (source.ambiguous_time: earlier)", raw, zone, earlier.UTC().Format(f)), nil
		case "later":
			return later, fmt.Sprintf("timestamp %q is ambiguous in %s (DST overlap); took the later instant %s (source.ambiguous_time: later)", raw, zone, later.UTC().Format(f)), nil
		default:
			return time.Time{}, "", fmt.Errorf("%q is ambiguous in %s (DST overlap): %s or %s; set source.ambiguous_time to earlier or later",
				raw, zone, earlier.UTC().Format(f), later.UTC().Format(f))
		}
	}
	return t, "", nil
}

// sameWall reports whether instant t, in its location, shows the wall
// clock that wall (a UTC time) holds, to the second.
func sameWall(t, wall time.Time) bool {
	_, off := t.Zone()
	return t.Unix()+int64(off) == wall.Unix()
}

// appendHubSpotTime appends t as 2006-01-02T15:04:05.000Z in UTC. It is
// time.AppendFormat for one fixed layout, at a fraction of the cost: the
// date comes from the Unix time by integer arithmetic.
func appendHubSpotTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	const first, last = -62167219200, 253402300799 // 0000-01-01T00:00:00Z, 9999-12-31T23:59:59Z
	if sec < first || sec > last {
		return t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	}
	days := (sec - first) / 86400
	rem := int(sec - first - days*86400)
	y, mo, d := civilFromDays(days + daysFromCivil(0, 1, 1))
	h, mi, s := rem/3600, rem/60%60, rem%60
	ms := t.Nanosecond() / 1e6
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return b
}

// htmlSpecial marks the bytes textToHTML rewrites.
var htmlSpecial = [256]bool{'&': true, '<': true, '>': true, '"': true, '\'': true, '\n': true, '\r': true}

// textToHTML escapes text for HubSpot's HTML body and keeps line breaks as <br>.
func (m *Mapping) textToHTML(s string) string {
	i := 0
	for i < len(s) && !htmlSpecial[s[i]] {
		i++
	}
	if i == len(s) {
		return s
	}
	b := &m.st.outBuf
	b.Reset()
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&#34;")
		case '\'':
			b.WriteString("&#39;")
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteString("<br>")
		case '\n':
			b.WriteString("<br>")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// target normalises one association value.
func (m *Mapping) target(a *assocSpec, raw string) Target {
	t := Target{ObjectType: a.to, By: a.by, Raw: raw, OnMissing: a.onMissing}
	switch a.by {
	case "id":
		if isDigits(raw) {
			t.Value = raw
		} else {
			t.Reason = fmt.Sprintf("%q is not a record id (want digits)", raw)
		}
	case "email":
		if e, ok := NormalizeEmail(raw); ok {
			t.Value = e
		} else {
			t.Reason = fmt.Sprintf("%q is not an e-mail address", raw)
		}
	case "phone":
		r := m.phone(raw, a.defaultRegion)
		t.Value, t.Reason = r.e164, r.reason
	case "linkedin_url":
		if u, ok := NormalizeLinkedInURL(raw); ok {
			t.Value = u
		} else {
			t.Reason = fmt.Sprintf("%q is not a LinkedIn profile URL", raw)
		}
	default:
		t.Value = raw
	}
	return t
}

type phoneResult struct{ e164, reason string }

// phoneCacheGen bounds one generation of a phone cache: two generations
// hold at most 2×phoneCacheGen numbers (a few MB).
const phoneCacheGen = 16 << 10

// phoneCache caches NormalizePhone for one default region. It keeps two
// generations and moves a hit from the old one into the current one, so
// the numbers in use survive a turnover; a single map emptied when full
// missed on every row of a file that cycles through more numbers than it
// holds (10,000 numbers: 8× slower mapping).
type phoneCache struct {
	region   string
	cur, old map[string]phoneResult
}

// phone normalises through a per-state cache: libphonenumber costs about
// ten microseconds a number, and chat exports repeat their counterparts.
func (m *Mapping) phone(raw, region string) phoneResult {
	st := m.st
	var c *phoneCache
	for _, pc := range st.phones {
		if pc.region == region {
			c = pc
			break
		}
	}
	if c == nil {
		c = &phoneCache{region: region, cur: map[string]phoneResult{}}
		st.phones = append(st.phones, c)
	}
	if r, ok := c.cur[raw]; ok {
		return r
	}
	r, ok := c.old[raw]
	if !ok {
		e, err := NormalizePhone(raw, region)
		if err != nil {
			r.reason = err.Error()
		} else {
			r.e164 = e
		}
	}
	if len(c.cur) >= st.phoneGen {
		c.old, c.cur = c.cur, make(map[string]phoneResult, len(c.cur))
	}
	// The key is cloned: raw usually shares its bytes with the whole row.
	c.cur[strings.Clone(raw)] = r
	return r
}
