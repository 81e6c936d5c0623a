package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// ErrDateOrderUnknown is returned (wrapped) by Open for a WhatsApp export
// whose dates cannot tell day from month and whose Options.DateOrder is empty.
var ErrDateOrderUnknown = errors.New("cannot tell day/month order from the dates: set source.date_order in the mapping (DMY or MDY)")

// Pre-scan bounds: after the date order is known, keep collecting
// participants up to prescanMin bytes; a non-seekable input must decide
// within prescanMaxStream bytes.
const (
	prescanMin       = 1 << 20
	prescanMaxStream = 4 << 20
	maxParticipants  = 256
)

type waParticipant struct {
	name, handle string
	me           bool
}

type waAuthorStats struct{ strong, system, other int }

// whatsappReader reads a WhatsApp "Export chat" text file.
type whatsappReader struct {
	in     *input
	src    rawSource
	lr     *lineReader
	names  []string
	me     meSet
	order  string
	convID string
	title  string
	arena  recordArena

	participants  []waParticipant
	systemAuthors map[string]bool
	senders       map[string]*waSender
	authorOK      map[string]bool // plausibleAuthor, cached per author

	// the message being collected
	pend    bool
	pLine   int
	pOff    int64
	pHeader waHeader
	pStamp  string
	pAuthor string
	pSystem bool
	pErr    string
	text    []byte
	timeBuf []byte
}

// waSender caches what is derived from an author once per author.
type waSender struct {
	key              string // the author as written
	name, id, handle string
	dir              string
	recipients       string
	counterpart      string
}

func newWhatsAppReader(in *input, src rawSource, name string, opts Options) (Reader, error) {
	r := &whatsappReader{
		src:           src,
		names:         chatFieldNames(),
		me:            newMeSet(opts.Me),
		systemAuthors: map[string]bool{},
		senders:       map[string]*waSender{},
		authorOK:      map[string]bool{},
	}
	r.convID, r.title = chatTitle(name)
	switch o := strings.ToUpper(strings.TrimSpace(opts.DateOrder)); o {
	case "", "AUTO":
	case OrderDMY, OrderMDY, OrderYMD:
		r.order = o
	default:
		src.Close()
		return nil, fmt.Errorf("%s: date_order %q: valid values are DMY, MDY, YMD", name, opts.DateOrder)
	}
	if err := r.prescan(in, src.canRewind()); err != nil {
		src.Close()
		return nil, err
	}
	in2, err := openInput(src, name, opts)
	if err != nil {
		src.Close()
		return nil, err
	}
	r.in = in2
	r.lr = newLineReader(in2.br)
	return r, nil
}

// chatTitle derives the conversation id (the file's stem) and title (the
// chat name WhatsApp put into the file name) from an export's name.
func chatTitle(name string) (id, title string) {
	base := filepath.Base(name)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	if stem == "_chat" || stem == "" {
		return stem, ""
	}
	for _, p := range []string{"WhatsApp Chat with ", "WhatsApp Chat - ", "WhatsApp Chat mit ", "WhatsApp-Chat mit ",
		"Chat de WhatsApp con ", "Conversa do WhatsApp com ", "Discussion WhatsApp avec ", "Chat WhatsApp con "} {
		for _, v := range []string{p, strings.ReplaceAll(p, " ", "_")} {
			if len(stem) > len(v) && strings.EqualFold(stem[:len(v)], v) {
				t := stem[len(v):]
				if v != p {
					t = strings.ReplaceAll(t, "_", " ")
				}
				return stem, strings.TrimSpace(t)
			}
		}
	}
	return stem, stem
}

