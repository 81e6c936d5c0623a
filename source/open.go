package source

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Format names, as used in a mapping's `source.format` and by Reader.Format.
const (
	FormatCSV      = "csv"
	FormatJSONL    = "jsonl"
	FormatWhatsApp = "whatsapp"
	FormatLinkedIn = "linkedin"
	FormatSMSXML   = "sms-xml"
	FormatTwilio   = "twilio"
	FormatAuto     = "auto"
)

// ErrEmptyInput is returned (wrapped with the file name) by Open and
// NewReader for an input that holds no bytes, or nothing but a byte-order mark.
var ErrEmptyInput = errors.New("input is empty")

// maxLine bounds one line (or one CSV record without a line break, or one
// WhatsApp message) so that memory does not grow with a broken file.
const maxLine = 4 << 20

// bufSize is the read buffer of every reader.
const bufSize = 64 << 10

// Formats lists the format names Open accepts, "auto" last.
func Formats() []string {
	return []string{FormatCSV, FormatJSONL, FormatWhatsApp, FormatLinkedIn, FormatSMSXML, FormatTwilio, FormatAuto}
}

func checkFormat(f string) (string, error) {
	f = strings.ToLower(strings.TrimSpace(f))
	if f == "" {
		return FormatAuto, nil
	}
	for _, v := range Formats() {
		if f == v {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown source format %q: valid formats are %s", f, strings.Join(Formats(), ", "))
}

// Open opens the file at path and returns a Reader for the format in opts
// (sniffed when it is auto or empty). It reads the .zip that WhatsApp shares
// directly, decodes opts.Encoding, and for WhatsApp decides the date order
// before the first record.
func Open(path string, opts Options) (Reader, error) {
	format, err := checkFormat(opts.Format)
	if err != nil {
		return nil, err
	}
	if format == FormatAuto || format == FormatWhatsApp {
		isZip, err := looksLikeZip(path)
		if err != nil {
			return nil, err
		}
		if isZip {
			return openZip(path, format, opts)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	src := &fileSource{path: path, f: f}
	rd, err := newReader(src, path, format, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return rd, nil
}

// NewReader reads r as the input called name (used in positions and, for
// auto, in sniffing). It is Open for tests and for inputs that are not files;
// when r is an io.ReadSeeker WhatsApp's date-order pre-scan rewinds it,
// otherwise the pre-scan buffers at most a few MiB. Zip archives need Open.
func NewReader(r io.Reader, name string, opts Options) (Reader, error) {
	format, err := checkFormat(opts.Format)
	if err != nil {
		return nil, err
	}
	var src rawSource
	if rs, ok := r.(io.ReadSeeker); ok {
		src = &seekSource{r: rs}
	} else {
		src = &replaySource{r: r}
	}
	return newReader(src, name, format, opts)
}

func logger(opts Options) *slog.Logger {
	if opts.Logger != nil {
		return opts.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// rawSource yields the raw bytes of one input, from the start, as often as
// a reader needs them (WhatsApp reads twice: pre-scan, then records).
type rawSource interface {
	open() (io.Reader, error)
	// canRewind says whether open may be called again after reading past
	// the replay limit.
	canRewind() bool
	Close() error
}

type fileSource struct {
	path string
	f    *os.File
}

func (s *fileSource) open() (io.Reader, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: rewind: %w", s.path, err)
	}
	return s.f, nil
}
func (s *fileSource) canRewind() bool { return true }
func (s *fileSource) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

type seekSource struct{ r io.ReadSeeker }

func (s *seekSource) open() (io.Reader, error) {
	if _, err := s.r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind: %w", err)
	}
	return s.r, nil
}
func (s *seekSource) canRewind() bool { return true }
func (s *seekSource) Close() error    { return nil }

// replaySource makes a plain io.Reader readable twice by recording what the
// first pass read, up to replayLimit bytes.
type replaySource struct {
	r      io.Reader
	rec    *recorder
	opened int
}

const replayLimit = 16 << 20

type recorder struct {
	r    io.Reader
	buf  bytes.Buffer
	over bool
}

func (c *recorder) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if !c.over {
		if c.buf.Len()+n > replayLimit {
			c.over = true
			c.buf = bytes.Buffer{}
		} else {
			c.buf.Write(p[:n])
		}
	}
	return n, err
}

func (s *replaySource) open() (io.Reader, error) {
	s.opened++
	switch s.opened {
	case 1:
		s.rec = &recorder{r: s.r}
		return s.rec, nil
	case 2:
		if s.rec.over {
			return nil, errors.New("input is not seekable and the pre-scan read past its replay limit")
		}
		rec := s.rec
		s.rec = nil
		return io.MultiReader(bytes.NewReader(rec.buf.Bytes()), rec.r), nil
	}
	return nil, errors.New("input is not seekable and cannot be read a third time")
}
func (s *replaySource) canRewind() bool { return false }
func (s *replaySource) Close() error    { return nil }

// stopRecording tells a replaySource that the first pass is the only one.
func stopRecording(src rawSource) {
	if rs, ok := src.(*replaySource); ok && rs.rec != nil {
		rs.rec.over = true
		rs.rec.buf = bytes.Buffer{}
	}
}

// input is one pass over the decoded text of a source: UTF-8, byte-order
// mark skipped.
type input struct {
	name string
	br   *bufio.Reader
	// base is the byte offset in the file where br starts (a skipped BOM);
	// base < 0 means offsets are not file offsets (transcoded input).
	base int64
	// lim guards line length for readers that cannot (encoding/csv).
	lim *lineLimitReader
}

// offset converts an offset into the decoded stream to a file offset, or -1.
func (in *input) offset(n int64) int64 {
	if in.base < 0 {
		return -1
	}
	return in.base + n
}

func lookupEncoding(name string) (encoding.Encoding, bool, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "utf-8", "utf8":
		return nil, false, nil
	case "windows-1252", "cp1252", "windows1252":
		return charmap.Windows1252, true, nil
	case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
		return charmap.ISO8859_1, true, nil
	case "utf-16", "utf16":
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), true, nil
	case "utf-16le", "utf16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), true, nil
	case "utf-16be", "utf16be":
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), true, nil
	}
	return nil, false, fmt.Errorf("unknown encoding %q: valid encodings are utf-8, windows-1252, latin1, utf-16, utf-16le, utf-16be", name)
}

// openInput starts a pass over src: decodes the encoding, skips the BOM,
// refuses empty and binary inputs.
func openInput(src rawSource, name string, opts Options) (*input, error) {
	raw, err := src.open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	enc, _, err := lookupEncoding(opts.Encoding)
	if err != nil {
		return nil, err
	}
	rb := bufio.NewReaderSize(raw, bufSize)
	base := int64(0)
	head, _ := rb.Peek(3)
	if enc == nil && len(head) >= 2 && (head[0] == 0xFF && head[1] == 0xFE || head[0] == 0xFE && head[1] == 0xFF) {
		// A UTF-16 byte-order mark decides the encoding by itself.
		enc = unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	}
	var text io.Reader = rb
	if enc != nil {
		text = transform.NewReader(rb, enc.NewDecoder())
		base = -1
	}
	// The line limit sits below the buffer every reader reads from; once
	// rb's peeked bytes are drained, reads pass through without a copy.
	lim := &lineLimitReader{r: text}
	br := bufio.NewReaderSize(lim, bufSize)
	head, _ = br.Peek(3)
	if bytes.HasPrefix(head, []byte("\xef\xbb\xbf")) {
		if _, err := br.Discard(3); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if base >= 0 {
			base = 3
		}
	}
	if _, err := br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", name, ErrEmptyInput)
		}
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	probe, _ := br.Peek(512)
	if bytes.IndexByte(probe, 0) >= 0 {
		return nil, fmt.Errorf("%s:1: input holds NUL bytes: binary data, or UTF-16 without a byte-order mark (set the encoding)", name)
	}
	return &input{name: name, br: br, base: base, lim: lim}, nil
}

