package mapping

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	_ "time/tzdata" // time zones must load the same on every machine, with or without /usr/share/zoneinfo

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/nyaruka/phonenumbers"

	"github.com/commlog/commlog/source"
)

// Values the mapping accepts. They appear in error messages as "valid: …".
var (
	formats      = []string{"csv", "jsonl", "whatsapp", "linkedin", "sms-xml", "twilio", "auto"}
	chatFormats  = []string{"whatsapp", "linkedin", "sms-xml", "twilio"}
	channels     = []string{"WHATS_APP", "LINKEDIN_MESSAGE", "SMS"}
	dateOrders   = []string{"DMY", "MDY", "YMD", "auto"}
	ambiguities  = []string{"error", "earlier", "later"}
	encodings    = []string{"utf-8", "windows-1252", "latin1", "iso-8859-1", "utf-16", "utf-16le", "utf-16be"}
	objectTypes  = []string{"contacts", "companies", "deals", "tickets"}
	onMissings   = []string{"unresolved", "fail"}
	bodyFormats  = []string{"text", "html"}
	ownerLookups = []string{"id", "owner_email"}

	topKeys     = []string{"version", "source", "communication", "key", "skip", "associations"}
	sourceKeys  = []string{"format", "timezone", "date_order", "me", "ambiguous_time", "encoding", "delimiter"}
	commKeys    = []string{"channel", "timestamp", "body", "owner_id", "properties"}
	channelKeys = []string{"column", "map", "default"}
	tsKeys      = []string{"column", "layout"}
	bodyKeys    = []string{"column", "template", "format", "allow_empty"}
	ownerKeys   = []string{"column", "lookup"}
	propKeys    = []string{"column", "template", "map", "default"}
	skipKeys    = []string{"column", "in"}
	assocKeys   = []string{"to", "by", "column", "split", "default_region", "on_missing", "optional"}

	propertyName   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	templatePrefix = regexp.MustCompile(`^template: [^:]*:(\d+:)?(\d+:)? *`)
)

// Properties commlog sets itself; `properties` may not name them.
var reservedProps = map[string]string{
	"hs_timestamp":                  "communication.timestamp",
	"hs_communication_channel_type": "communication.channel",
	"hs_communication_body":         "communication.body",
	"hubspot_owner_id":              "communication.owner_id",
	"commlog_key":                   "the import (the idempotency key)",
	"hs_object_id":                  "HubSpot (read-only)",
	"hs_createdate":                 "HubSpot (read-only)",
	"hs_lastmodifieddate":           "HubSpot (read-only)",
}

// Layout names besides Go layouts.
const (
	layoutEpochMS = "epoch_ms"
	layoutEpochS  = "epoch_s"
	layoutRFC3339 = "rfc3339"
	localLayout   = "2006-01-02T15:04:05" // source.FieldLocalTime
)

// Mapping is a compiled mapping file: how each input record becomes one
// HubSpot communication.
//
// A Mapping is not safe for concurrent use: Apply keeps a column plan, the
// previous record's key (for the occurrence counter) and scratch buffers.
// Use one Mapping per goroutine; Clone makes another that shares the
// compiled configuration.
type Mapping struct {
	*config
	st *state
}

// config is the immutable, compiled part of a Mapping.
type config struct {
	file    string
	version int

	format    string
	timezone  string
	loc       *time.Location
	dateOrder string
	me        []string
	ambiguous string
	encoding  string
	delimiter rune

	chatDefaults bool // no communication section: use the chat readers' normalised fields
	channel      valueSpec
	timestamp    tsSpec
	body         bodySpec
	owner        ownerSpec
	props        []propSpec

	keyFields   []string // record fields of the idempotency key
	keyExplicit bool     // from `key:`; otherwise missing fields are left out
	skip        []skipRule
	assocs      []assocSpec

	slots     map[string]int // record field name → slot in a plan
	slotNames []string
}

// valueSpec produces one string from a record: a constant, a column, or a
// template, optionally through an enum map.
type valueSpec struct {
	set      bool
	constant string
	isConst  bool
	slot     int // column slot, -1 if none
	column   string
	tmpl     *template.Template
	tmplSrc  string
	// parts is the template flattened when it is only text and plain
	// {{ .field }} actions: Apply then concatenates slots instead of
	// running text/template over a map of every field (most of Apply's
	// cost on the usual "{{ .sender }}: {{ .text }}" bodies).
	parts    []tmplPart
	enum     map[string]string // nil: no map
	def      string
	hasDef   bool
	enumKeys []string // sorted, for messages
}

