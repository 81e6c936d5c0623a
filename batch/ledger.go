package batch

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gocarina/gocsv"
)

// Ledger states. A row's current state is the state of its last event.
const (
	StateSent       = "sent"       // written before the batch goes out; the outcome is not known yet
	StateCreated    = "created"    // HubSpot holds the record (hubspot_id)
	StateUpdated    = "updated"    // an update, archive, association or pin was applied
	StateArchived   = "archived"   // the record was archived (deleted) by commlog
	StateFailed     = "failed"     // HubSpot refused the row; --retry-failed sends it again
	StateInvalid    = "invalid"    // the row could not be read or mapped
	StateUnresolved = "unresolved" // an association target matched no record, or several
	StateSkipped    = "skipped"    // skipped on purpose (skip rule, duplicate key)
	StateInDoubt    = "in_doubt"   // sent, answer lost: reconciled on the next run
)

// Operations recorded in the ledger.
const (
	OpCreate    = "create"
	OpReconcile = "reconcile"
	OpUpdate    = "update"
	OpArchive   = "archive"
	OpRestore   = "restore"
	OpAssociate = "associate"
	OpPin       = "pin"
	OpPlan      = "plan"
)

// LedgerRow is one event of the result ledger. The ledger is a CSV file,
// append-only, one event a line, so that it opens in a spreadsheet and a
// crash can tear at most its last line.
type LedgerRow struct {
	Time       string `csv:"time"`
	RunID      string `csv:"run_id"`
	SourceFile string `csv:"source_file"`
	SourceLine int    `csv:"source_line"`
	Key        string `csv:"key"`
	Operation  string `csv:"operation"`
	State      string `csv:"state"`
	HubSpotID  string `csv:"hubspot_id"`
	HTTPStatus int    `csv:"http_status"`
	Category   string `csv:"error_category"`
	Message    string `csv:"error_message"`
	Attempt    int    `csv:"attempt"`
	Batch      int    `csv:"batch"`
	// BodySHA256 is the first 16 hex characters of the SHA-256 of the
	// body a create sent, so verify can tell a record changed since.
	// Ledgers written before this column existed read with it empty.
	BodySHA256 string `csv:"body_sha256"`
}

// legacyLedgerHeader is the header of ledgers written before the
// body_sha256 column; they are still read, and appended to.
const legacyLedgerHeader = "time,run_id,source_file,source_line,key,operation,state,hubspot_id,http_status,error_category,error_message,attempt,batch"

// BodyHash is what the ledger's body_sha256 column holds for a body.
func BodyHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:8])
}

// ledgerHeader is the first line of every ledger; gocsv derives it from the tags.
var ledgerHeader = func() string {
	s, err := gocsv.MarshalString([]LedgerRow{})
	if err != nil {
		panic(err) // static struct tags: cannot fail
	}
	return strings.TrimRight(s, "\n")
}()

// Ledger appends events to a ledger file. It is safe for concurrent use.
// Commit makes everything appended before it durable; concurrent commits
// share one fsync (group commit), so many workers cost few syncs.
type Ledger struct {
	path string
	now  func() time.Time

	mu       sync.Mutex // guards f, buf, appended
	f        *os.File
	buf      *bufio.Writer
	appended uint64 // Append calls so far
	werr     error  // a failed write poisons the ledger

	syncMu sync.Mutex // one flush+fsync at a time
	synced uint64     // appended count covered by the last fsync; guarded by syncMu
}