func newReader(src rawSource, name, format string, opts Options) (Reader, error) {
	in, err := openInput(src, name, opts)
	if err != nil {
		return nil, err
	}
	if format == FormatAuto {
		head, _ := in.br.Peek(8 << 10)
		if len(head) >= 4 && string(head[:4]) == "PK\x03\x04" {
			return nil, fmt.Errorf("%s: input is a zip archive: open it by path (a WhatsApp export .zip)", name)
		}
		var why string
		format, why = sniff(head, name)
		logger(opts).Info("source format detected", "file", name, "format", format, "by", why)
	}
	switch format {
	case FormatCSV:
		return newCSVReader(in, src, opts)
	case FormatJSONL:
		return newJSONLReader(in, src)
	case FormatWhatsApp:
		return newWhatsAppReader(in, src, name, opts)
	case FormatLinkedIn:
		return newLinkedInReader(in, src, opts)
	case FormatSMSXML:
		return newSMSReader(in, src, opts)
	case FormatTwilio:
		return newTwilioReader(in, src, opts)
	}
	return nil, fmt.Errorf("unknown source format %q: valid formats are %s", format, strings.Join(Formats(), ", "))
}

// sniff names the format of an input from its first bytes and its name,
// and says why.
func sniff(head []byte, name string) (format, why string) {
	ext := strings.ToLower(filepath.Ext(name))
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case bytes.HasPrefix(trimmed, []byte("<?xml")), bytes.HasPrefix(trimmed, []byte("<smses")), bytes.HasPrefix(trimmed, []byte("<!--")):
		return FormatSMSXML, "XML prolog"
	case bytes.HasPrefix(trimmed, []byte("{")):
		return FormatJSONL, "line starts with {"
	}
	first := head
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	if _, ok := parseWAHeader(normaliseDigits(stripBidiBytes(bytes.TrimRight(first, "\r")))); ok {
		return FormatWhatsApp, "WhatsApp timestamp header"
	}
	lower := strings.ToLower(string(first))
	if strings.Contains(lower, "conversation id") && strings.Contains(lower, "sender profile url") {
		return FormatLinkedIn, "LinkedIn messages.csv header"
	}
	if strings.Contains(lower, "sid") && strings.Contains(lower, "direction") && strings.Contains(lower, "body") && strings.Contains(lower, "from") {
		return FormatTwilio, "Twilio message log header"
	}
	switch ext {
	case ".jsonl", ".ndjson":
		return FormatJSONL, "file name"
	case ".xml":
		return FormatSMSXML, "file name"
	}
	return FormatCSV, "default (header row)"
}