type tsSpec struct {
	slot     int
	column   string
	layout   string // Go layout or one of the names above
	hasZone  bool   // the Go layout carries an offset
	timeSlot int    // chat defaults: FieldTime, then FieldLocalTime
	localSlt int
	// fixed and localFixed compile layout and localLayout for the fast
	// path of wall-clock times; nil when it does not apply.
	fixed      *fixedLayout
	localFixed *fixedLayout
}

type bodySpec struct {
	valueSpec
	html       bool
	allowEmpty bool
	kindSlot   int
}

type ownerSpec struct {
	valueSpec
	lookup bool // values are owner e-mails to resolve through the owners index
}

type propSpec struct {
	name string
	valueSpec
}

type skipRule struct {
	column string
	slot   int
	in     []string
}

type assocSpec struct {
	to, by        string
	column        string
	slot          int
	split         string
	defaultRegion string
	onMissing     string
	optional      bool
}

// Load reads and compiles a mapping file.
func Load(path string) (*Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &LoadError{File: path, Msg: fmt.Sprintf("reading mapping: %v", err), Err: err}
	}
	return Parse(data, path)
}

// Parse compiles a mapping from YAML; name is used in error messages.
// Errors are *LoadError with file:line:column.
func Parse(data []byte, name string) (*Mapping, error) {
	d := &decoder{file: name}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, d.syntaxError(err)
	}
	var body ast.Node
	docs := 0
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		docs++
		if docs > 1 {
			return nil, d.errf(doc.Body, "a mapping file holds one YAML document; found a second")
		}
		body = doc.Body
	}
	if body == nil {
		return nil, &LoadError{File: name, Line: 1, Column: 1, Msg: "empty mapping: want at least version and source (see mapping/doc.md)"}
	}
	c, err := d.compile(body)
	if err != nil {
		return nil, err
	}
	return &Mapping{config: c, st: newState()}, nil
}

// Clone returns a Mapping that shares the compiled configuration but has its
// own per-goroutine state (column plan, occurrence counter, buffers).
func (m *Mapping) Clone() *Mapping { return &Mapping{config: m.config, st: newState()} }

func (c *config) slot(name string) int {
	if i, ok := c.slots[name]; ok {
		return i
	}
	i := len(c.slotNames)
	c.slots[name] = i
	c.slotNames = append(c.slotNames, name)
	return i
}

func (d *decoder) compile(n ast.Node) (*config, error) {
	top, err := d.section(n, "the mapping", topKeys)
	if err != nil {
		return nil, err
	}
	if err := d.require(top, "version", "source"); err != nil {
		return nil, err
	}
	c := &config{file: d.file, slots: map[string]int{}}
	v, err := d.scalar(top.entries["version"].value, "version")
	if err != nil {
		return nil, err
	}
	if v != "1" {
		return nil, d.errf(top.entries["version"].value, "version: unsupported version %q (valid: 1)", v)
	}
	c.version = 1
	if err := d.source(c, top.entries["source"].value); err != nil {
		return nil, err
	}
	chat := slices.Contains(chatFormats, c.format) || c.format == "auto"
	if top.has("communication") {
		if err := d.communication(c, top.entries["communication"].value, chat); err != nil {
			return nil, err
		}
	} else {
		if !chat {
			return nil, d.errf(top.node, "missing required key \"communication\" in the mapping (required for format %s; only chat formats have defaults)", c.format)
		}
		c.chatDefaults = true
	}
	if c.chatDefaults || !c.timestamp.setByUser() {
		c.timestamp.timeSlot = c.slot(source.FieldTime)
		c.timestamp.localSlt = c.slot(source.FieldLocalTime)
		c.timestamp.localFixed = fixedLayoutFor(localLayout)
		if c.loc == nil && c.format == "whatsapp" {
			return nil, d.errf(top.entries["source"].value, "missing required key \"timezone\" in source: whatsapp timestamps carry no UTC offset (use an IANA name such as Europe/Berlin)")
		}
	}
	if !c.channel.set {
		c.channel = valueSpec{set: true, slot: c.slot(source.FieldChannel), column: source.FieldChannel}
	}
	if !c.body.set {
		c.body.valueSpec = valueSpec{set: true, slot: c.slot(source.FieldText), column: source.FieldText}
	}
	c.body.kindSlot = c.slot(source.FieldKind)

	// skip and associations come before key so that the default key can
	// include association columns.
	if top.has("skip") {
		if err := d.skip(c, top.entries["skip"].value); err != nil {
			return nil, err
		}
	} else if chat {
		c.skip = []skipRule{{column: source.FieldKind, slot: c.slot(source.FieldKind), in: []string{source.KindSystem, source.KindDeleted}}}
	}
	if top.has("associations") {
		if err := d.associations(c, top.entries["associations"].value); err != nil {
			return nil, err
		}
	}
	if top.has("key") {
		keyNode := top.entries["key"].value
		fields, err := d.strList(keyNode, "key")
		if err != nil {
			return nil, err
		}
		if len(fields) == 0 {
			return nil, d.errf(keyNode, "key: want at least one field name")
		}
		for i, f := range fields {
			if f == "" {
				return nil, d.errf(keyNode, "key[%d]: empty field name", i)
			}
			if slices.Contains(fields[:i], f) {
				return nil, d.errf(keyNode, "key: field %q listed twice", f)
			}
			c.slot(f)
		}
		c.keyFields, c.keyExplicit = fields, true
	} else {
		c.keyFields = c.defaultKey(chat)
	}
	return c, nil
}