// prescan reads the start of the input (all of it while the order is not
// decided and the input can be read again) to decide the date order and to
// learn the participants.
func (r *whatsappReader) prescan(in *input, rewind bool) error {
	lr := newLineReader(in.br)
	order := r.order
	headers := 0
	stats := map[string]*waAuthorStats{}
	var authorOrder []string
	for {
		line, tooLong, err := lr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("%s:%d: %w", in.name, lr.line+1, err)
		}
		if tooLong {
			continue
		}
		line = normaliseDigits(stripBidiBytes(line))
		h, ok := parseWAHeader(line)
		if !ok {
			continue
		}
		headers++
		if r.order == "" {
			switch ev := h.evidence(); {
			case ev == "" || ev == "?":
			case order == "":
				order = ev
			case order != ev:
				return fmt.Errorf("%s:%d: dates are written in more than one order (%s and %s): set source.date_order in the mapping", in.name, lr.line, order, ev)
			}
		}
		if order != "" && lr.pos >= prescanMin {
			break
		}
		if order == "" && !rewind && lr.pos >= prescanMaxStream {
			return fmt.Errorf("%s: no date in the first %d MiB decides day/month order: %w", in.name, prescanMaxStream>>20, ErrDateOrderUnknown)
		}
		author, text, ok := splitAuthor(line[h.rest:])
		if !ok {
			continue
		}
		st := stats[string(author)]
		if st == nil {
			if len(stats) >= maxParticipants {
				continue
			}
			st = &waAuthorStats{}
			stats[string(author)] = st
			authorOrder = append(authorOrder, string(author))
		}
		switch systemLevel(string(text)) {
		case 2:
			st.strong++
		case 1:
			st.system++
		default:
			st.other++
		}
	}
	if headers == 0 {
		return fmt.Errorf("%s: no WhatsApp message header found (a line starting with a date and time): unknown locale or not a WhatsApp export", in.name)
	}
	if order == "" {
		return fmt.Errorf("%s: all %d dates have day and month ≤ 12: %w", in.name, headers, ErrDateOrderUnknown)
	}
	r.order = order
	for _, a := range authorOrder {
		st := stats[a]
		if st.strong > 0 && st.other == 0 {
			r.systemAuthors[a] = true // iOS writes system lines under the group's name
			continue
		}
		if st.other == 0 {
			continue
		}
		name, handle := authorHandle(a)
		r.participants = append(r.participants, waParticipant{name: name, handle: handle, me: r.me.has(name, handle)})
	}
	return nil
}

// splitAuthor splits "Author: text" on the first ": ", refusing authors
// that are really system text containing ": ".
func splitAuthor(rest []byte) (author, text []byte, ok bool) {
	return splitAuthorWith(rest, plausibleAuthor)
}

// splitAuthor is splitAuthor with plausibleAuthor cached per author.
func (r *whatsappReader) splitAuthor(rest []byte) (author, text []byte, ok bool) {
	return splitAuthorWith(rest, func(a []byte) bool {
		if v, ok := r.authorOK[string(a)]; ok {
			return v
		}
		v := plausibleAuthor(a)
		if len(r.authorOK) < 4*maxParticipants {
			r.authorOK[string(a)] = v
		}
		return v
	})
}

func splitAuthorWith(rest []byte, plausible func([]byte) bool) (author, text []byte, ok bool) {
	i := bytes.Index(rest, []byte(": "))
	switch {
	case i >= 0:
		author, text = rest[:i], rest[i+2:]
	case len(rest) > 1 && rest[len(rest)-1] == ':':
		author, text = rest[:len(rest)-1], nil
	default:
		return nil, nil, false
	}
	if !plausible(author) {
		return nil, nil, false
	}
	return author, text, true
}

func plausibleAuthor(a []byte) bool {
	if len(a) == 0 || utf8.RuneCount(a) > 80 || bytes.ContainsAny(a, "\"“”„«»") {
		return false
	}
	for _, p := range []string{" changed ", " created ", " added ", " removed ", " joined ", " left ", " hat ", " hast ", " a ajouté", " añadió", " cambió"} {
		if bytes.Contains(a, []byte(p)) {
			return false
		}
	}
	return true
}