func looksLikeZip(path string) (bool, error) {
	if strings.EqualFold(filepath.Ext(path), ".zip") {
		return true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("open source: %w", err)
	}
	defer f.Close()
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	return n == 4 && string(magic[:]) == "PK\x03\x04", nil
}

// zipSource reads one entry of a zip archive, reopening it for each pass.
type zipSource struct {
	zr *zip.ReadCloser
	f  *zip.File
	rc io.ReadCloser
}

func (s *zipSource) open() (io.Reader, error) {
	if s.rc != nil {
		s.rc.Close()
	}
	rc, err := s.f.Open()
	if err != nil {
		return nil, fmt.Errorf("open %s in archive: %w", s.f.Name, err)
	}
	s.rc = rc
	return rc, nil
}
func (s *zipSource) canRewind() bool { return true }
func (s *zipSource) Close() error {
	if s.zr == nil {
		return nil
	}
	if s.rc != nil {
		s.rc.Close()
	}
	err := s.zr.Close()
	s.zr = nil
	return err
}

// openZip reads the chat inside an archive: WhatsApp's export, or with
// auto also LinkedIn's data export (messages.csv).
func openZip(path, format string, opts Options) (Reader, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable zip archive: %w", path, err)
	}
	if format == FormatAuto {
		for _, f := range zr.File {
			if filepath.Base(f.Name) == "messages.csv" {
				logger(opts).Info("source format detected", "file", path, "format", FormatLinkedIn, "by", "messages.csv in a zip archive")
				src := &zipSource{zr: zr, f: f}
				rd, err := newReader(src, path, FormatLinkedIn, opts)
				if err != nil {
					src.Close()
					return nil, err
				}
				return rd, nil
			}
		}
		logger(opts).Info("source format detected", "file", path, "format", FormatWhatsApp, "by", "zip archive")
	}
	f := pickChatEntry(zr.File)
	if f == nil {
		zr.Close()
		return nil, fmt.Errorf("%s: no chat text in the archive (expected _chat.txt or a WhatsApp *.txt)", path)
	}
	src := &zipSource{zr: zr, f: f}
	in, err := openInput(src, path, opts)
	if err != nil {
		src.Close()
		return nil, err
	}
	rd, err := newWhatsAppReader(in, src, path, opts)
	if err != nil {
		src.Close()
		return nil, err
	}
	return rd, nil
}

// pickChatEntry finds the chat text in a WhatsApp archive: _chat.txt, else
// the shortest *.txt whose name mentions chat or whatsapp, else the only *.txt.
func pickChatEntry(files []*zip.File) *zip.File {
	var txt, named []*zip.File
	for _, f := range files {
		base := filepath.Base(f.Name)
		if base == "_chat.txt" {
			return f
		}
		if !strings.EqualFold(filepath.Ext(base), ".txt") || f.FileInfo().IsDir() {
			continue
		}
		txt = append(txt, f)
		l := strings.ToLower(base)
		if strings.Contains(l, "chat") || strings.Contains(l, "whatsapp") {
			named = append(named, f)
		}
	}
	if len(named) > 0 {
		sort.SliceStable(named, func(i, j int) bool { return len(named[i].Name) < len(named[j].Name) })
		return named[0]
	}
	if len(txt) == 1 {
		return txt[0]
	}
	return nil
}