// OpenLedger opens (or creates) the ledger at path for appending. A torn
// last line left by a crash mid-write is cut off; its text is returned so
// the caller can report it.
func OpenLedger(path string, now func() time.Time) (*Ledger, string, error) {
	if now == nil {
		now = time.Now
	}
	torn, err := repairTornTail(path)
	if err != nil {
		return nil, "", err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("ledger: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("ledger: %w", err)
	}
	l := &Ledger{path: path, f: f, buf: bufio.NewWriterSize(f, 256<<10), now: now}
	if st.Size() == 0 {
		l.buf.WriteString(ledgerHeader + "\n")
		l.appended++
		if err := l.Commit(); err != nil {
			f.Close()
			return nil, "", err
		}
	}
	return l, torn, nil
}

// Path is the ledger's file name.
func (l *Ledger) Path() string { return l.path }

// Append buffers events; Commit makes them durable. Missing times are
// filled in. Messages are kept on one line so every event is one line.
func (l *Ledger) Append(rows ...LedgerRow) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.werr != nil {
		return l.werr
	}
	if l.f == nil {
		return fmt.Errorf("ledger %s: closed", l.path)
	}
	ts := ""
	line := make([]byte, 0, 256)
	for i := range rows {
		r := &rows[i]
		if r.Time == "" {
			if ts == "" {
				ts = l.now().UTC().Format(time.RFC3339Nano)
			}
			r.Time = ts
		}
		r.Message = oneLine(r.Message)
		r.SourceFile = oneLine(r.SourceFile)
		line = appendLedgerRow(line[:0], r)
		if _, err := l.buf.Write(line); err != nil {
			l.werr = fmt.Errorf("ledger %s: %w", l.path, err)
			return l.werr
		}
	}
	l.appended++
	return nil
}

// appendLedgerRow encodes one event as a CSV line, exactly as gocsv and
// encoding/csv would (TestLedgerEncodingMatchesGocsv holds it to that):
// resume and import write two events a row, and reflection per event was
// the pipeline's largest cost.
func appendLedgerRow(b []byte, r *LedgerRow) []byte {
	b = appendCSVField(b, r.Time)
	b = append(b, ',')
	b = appendCSVField(b, r.RunID)
	b = append(b, ',')
	b = appendCSVField(b, r.SourceFile)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.SourceLine), 10)
	b = append(b, ',')
	b = appendCSVField(b, r.Key)
	b = append(b, ',')
	b = appendCSVField(b, r.Operation)
	b = append(b, ',')
	b = appendCSVField(b, r.State)
	b = append(b, ',')
	b = appendCSVField(b, r.HubSpotID)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.HTTPStatus), 10)
	b = append(b, ',')
	b = appendCSVField(b, r.Category)
	b = append(b, ',')
	b = appendCSVField(b, r.Message)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.Attempt), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.Batch), 10)
	b = append(b, ',')
	b = appendCSVField(b, r.BodySHA256)
	return append(b, '\n')
}