// authorHandle cleans an author as written: "~ Priya" (unsaved contact on
// iOS) becomes "Priya"; a phone number becomes its +digits handle.
func authorHandle(a string) (name, handle string) {
	name = strings.TrimSpace(a)
	if strings.HasPrefix(name, "~") {
		name = strings.TrimSpace(strings.TrimPrefix(name, "~"))
	}
	if isPhone(name) {
		return name, phoneHandle(name)
	}
	return name, name
}

// systemLevel says whether a text is WhatsApp's own: 2 for wording no person
// writes (encryption notice, group created, number changed…), 1 for wording
// that is system only when no person is its author (added, left, calls).
func systemLevel(t string) int {
	t = strings.TrimSpace(t)
	for _, p := range []string{
		"Messages and calls are end-to-end encrypted", "Messages to this chat and calls are now secured with end-to-end encryption",
		"Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt", "Los mensajes y las llamadas están cifrados de extremo a extremo",
		"Les messages et les appels sont chiffrés de bout en bout", "As mensagens e as chamadas são protegidas com a criptografia de ponta a ponta",
		"Your security code with ", "You blocked this contact", "You unblocked this contact",
	} {
		if strings.HasPrefix(t, p) {
			return 2
		}
	}
	// One cheap look for the verbs first: this runs for every message.
	if strings.Contains(t, " changed ") || strings.Contains(t, " created ") || strings.Contains(t, " turned o") ||
		strings.Contains(t, " updated the ") || strings.Contains(t, " joined using ") || strings.Contains(t, " hat ") {
		for _, p := range []string{
			" created this group", " created group ", " changed the subject ", " changed the group name ", " changed this group's icon",
			" changed the group description", " changed their phone number to a new number", " turned on disappearing messages",
			" turned off disappearing messages", " updated the message timer", " joined using this group's invite link",
			" hat die Gruppe erstellt", " hat den Betreff ", " hat das Gruppenbild geändert",
		} {
			if strings.Contains(t, p) {
				return 2
			}
		}
	}
	if strings.HasPrefix(t, "You created group") || strings.HasPrefix(t, "You're now an admin") || strings.HasPrefix(t, "You changed") {
		return 2
	}
	for _, p := range []string{"Missed voice call", "Missed video call", "Voice call", "Video call", "Verpasster Sprachanruf", "Verpasster Videoanruf", "Sprachanruf", "Videoanruf"} {
		if strings.HasPrefix(t, p) {
			return 1
		}
	}
	for _, p := range []string{" added ", " removed ", " hinzugefügt", " entfernt", " hat die Gruppe verlassen", " changed to +"} {
		if strings.Contains(t, p) {
			return 1
		}
	}
	if strings.HasSuffix(t, " left") || strings.HasPrefix(t, "You added ") || strings.HasPrefix(t, "You removed ") || strings.HasPrefix(t, "You left") || strings.HasPrefix(t, "Du hast ") {
		return 1
	}
	return 0
}

func (r *whatsappReader) Format() string { return FormatWhatsApp }
func (r *whatsappReader) Close() error   { return r.src.Close() }

func (r *whatsappReader) Next() (*Record, error) {
	for {
		line, tooLong, err := r.lr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if r.pend {
					r.pend = false
					return r.finish(), nil
				}
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%s:%d: %w", r.in.name, r.lr.line+1, err)
		}
		if tooLong {
			if r.pend {
				r.pErr = fmt.Sprintf("message has a line longer than %d MiB", maxLine>>20)
				continue
			}
			return r.orphan(fmt.Sprintf("line longer than %d MiB before the first message", maxLine>>20)), nil
		}
		valid := utf8.Valid(line)
		clean := normaliseDigits(stripBidiBytes(line))
		h, ok := parseWAHeader(clean)
		if !ok {
			if !r.pend {
				return r.orphan("line is not part of a message: no date and time header before it"), nil
			}
			if !valid {
				r.pErr = "message is not valid UTF-8: set the encoding"
			}
			if len(r.text)+1+len(clean) > maxLine {
				r.pErr = fmt.Sprintf("message longer than %d MiB", maxLine>>20)
				continue
			}
			r.text = append(r.text, '\n')
			r.text = append(r.text, clean...)
			continue
		}
		var out *Record
		if r.pend {
			out = r.finish()
		}
		r.start(h, clean, valid)
		if out != nil {
			return out, nil
		}
	}
}