func (t tsSpec) setByUser() bool { return t.column != "" }

// defaultKey is every record field the mapping reads (the skip column
// excepted), in mapping order; for chat formats the conversation and sender
// too, so two people saying "ok" in the same minute get different keys.
func (c *config) defaultKey(chat bool) []string {
	var out []string
	add := func(names ...string) {
		for _, n := range names {
			if n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	if chat {
		add(source.FieldConversationID, source.FieldSender, source.FieldSenderID)
	}
	add(c.channel.fields()...)
	if c.timestamp.column != "" {
		add(c.timestamp.column)
	} else {
		add(source.FieldTime, source.FieldLocalTime)
	}
	add(c.body.fields()...)
	if chat && c.chatDefaults {
		add(source.FieldAttachments)
	}
	add(c.owner.fields()...)
	for _, p := range c.props {
		add(p.fields()...)
	}
	for _, a := range c.assocs {
		add(a.column)
	}
	for _, n := range out {
		c.slot(n)
	}
	return out
}

// fields lists the record fields a value reads.
func (v *valueSpec) fields() []string {
	switch {
	case !v.set || v.isConst:
		return nil
	case v.tmpl != nil:
		return templateFields(v.tmpl)
	default:
		return []string{v.column}
	}
}

func (d *decoder) source(c *config, n ast.Node) error {
	s, err := d.section(n, "source", sourceKeys)
	if err != nil {
		return err
	}
	c.format = "auto"
	if s.has("format") {
		if c.format, err = d.oneOf(s.entries["format"].value, "source.format", "format", formats); err != nil {
			return err
		}
	}
	if s.has("timezone") {
		tzNode := s.entries["timezone"].value
		tz, err := d.str(tzNode, "source.timezone")
		if err != nil {
			return err
		}
		loc, err := loadZone(tz)
		if err != nil {
			return d.errf(tzNode, "source.timezone: %v", err)
		}
		c.timezone, c.loc = tz, loc
	}
	if s.has("date_order") {
		do, err := d.oneOf(s.entries["date_order"].value, "source.date_order", "date order", dateOrders)
		if err != nil {
			return err
		}
		if do != "auto" {
			c.dateOrder = do
		}
	}
	if s.has("me") {
		if c.me, err = d.strList(s.entries["me"].value, "source.me"); err != nil {
			return err
		}
	}
	c.ambiguous = "error"
	if s.has("ambiguous_time") {
		if c.ambiguous, err = d.oneOf(s.entries["ambiguous_time"].value, "source.ambiguous_time", "choice", ambiguities); err != nil {
			return err
		}
	}
	if s.has("encoding") {
		e := s.entries["encoding"].value
		enc, err := d.str(e, "source.encoding")
		if err != nil {
			return err
		}
		if !slices.Contains(encodings, strings.ToLower(enc)) {
			return d.errf(e, "source.encoding: unknown encoding %q (valid: %s)", enc, strings.Join(encodings, ", "))
		}
		c.encoding = strings.ToLower(enc)
	}
	if s.has("delimiter") {
		e := s.entries["delimiter"].value
		del, err := d.str(e, "source.delimiter")
		if err != nil {
			return err
		}
		switch r := []rune(del); {
		case del == "tab" || del == `\t`:
			c.delimiter = '\t'
		case len(r) == 1 && r[0] != '"' && r[0] != '\n' && r[0] != '\r':
			c.delimiter = r[0]
		default:
			return d.errf(e, "source.delimiter: want one character (or tab), got %q", del)
		}
	}
	return nil
}

// loadZone accepts IANA names only: "Local" and fixed offsets would make the
// result depend on the machine or ignore DST.
func loadZone(name string) (*time.Location, error) {
	hint := "want an IANA name such as Europe/Berlin, America/New_York or UTC"
	if name == "" || name == "Local" || strings.ContainsAny(name, " :") || strings.HasPrefix(name, "+") || strings.HasPrefix(name, "-") {
		return nil, fmt.Errorf("unknown time zone %q (%s)", name, hint)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (%s)", name, hint)
	}
	return loc, nil
}

func (d *decoder) communication(c *config, n ast.Node, chat bool) error {
	s, err := d.section(n, "communication", commKeys)
	if err != nil {
		return err
	}
	if !chat {
		if err := d.require(s, "channel", "timestamp", "body"); err != nil {
			return err
		}
	}
	// A fixed order, so a mapping with several mistakes always reports the same one first.
	for _, k := range []struct {
		key    string
		decode func(*config, ast.Node) error
	}{
		{"channel", d.channel}, {"timestamp", d.timestamp}, {"body", d.body},
		{"owner_id", d.owner}, {"properties", d.properties},
	} {
		if s.has(k.key) {
			if err := k.decode(c, s.entries[k.key].value); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *decoder) channel(c *config, n ast.Node) error {
	const where = "communication.channel"
	if !isMapping(n) {
		v, err := d.scalar(n, where)
		if err != nil {
			return d.errf(n, "%s: want a channel (%s) or a mapping with column and map, got %s", where, strings.Join(channels, ", "), describe(n))
		}
		if !slices.Contains(channels, v) {
			return d.errf(n, "%s: invalid channel %q (valid: %s)", where, v, strings.Join(channels, ", "))
		}
		c.channel = valueSpec{set: true, isConst: true, constant: v, slot: -1}
		return nil
	}
	s, err := d.section(n, where, channelKeys)
	if err != nil {
		return err
	}
	if err := d.require(s, "column"); err != nil {
		return err
	}
	col, err := d.str(s.entries["column"].value, where+".column")
	if err != nil {
		return err
	}
	v := valueSpec{set: true, column: col, slot: c.slot(col)}
	if s.has("map") {
		if err := d.enumMap(&v, s.entries["map"].value, where+".map", channels); err != nil {
			return err
		}
	}
	if s.has("default") {
		dn := s.entries["default"].value
		if v.def, err = d.oneOf(dn, where+".default", "channel", channels); err != nil {
			return err
		}
		v.hasDef = true
	}
	c.channel = v
	return nil
}

// enumMap reads `map: {from: to}`; when valid is non-nil every target must be in it.
func (d *decoder) enumMap(v *valueSpec, n ast.Node, where string, valid []string) error {
	u, err := d.unwrap(n)
	if err != nil {
		return err
	}
	m, ok := u.(*ast.MappingNode)
	if !ok {
		return d.errf(u, "%s: want a mapping of input value → output value, got %s", where, describe(u))
	}
	v.enum = make(map[string]string, len(m.Values))
	for _, mv := range m.Values {
		k, err := d.scalar(mv.Key, where)
		if err != nil {
			return err
		}
		to, err := d.scalar(mv.Value, where+"."+k)
		if err != nil {
			return err
		}
		if valid != nil && !slices.Contains(valid, to) {
			return d.errf(mv.Value, "%s.%s: invalid channel %q (valid: %s)", where, k, to, strings.Join(valid, ", "))
		}
		if _, dup := v.enum[k]; dup {
			return d.errf(mv.Key, "%s: input value %q mapped twice", where, k)
		}
		v.enum[k] = to
		v.enumKeys = append(v.enumKeys, k)
	}
	if len(v.enum) == 0 {
		return d.errf(n, "%s: empty map", where)
	}
	sort.Strings(v.enumKeys)
	return nil
}

func (d *decoder) timestamp(c *config, n ast.Node) error {
	const where = "communication.timestamp"
	s, err := d.section(n, where, tsKeys)
	if err != nil {
		return err
	}
	if err := d.require(s, "column"); err != nil {
		return err
	}
	col, err := d.str(s.entries["column"].value, where+".column")
	if err != nil {
		return err
	}
	t := tsSpec{column: col, slot: c.slot(col), layout: layoutRFC3339, hasZone: true, timeSlot: -1, localSlt: -1}
	if s.has("layout") {
		ln := s.entries["layout"].value
		if t.layout, err = d.str(ln, where+".layout"); err != nil {
			return err
		}
		switch t.layout {
		case layoutEpochMS, layoutEpochS, layoutRFC3339:
		default:
			hasZone, err := checkLayout(t.layout)
			if err != nil {
				return d.errf(ln, "%s.layout: %v", where, err)
			}
			t.hasZone = hasZone
			if !hasZone {
				t.fixed = fixedLayoutFor(t.layout)
			}
			if !hasZone && c.loc == nil {
				return d.errf(ln, "%s.layout: %q carries no UTC offset, so source.timezone is required (an IANA name such as Europe/Berlin)", where, t.layout)
			}
		}
	}
	c.timestamp = t
	return nil
}

// checkLayout reports whether a Go time layout reads a UTC offset, and
// refuses layouts that cannot carry a full date and time.
func checkLayout(layout string) (hasZone bool, err error) {
	ref := time.Date(2009, 11, 17, 20, 34, 58, 0, time.FixedZone("", 5*3600+30*60))
	s := ref.Format(layout)
	got, err := time.Parse(layout, s)
	if err != nil || got.Year() != 2009 || got.Month() != 11 || got.Day() != 17 {
		return false, fmt.Errorf("%q is not a Go time layout with year, month and day (write the reference time 2006-01-02 15:04:05, or use epoch_ms, epoch_s or rfc3339)", layout)
	}
	_, off := got.Zone()
	hasZone = off == 5*3600+30*60
	if got.Hour() != 20 {
		return false, fmt.Errorf("%q has no hour: a communication needs a time of day (reference time: 2006-01-02 15:04:05)", layout)
	}
	return hasZone, nil
}

var tmplFuncs = template.FuncMap{
	"trim":  strings.TrimSpace,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"default": func(def, s string) string {
		if strings.TrimSpace(s) == "" {
			return def
		}
		return s
	},
	"truncate": func(n int, s string) string {
		if n < 0 {
			n = 0
		}
		i := 0
		for j := range s {
			if i == n {
				return s[:j]
			}
			i++
		}
		return s
	},
}

func (d *decoder) template(n ast.Node, where string) (*template.Template, string, error) {
	src, err := d.str(n, where)
	if err != nil {
		return nil, "", err
	}
	t, err := template.New(where).Option("missingkey=error").Funcs(tmplFuncs).Parse(src)
	if err != nil {
		msg := templatePrefix.ReplaceAllString(err.Error(), "")
		return nil, "", d.errf(n, "%s: %s (functions: default, lower, trim, truncate, upper)", where, msg)
	}
	return t, src, nil
}

// templateFields lists the fields a template names as {{ .field }}.
func templateFields(t *template.Template) []string {
	var out []string
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch v := n.(type) {
		case *parse.ListNode:
			if v != nil {
				for _, c := range v.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(v.Pipe)
		case *parse.PipeNode:
			if v != nil {
				for _, c := range v.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range v.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if len(v.Ident) > 0 && !slices.Contains(out, v.Ident[0]) {
				out = append(out, v.Ident[0])
			}
		case *parse.IfNode:
			walk(v.Pipe)
			walk(v.List)
			walk(v.ElseList)
		case *parse.RangeNode:
			walk(v.Pipe)
			walk(v.List)
			walk(v.ElseList)
		case *parse.WithNode:
			walk(v.Pipe)
			walk(v.List)
			walk(v.ElseList)
		}
	}
	if t.Tree != nil {
		walk(t.Tree.Root)
	}
	return out
}

// singleField reports a template that is exactly {{ .name }}, which Apply
// reads directly without running the template.
// tmplPart is literal text (slot -1) or one field's value.
type tmplPart struct {
	text string
	slot int
	name string
}

// flatParts flattens a template made of text and {{ .field }} actions
// only; anything else (functions, pipes, if, range) reports false.
func flatParts(c *config, t *template.Template) ([]tmplPart, bool) {
	if t.Tree == nil || t.Tree.Root == nil {
		return nil, false
	}
	var parts []tmplPart
	for _, n := range t.Tree.Root.Nodes {
		switch v := n.(type) {
		case *parse.TextNode:
			parts = append(parts, tmplPart{text: string(v.Text), slot: -1})
		case *parse.ActionNode:
			if len(v.Pipe.Decl) != 0 || len(v.Pipe.Cmds) != 1 || len(v.Pipe.Cmds[0].Args) != 1 {
				return nil, false
			}
			f, ok := v.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return nil, false
			}
			parts = append(parts, tmplPart{slot: c.slot(f.Ident[0]), name: f.Ident[0]})
		default:
			return nil, false
		}
	}
	return parts, true
}

func singleField(t *template.Template) (string, bool) {
	if t.Tree == nil || t.Tree.Root == nil || len(t.Tree.Root.Nodes) != 1 {
		return "", false
	}
	a, ok := t.Tree.Root.Nodes[0].(*parse.ActionNode)
	if !ok || len(a.Pipe.Decl) != 0 || len(a.Pipe.Cmds) != 1 || len(a.Pipe.Cmds[0].Args) != 1 {
		return "", false
	}
	f, ok := a.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 1 {
		return "", false
	}
	return f.Ident[0], true
}

// columnOrTemplate reads a value given as {column: x} or {template: "…"}
// from a section that has both keys.
func (d *decoder) columnOrTemplate(c *config, s *section, where string) (valueSpec, error) {
	v := valueSpec{set: true, slot: -1}
	switch {
	case s.has("column") && s.has("template"):
		return v, d.errf(s.entries["template"].key, "%s: give column or template, not both", where)
	case s.has("column"):
		col, err := d.str(s.entries["column"].value, where+".column")
		if err != nil {
			return v, err
		}
		v.column, v.slot = col, c.slot(col)
	case s.has("template"):
		t, src, err := d.template(s.entries["template"].value, where+".template")
		if err != nil {
			return v, err
		}
		if f, ok := singleField(t); ok {
			v.column, v.slot = f, c.slot(f)
		} else {
			v.tmpl, v.tmplSrc = t, src
			for _, f := range templateFields(t) {
				c.slot(f)
			}
			v.parts, _ = flatParts(c, t)
		}
	default:
		return v, d.errf(s.node, "missing required key \"column\" or \"template\" in %s", where)
	}
	return v, nil
}

func (d *decoder) body(c *config, n ast.Node) error {
	const where = "communication.body"
	b := bodySpec{}
	if !isMapping(n) {
		t, src, err := d.template(n, where)
		if err != nil {
			return err
		}
		b.valueSpec = valueSpec{set: true, slot: -1, tmpl: t, tmplSrc: src}
		if f, ok := singleField(t); ok {
			b.valueSpec = valueSpec{set: true, column: f, slot: c.slot(f)}
		} else {
			b.valueSpec.parts, _ = flatParts(c, t)
		}
		c.body = b
		return nil
	}
	s, err := d.section(n, where, bodyKeys)
	if err != nil {
		return err
	}
	if b.valueSpec, err = d.columnOrTemplate(c, s, where); err != nil {
		return err
	}
	if s.has("format") {
		f, err := d.oneOf(s.entries["format"].value, where+".format", "format", bodyFormats)
		if err != nil {
			return err
		}
		b.html = f == "html"
	}
	if s.has("allow_empty") {
		if b.allowEmpty, err = d.boolean(s.entries["allow_empty"].value, where+".allow_empty"); err != nil {
			return err
		}
	}
	c.body = b
	return nil
}

func (d *decoder) owner(c *config, n ast.Node) error {
	const where = "communication.owner_id"
	if !isMapping(n) {
		v, err := d.scalar(n, where)
		if err != nil {
			return err
		}
		if !isDigits(v) {
			return d.errf(n, "%s: %q is not an owner id (want digits, or {column: …, lookup: owner_email})", where, v)
		}
		c.owner = ownerSpec{valueSpec: valueSpec{set: true, isConst: true, constant: v, slot: -1}}
		return nil
	}
	s, err := d.section(n, where, ownerKeys)
	if err != nil {
		return err
	}
	if err := d.require(s, "column"); err != nil {
		return err
	}
	col, err := d.str(s.entries["column"].value, where+".column")
	if err != nil {
		return err
	}
	o := ownerSpec{valueSpec: valueSpec{set: true, column: col, slot: c.slot(col)}}
	if s.has("lookup") {
		l, err := d.oneOf(s.entries["lookup"].value, where+".lookup", "lookup", ownerLookups)
		if err != nil {
			return err
		}
		o.lookup = l == "owner_email"
	}
	c.owner = o
	return nil
}

func (d *decoder) properties(c *config, n ast.Node) error {
	const where = "communication.properties"
	u, err := d.unwrap(n)
	if err != nil {
		return err
	}
	m, ok := u.(*ast.MappingNode)
	if !ok {
		return d.errf(u, "%s: want a mapping of property name → value, got %s", where, describe(u))
	}
	seen := map[string]bool{}
	for _, mv := range m.Values {
		name, err := d.scalar(mv.Key, where)
		if err != nil {
			return err
		}
		pw := where + "." + name
		if owner, ok := reservedProps[name]; ok {
			return d.errf(mv.Key, "%s: property %s is set by %s, not here", where, name, owner)
		}
		if !propertyName.MatchString(name) {
			return d.errf(mv.Key, "%s: %q is not a HubSpot property name (lower-case letters, digits and _ only)", where, name)
		}
		if seen[name] {
			return d.errf(mv.Key, "%s: property %s listed twice", where, name)
		}
		seen[name] = true
		var vn ast.Node = mv.Value
		if vn == nil {
			return d.errf(mv.Key, "%s: want a value", pw)
		}
		p := propSpec{name: name}
		if !isMapping(vn) {
			v, err := d.scalar(vn, pw)
			if err != nil {
				return d.errf(vn, "%s: want a constant or a mapping with column or template, got %s", pw, describe(vn))
			}
			p.valueSpec = valueSpec{set: true, isConst: true, constant: v, slot: -1}
			c.props = append(c.props, p)
			continue
		}
		s, err := d.section(vn, pw, propKeys)
		if err != nil {
			return err
		}
		if p.valueSpec, err = d.columnOrTemplate(c, s, pw); err != nil {
			return err
		}
		if s.has("map") {
			if err := d.enumMap(&p.valueSpec, s.entries["map"].value, pw+".map", nil); err != nil {
				return err
			}
		}
		if s.has("default") {
			if p.def, err = d.scalar(s.entries["default"].value, pw+".default"); err != nil {
				return err
			}
			p.hasDef = true
		}
		c.props = append(c.props, p)
	}
	return nil
}

func (d *decoder) skip(c *config, n ast.Node) error {
	if !isMapping(n) && !isSequence(n) {
		v, err := d.scalar(n, "skip")
		if err != nil || v != "none" {
			return d.errf(n, "skip: want none, {column: …, in: […]} or a list of those")
		}
		c.skip = nil
		return nil
	}
	var items []ast.Node
	if isSequence(n) {
		u, _ := d.unwrap(n)
		items = u.(*ast.SequenceNode).Values
		if len(items) == 0 {
			return d.errf(n, "skip: empty list (write skip: none to skip nothing)")
		}
	} else {
		items = []ast.Node{n}
	}
	for i, item := range items {
		where := "skip"
		if isSequence(n) {
			where = fmt.Sprintf("skip[%d]", i)
		}
		s, err := d.section(item, where, skipKeys)
		if err != nil {
			return err
		}
		if err := d.require(s, "column", "in"); err != nil {
			return err
		}
		col, err := d.str(s.entries["column"].value, where+".column")
		if err != nil {
			return err
		}
		in, err := d.strList(s.entries["in"].value, where+".in")
		if err != nil {
			return err
		}
		if len(in) == 0 {
			return d.errf(s.entries["in"].value, "%s.in: want at least one value", where)
		}
		c.skip = append(c.skip, skipRule{column: col, slot: c.slot(col), in: in})
	}
	return nil
}

func (d *decoder) associations(c *config, n ast.Node) error {
	u, err := d.unwrap(n)
	if err != nil {
		return err
	}
	seq, ok := u.(*ast.SequenceNode)
	if !ok {
		return d.errf(u, "associations: want a list of {to, by, column}, got %s", describe(u))
	}
	regions := phonenumbers.GetSupportedRegions()
	for i, item := range seq.Values {
		where := fmt.Sprintf("associations[%d]", i)
		s, err := d.section(item, where, assocKeys)
		if err != nil {
			return err
		}
		if err := d.require(s, "to", "by", "column"); err != nil {
			return err
		}
		a := assocSpec{onMissing: "unresolved"}
		if a.to, err = d.oneOf(s.entries["to"].value, where+".to", "object type", objectTypes); err != nil {
			return err
		}
		byNode := s.entries["by"].value
		if a.by, err = d.str(byNode, where+".by"); err != nil {
			return err
		}
		switch a.by {
		case "id", "phone":
		case "email", "linkedin_url":
			if a.to != "contacts" {
				return d.errf(byNode, "%s.by: %s works for contacts only; for %s use id or a unique property name", where, a.by, a.to)
			}
		default:
			if !propertyName.MatchString(a.by) {
				return d.errf(byNode, "%s.by: %q is neither id, email, phone, linkedin_url nor a property name", where, a.by)
			}
		}
		if a.column, err = d.str(s.entries["column"].value, where+".column"); err != nil {
			return err
		}
		a.slot = c.slot(a.column)
		if s.has("split") {
			if a.split, err = d.str(s.entries["split"].value, where+".split"); err != nil {
				return err
			}
			if a.split == "" {
				return d.errf(s.entries["split"].value, "%s.split: want a separator such as \";\"", where)
			}
		}
		if s.has("default_region") {
			rn := s.entries["default_region"].value
			if a.by != "phone" {
				return d.errf(s.entries["default_region"].key, "%s.default_region: only for by: phone", where)
			}
			r, err := d.str(rn, where+".default_region")
			if err != nil {
				return err
			}
			r = strings.ToUpper(r)
			if !regions[r] {
				return d.errf(rn, "%s.default_region: %q is not a region code (want ISO 3166 alpha-2 such as DE, GB, US)", where, r)
			}
			a.defaultRegion = r
		}
		if s.has("on_missing") {
			if a.onMissing, err = d.oneOf(s.entries["on_missing"].value, where+".on_missing", "choice", onMissings); err != nil {
				return err
			}
		}
		if s.has("optional") {
			if a.optional, err = d.boolean(s.entries["optional"].value, where+".optional"); err != nil {
				return err
			}
		}
		c.assocs = append(c.assocs, a)
	}
	return nil
}

// SourceOptions returns the reader options the mapping's source section sets.
func (m *Mapping) SourceOptions() source.Options {
	return source.Options{
		Format:    m.format,
		Delimiter: m.delimiter,
		Encoding:  m.encoding,
		Me:        slices.Clone(m.me),
		DateOrder: m.dateOrder,
	}
}

// Format is source.format ("auto" when not set).
func (m *Mapping) Format() string { return m.format }

// HasAssociations reports whether the mapping associates communications
// with any record. Without associations they appear on no timeline.
func (m *Mapping) HasAssociations() bool { return len(m.assocs) > 0 }

// OwnerLookup reports whether owner_id values are owner e-mails that the
// import must resolve with Index.ResolveOwner (see Result.OwnerEmail).
func (m *Mapping) OwnerLookup() bool { return m.owner.set && m.owner.lookup }

// PropertyNames lists every property the mapping writes, sorted.
func (m *Mapping) PropertyNames() []string {
	names := []string{"hs_communication_body", "hs_communication_channel_type", "hs_communication_logged_from", "hs_timestamp"}
	if m.owner.set {
		names = append(names, "hubspot_owner_id")
	}
	for _, p := range m.props {
		if !slices.Contains(names, p.name) {
			names = append(names, p.name)
		}
	}
	sort.Strings(names)
	return names
}

// EnumValues lists, per property, the values the mapping may write where
// they are known in advance (constants, channel and enum maps), so --plan
// can check them against the portal's enumeration options.
func (m *Mapping) EnumValues() map[string][]string {
	out := map[string][]string{}
	ch := m.channel
	switch {
	case ch.isConst:
		out["hs_communication_channel_type"] = []string{ch.constant}
	case ch.enum != nil:
		out["hs_communication_channel_type"] = enumTargets(ch)
	default:
		out["hs_communication_channel_type"] = slices.Clone(channels)
	}
	out["hs_communication_logged_from"] = []string{"CRM"}
	for _, p := range m.props {
		switch {
		case p.isConst:
			out[p.name] = []string{p.constant}
		case p.enum != nil:
			out[p.name] = enumTargets(p.valueSpec)
		}
	}
	return out
}

func enumTargets(v valueSpec) []string {
	var out []string
	for _, to := range v.enum {
		if !slices.Contains(out, to) {
			out = append(out, to)
		}
	}
	if v.hasDef && !slices.Contains(out, v.def) {
		out = append(out, v.def)
	}
	sort.Strings(out)
	return out
}

// KeyFields lists the record fields the idempotency key is computed over.
func (m *Mapping) KeyFields() []string { return slices.Clone(m.keyFields) }