// appendCSVField quotes a field when encoding/csv's Writer would.
func appendCSVField(b []byte, s string) []byte {
	if !csvNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// csvNeedsQuotes mirrors encoding/csv.(*Writer).fieldNeedsQuotes.
func csvNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// Commit makes every event appended before the call durable: it flushes
// the buffer and fsyncs, unless a concurrent commit already covered them.
func (l *Ledger) Commit() error {
	l.mu.Lock()
	target := l.appended
	l.mu.Unlock()

	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced >= target {
		return nil // another goroutine's fsync covered our events
	}
	l.mu.Lock()
	if l.werr != nil {
		l.mu.Unlock()
		return l.werr
	}
	if l.f == nil {
		l.mu.Unlock()
		return fmt.Errorf("ledger %s: closed", l.path)
	}
	covered := l.appended
	err := l.buf.Flush()
	f := l.f
	if err != nil {
		l.werr = fmt.Errorf("ledger %s: %w", l.path, err)
		err = l.werr
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	// The fsync runs without mu, so other workers keep appending.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("ledger %s: fsync: %w", l.path, err)
	}
	l.synced = covered
	return nil
}

// Close commits and closes the file.
func (l *Ledger) Close() error {
	l.mu.Lock()
	closed := l.f == nil
	l.mu.Unlock()
	if closed {
		return nil
	}
	err := l.Commit()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return err
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

// repairTornTail cuts a last line that has no newline: the remains of a
// write the process did not finish. It returns the text that was cut.
func repairTornTail(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return "", nil
	}
	// Look back at most 64 KiB for the last newline: events are short.
	const window = 64 << 10
	start := max(size-window, 0)
	tail := make([]byte, size-start)
	if _, err := f.ReadAt(tail, start); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("ledger %s: %w", path, err)
	}
	if tail[len(tail)-1] == '\n' {
		return "", nil
	}
	cut := bytes.LastIndexByte(tail, '\n') + 1 // 0 when the whole tail is one torn line
	if cut == 0 && start > 0 {
		return "", fmt.Errorf("ledger %s: last line longer than %d bytes: not a ledger", path, window)
	}
	if err := f.Truncate(start + int64(cut)); err != nil {
		return "", fmt.Errorf("ledger %s: cutting torn line: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("ledger %s: %w", path, err)
	}
	return string(tail[cut:]), nil
}

// ReadLedger streams the events of a ledger in order. A torn last line is
// ignored (OpenLedger cuts it); a file that is not a ledger is an error
// naming the line.
func ReadLedger(path string, fn func(LedgerRow) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	head, err := br.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && head == "") {
		if errors.Is(err, io.EOF) {
			return nil // only a torn header: an empty ledger
		}
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	if head == "" {
		return nil
	}
	if h := strings.TrimRight(head, "\r\n"); h != ledgerHeader && h != legacyLedgerHeader {
		return fmt.Errorf("ledger %s:1: header %q is not a commlog ledger header", path, strings.TrimSpace(head))
	}
	r := csv.NewReader(&tornTailReader{r: br})
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	fields := strings.Split(ledgerHeader, ",")
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("ledger %s:%d: %w", path, line, err)
		}
		// A legacy ledger appended to by this version holds rows of both widths.
		if len(rec) != len(fields) && len(rec) != len(fields)-1 {
			return fmt.Errorf("ledger %s:%d: %d fields, want %d", path, line, len(rec), len(fields))
		}
		row, err := decodeLedgerRow(rec)
		if err != nil {
			return fmt.Errorf("ledger %s:%d: %w", path, line, err)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// decodeLedgerRow turns one CSV record into a LedgerRow. It is written out
// rather than done through gocsv's reflection because resume reads ledgers
// of millions of events on the start-up path.
func decodeLedgerRow(rec []string) (LedgerRow, error) {
	var r LedgerRow
	var err error
	r.Time, r.RunID, r.SourceFile = rec[0], rec[1], rec[2]
	if r.SourceLine, err = atoiEmpty(rec[3]); err != nil {
		return r, fmt.Errorf("source_line: %w", err)
	}
	r.Key, r.Operation, r.State, r.HubSpotID = rec[4], rec[5], rec[6], rec[7]
	if r.HTTPStatus, err = atoiEmpty(rec[8]); err != nil {
		return r, fmt.Errorf("http_status: %w", err)
	}
	r.Category, r.Message = rec[9], rec[10]
	if r.Attempt, err = atoiEmpty(rec[11]); err != nil {
		return r, fmt.Errorf("attempt: %w", err)
	}
	if r.Batch, err = atoiEmpty(rec[12]); err != nil {
		return r, fmt.Errorf("batch: %w", err)
	}
	if len(rec) > 13 {
		r.BodySHA256 = rec[13]
	}
	return r, nil
}

func atoiEmpty(s string) (int, error) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || i > 10 {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// tornTailReader hides a last line without a newline from the CSV reader.
type tornTailReader struct {
	r       *bufio.Reader
	pending []byte
	long    []byte // our own copy of a line longer than r's buffer
}

func (t *tornTailReader) Read(p []byte) (int, error) {
	for len(t.pending) == 0 {
		line, err := t.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			t.long = append(t.long[:0], line...)
			more, err := t.r.ReadBytes('\n')
			if err != nil {
				return 0, io.EOF // torn
			}
			t.pending = append(t.long, more...)
			break
		}
		if err != nil {
			return 0, io.EOF // EOF, with or without a torn fragment
		}
		t.pending = line
	}
	n := copy(p, t.pending)
	t.pending = t.pending[n:]
	return n, nil
}