func (r *whatsappReader) orphan(msg string) *Record {
	rec := r.arena.record()
	rec.File, rec.Line, rec.Offset, rec.Names = r.in.name, r.lr.line, r.in.offset(r.lr.start), r.names
	rec.Values = r.arena.values(nChat)
	rec.Values[iConvID], rec.Values[iConvTitle], rec.Values[iChannel] = r.convID, r.title, ChannelWhatsApp
	rec.Err = &RowError{File: r.in.name, Line: r.lr.line, Msg: msg}
	return rec
}

// start begins collecting the message whose header line is line.
func (r *whatsappReader) start(h waHeader, line []byte, valid bool) {
	r.pend = true
	r.pLine, r.pOff = r.lr.line, r.in.offset(r.lr.start)
	r.pHeader = h
	r.pStamp = string(line[h.stampStart:h.stampEnd])
	r.pErr = ""
	if !valid {
		r.pErr = "message is not valid UTF-8: set the encoding"
	}
	rest := line[h.rest:]
	author, text, ok := r.splitAuthor(rest)
	if !ok {
		r.pSystem, r.pAuthor = true, ""
		r.text = append(r.text[:0], rest...)
		return
	}
	r.pSystem = false
	r.pAuthor = r.intern(author)
	r.text = append(r.text[:0], text...)
}

func (r *whatsappReader) intern(a []byte) string {
	if s, ok := r.senders[string(a)]; ok {
		return s.key
	}
	return string(a)
}

func (r *whatsappReader) sender(author string) *waSender {
	if s, ok := r.senders[author]; ok {
		return s
	}
	name, handle := authorHandle(author)
	s := &waSender{key: author, name: name, handle: handle}
	if handle != name {
		s.id = handle
	}
	s.dir = r.me.direction(name, handle)
	var recips, others []string
	for _, p := range r.participants {
		if p.handle == handle {
			continue
		}
		recips = append(recips, p.handle)
		if !p.me {
			others = append(others, p.handle)
		}
	}
	s.recipients = joinNonEmpty(recips)
	switch s.dir {
	case DirInbound:
		s.counterpart = handle
	case DirOutbound:
		s.counterpart = joinNonEmpty(others)
	}
	if len(r.senders) < 4*maxParticipants { // bounded: a broken file may have an "author" per line
		r.senders[author] = s
	}
	return s
}

// finish turns the collected message into a record.
func (r *whatsappReader) finish() *Record {
	rec := r.arena.record()
	rec.File, rec.Line, rec.Offset, rec.Names = r.in.name, r.pLine, r.pOff, r.names
	v := r.arena.values(nChat)
	rec.Values = v
	v[iConvID], v[iConvTitle], v[iChannel] = r.convID, r.title, ChannelWhatsApp
	v[iSentAt] = r.pStamp
	h := &r.pHeader
	if y, mo, d, ok := h.date(r.order); ok {
		hh, mi, ss := h.clock()
		r.timeBuf = appendLocalTime(r.timeBuf[:0], y, mo, d, hh, mi, ss)
		v[iLocalTime] = string(r.timeBuf)
	} else if r.pErr == "" {
		r.pErr = fmt.Sprintf("date %q does not exist when read as %s: check source.date_order", r.pStamp, r.order)
	}
	text := string(bytes.TrimRight(r.text, "\n"))
	kind := KindMessage
	// iOS writes system lines as if the group's name had sent them; the
	// pre-scan found such authors. Wording no person writes is system too.
	system := r.pSystem || r.systemAuthors[r.pAuthor] || systemLevel(text) == 2
	if system {
		kind = KindSystem
		v[iText] = text
		v[iDirection] = DirUnknown
	} else {
		s := r.sender(r.pAuthor)
		v[iSender], v[iSenderID], v[iRecipients] = s.name, s.id, s.recipients
		v[iDirection], v[iCounterpart] = s.dir, s.counterpart
		var clean, attach string
		kind, clean, attach = classifyWAText(text)
		v[iText], v[iAttachments] = clean, attach
	}
	v[iKind] = kind
	if r.pErr != "" {
		rec.Err = &RowError{File: r.in.name, Line: r.pLine, Msg: r.pErr}
	}
	return rec
}

// classifyWAText tells deleted messages, media placeholders and attachments
// from text, and strips the placeholders and the "edited" suffix.
func classifyWAText(b string) (kind, text, attachment string) {
	first, caption := b, ""
	if i := strings.IndexByte(b, '\n'); i >= 0 {
		first, caption = b[:i], b[i+1:]
	}
	f := strings.TrimSpace(first)
	switch f {
	case "This message was deleted", "This message was deleted.", "You deleted this message", "You deleted this message.",
		"Message deleted", "Diese Nachricht wurde gelöscht.", "Diese Nachricht wurde gelöscht", "Du hast diese Nachricht gelöscht.",
		"Se eliminó este mensaje.", "Eliminaste este mensaje.", "Ce message a été supprimé", "Mensagem apagada":
		if len(caption) == 0 {
			return KindDeleted, "", ""
		}
	case "<Media omitted>", "<Medien ausgeschlossen>", "<Multimedia omitido>", "<Video message omitted>", "<Video note omitted>",
		"<Archivo omitido>", "<Mídia oculta>", "<Médias omis>", "<Media weggelaten>", "image omitted", "video omitted", "audio omitted",
		"sticker omitted", "GIF omitted", "Contact card omitted", "Bild weggelassen", "Video weggelassen", "Audio weggelassen",
		"Sticker weggelassen", "imagen omitida", "audio omitido", "video omitido", "sticker omitido":
		return KindMedia, caption, ""
	}
	for _, p := range []string{"Missed voice call", "Missed video call", "Voice call", "Video call", "Verpasster Sprachanruf", "Verpasster Videoanruf", "Llamada perdida", "Videollamada perdida"} {
		if strings.HasPrefix(f, p) && len(caption) == 0 {
			return KindSystem, b, "" // calls are not messages
		}
	}
	if strings.HasSuffix(f, " document omitted") || strings.HasSuffix(f, " Dokument weggelassen") {
		return KindMedia, caption, ""
	}
	for _, w := range [][2]string{{"<attached: ", ">"}, {"<Anhang: ", ">"}, {"<adjunto: ", ">"}} {
		if strings.HasPrefix(f, w[0]) && strings.HasSuffix(f, w[1]) {
			return KindMedia, stripEdited(caption), strings.TrimSpace(f[len(w[0]) : len(f)-len(w[1])])
		}
	}
	for _, s := range []string{" (file attached)", " (Datei angehängt)", " (archivo adjunto)", " (arquivo anexado)", " (fichier joint)", " <attached>"} {
		if strings.HasSuffix(f, s) && !strings.Contains(f[:len(f)-len(s)], " ") {
			return KindMedia, stripEdited(caption), f[:len(f)-len(s)]
		}
	}
	return KindMessage, stripEdited(b), ""
}

func stripEdited(s string) string {
	for _, suf := range []string{" <This message was edited>", " <Diese Nachricht wurde bearbeitet>", " <Se editó este mensaje.>", "<This message was edited>"} {
		if strings.HasSuffix(s, suf) {
			return s[:len(s)-len(suf)]
		}
	}
	return s
}
