package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// countingReader counts the bytes its consumer has read so far, and hides
// any Seek method so readers see a plain stream.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// conformanceCase makes an input of roughly size bytes in one format.
type conformanceCase struct {
	format string
	name   string
	opts   Options
	gen    func(size int) []byte
	// lookahead is how far a reader may read ahead of the first record.
	lookahead int64
}

func repeatTo(size int, header string, row func(i int) string) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	for i := 0; b.Len() < size; i++ {
		b.WriteString(row(i))
	}
	return b.Bytes()
}

func conformanceCases() []conformanceCase {
	const stream = 4 * bufSize
	return []conformanceCase{
		{FormatCSV, "chats.csv", Options{}, func(size int) []byte {
			return repeatTo(size, "conversation_id,sender,text\n", func(i int) string {
				return fmt.Sprintf("c%d,Dana,\"hello, %d\nsecond line\"\n", i%7, i)
			})
		}, stream},
		{FormatJSONL, "chats.jsonl", Options{}, func(size int) []byte {
			return repeatTo(size, "", func(i int) string {
				return fmt.Sprintf("{\"id\":%d,\"from\":{\"name\":\"Dana\"},\"text\":\"hi\"}\n", i)
			})
		}, stream},
		{FormatWhatsApp, "WhatsApp Chat with Dana.txt", Options{Me: []string{"Anna"}}, func(size int) []byte {
			return repeatTo(size, "", func(i int) string {
				return fmt.Sprintf("%d/%d/24, 9:%02d\u202fPM - Dana: message %d\nwith a second line\n", 13+i%15, 1+i%12, i%60, i)
			})
		}, prescanMin + stream},
		{FormatLinkedIn, "messages.csv", Options{Me: []string{"https://www.linkedin.com/in/anna"}}, func(size int) []byte {
			return repeatTo(size, "CONVERSATION ID,CONVERSATION TITLE,FROM,SENDER PROFILE URL,TO,RECIPIENT PROFILE URLS,DATE,SUBJECT,CONTENT,FOLDER\n", func(i int) string {
				return fmt.Sprintf("2-c%d,,Ravi,https://www.linkedin.com/in/ravi,Anna,https://www.linkedin.com/in/anna,2024-03-05 14:02:09 UTC,,\"hi %d\",INBOX\n", i%5, i)
			})
		}, stream},
		{FormatSMSXML, "sms.xml", Options{}, func(size int) []byte {
			b := repeatTo(size, "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"0\">\n", func(i int) string {
				if i%10 == 9 {
					return "  <mms date=\"1709287200000\" msg_box=\"2\" address=\"+12025550143\"><parts><part seq=\"0\" ct=\"text/plain\" text=\"mms &#55357;&#56397;\"/></parts><addrs><addr address=\"+12025550143\" type=\"151\"/></addrs></mms>\n"
				}
				return fmt.Sprintf("  <sms address=\"+12025550143\" date=\"%d\" type=\"%d\" body=\"hello &#55357;&#56397; %d\" contact_name=\"Dana\" />\n", 1709280000000+int64(i), 1+i%2, i)
			})
			return append(b, "</smses>\n"...)
		}, stream},
		{FormatTwilio, "twilio.csv", Options{}, func(size int) []byte {
			return repeatTo(size, "From,To,Body,Status,SentDate,Sid,Direction\n", func(i int) string {
				return fmt.Sprintf("+12025550143,+15005550006,\"hi %d\",received,2024-03-01T09:00:00-05:00,SM%d,inbound\n", i, i)
			})
		}, stream},
	}
}

// checkPositions asserts that positions increase: lines never go back
// (two XML elements may share one), and known offsets always move on;
// without an offset the line itself must move on.
func checkPositions(t testing.TB, recs []*Record) {
	t.Helper()
	lastLine, lastOff := 0, int64(-1)
	for _, r := range recs {
		if r.Line < lastLine || r.Line < 1 {
			t.Fatalf("%s: line %d goes back (previous %d)", r.Pos(), r.Line, lastLine)
		}
		if r.Offset >= 0 {
			if r.Offset <= lastOff {
				t.Fatalf("%s: offset %d does not increase (previous %d)", r.Pos(), r.Offset, lastOff)
			}
			lastOff = r.Offset
		} else if r.Line == lastLine {
			t.Fatalf("%s: line %d does not increase and there is no offset", r.Pos(), r.Line)
		}
		lastLine = r.Line
		if len(r.Values) > 0 && len(r.Names) == 0 {
			t.Fatalf("%s: values without names", r.Pos())
		}
	}
}

// TestConformance is what every reader must do: stream (read little ahead of
// the record it returns and the whole input by the end), number positions
// in increasing order, keep Values apart between records, and close twice.
func TestConformance(t *testing.T) {
	for _, tc := range conformanceCases() {
		t.Run(tc.format, func(t *testing.T) {
			data := tc.gen(3 << 20)
			cr := &countingReader{r: bytes.NewReader(data)}
			opts := tc.opts
			opts.Format = tc.format
			rd, err := NewReader(cr, tc.name, opts)
			if err != nil {
				t.Fatal(err)
			}
			first, err := rd.Next()
			if err != nil {
				t.Fatal(err)
			}
			if cr.n > tc.lookahead {
				t.Errorf("read %d bytes before the first record, want at most %d: the reader does not stream", cr.n, tc.lookahead)
			}
			firstVals := append([]string(nil), first.Values...)
			recs := []*Record{first}
			for {
				rec, err := rd.Next()
				if IsEOF(err) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if rec.Err != nil {
					t.Fatalf("%s: unexpected row error %v", rec.Pos(), rec.Err)
				}
				recs = append(recs, rec)
			}
			if cr.n != int64(len(data)) {
				t.Errorf("read %d of %d bytes", cr.n, len(data))
			}
			checkPositions(t, recs)
			if got := first.Values; strings.Join(got, "\x00") != strings.Join(firstVals, "\x00") {
				t.Errorf("first record's Values changed while reading on")
			}
			if len(recs) < 1000 {
				t.Errorf("only %d records", len(recs))
			}
			if rd.Format() != tc.format {
				t.Errorf("Format() = %q, want %q", rd.Format(), tc.format)
			}
			if err := rd.Close(); err != nil {
				t.Error(err)
			}
			if err := rd.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := rd.Next(); err == nil {
				t.Log("Next after EOF returned a record")
			}
		})
	}
}

// TestConformanceFromFile reads each conformance input through Open (the
// seekable path) and expects the same records as the stream.
func TestConformanceFromFile(t *testing.T) {
	for _, tc := range conformanceCases() {
		t.Run(tc.format, func(t *testing.T) {
			data := tc.gen(64 << 10)
			path := filepath.Join(t.TempDir(), tc.name)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			opts := tc.opts
			opts.Format = FormatAuto
			rd, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			if rd.Format() != tc.format {
				t.Fatalf("auto chose %s, want %s", rd.Format(), tc.format)
			}
			fromFile, err := drain(t, rd)
			if err != nil {
				t.Fatal(err)
			}
			opts.Format = tc.format
			rd2, err := NewReader(&countingReader{r: bytes.NewReader(data)}, path, opts)
			if err != nil {
				t.Fatal(err)
			}
			fromStream, err := drain(t, rd2)
			if err != nil {
				t.Fatal(err)
			}
			if len(fromFile) != len(fromStream) {
				t.Fatalf("file gave %d records, stream %d", len(fromFile), len(fromStream))
			}
			for i := range fromFile {
				if strings.Join(fromFile[i].Values, "\x00") != strings.Join(fromStream[i].Values, "\x00") || fromFile[i].Line != fromStream[i].Line {
					t.Fatalf("record %d differs: %v vs %v", i, fromFile[i].Values, fromStream[i].Values)
				}
			}
		})
	}
}

// outcome is what a reader made of a bad input: the error Open returned, or
// the fatal error of Next, or the first row error.
func outcome(t *testing.T, path string, opts Options) (string, int) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic: %v", p)
		}
	}()
	rd, err := Open(path, opts)
	if err != nil {
		return err.Error(), 0
	}
	defer rd.Close()
	n := 0
	var rowErr string
	for {
		rec, err := rd.Next()
		if err != nil {
			if IsEOF(err) {
				return rowErr, n
			}
			return err.Error(), n
		}
		n++
		if rec.Err != nil && rowErr == "" {
			rowErr = rec.Err.Error()
		}
	}
}

// TestBadInput feeds the bad-input corpus to the readers: every one ends in a
// clear error that names the file (and line where there is one), never a panic.
func TestBadInput(t *testing.T) {
	tests := []struct {
		file, format string
		opts         Options
		want         []string
	}{
		{"empty.csv", "csv", Options{}, []string{"empty.csv", "input is empty"}},
		{"empty.csv", "auto", Options{}, []string{"input is empty"}},
		{"empty.csv", "whatsapp", Options{}, []string{"input is empty"}},
		{"empty.csv", "sms-xml", Options{}, []string{"input is empty"}},
		{"empty.csv", "jsonl", Options{}, []string{"input is empty"}},
		{"bom-only.csv", "csv", Options{}, []string{"bom-only.csv", "input is empty"}},
		{"bom-only.csv", "linkedin", Options{}, []string{"input is empty"}},
		{"invalid-utf8.csv", "csv", Options{}, []string{"invalid-utf8.csv:3", "not valid UTF-8", "encoding"}},
		{"invalid-utf8.jsonl", "jsonl", Options{}, []string{"invalid-utf8.jsonl:2", "not valid UTF-8"}},
		{"invalid-utf8-whatsapp.txt", "whatsapp", Options{}, []string{"invalid-utf8-whatsapp.txt:2", "not valid UTF-8"}},
		{"truncated.xml", "sms-xml", Options{}, []string{"truncated.xml:", "unexpected EOF"}},
		{"nul-entity.xml", "sms-xml", Options{}, []string{"nul-entity.xml:3", "illegal character code U+0000"}},
		{"not-sms.xml", "sms-xml", Options{}, []string{"not-sms.xml:2", "not an SMS Backup & Restore file"}},
		{"not-sms.xml", "auto", Options{}, []string{"not-sms.xml:2", "not an SMS Backup & Restore file"}},
		{"binary.bin", "auto", Options{}, []string{"binary.bin"}},
		{"binary.bin", "whatsapp", Options{}, []string{"binary.bin"}},
		{"binary.bin", "sms-xml", Options{}, []string{"binary.bin"}},
		{"binary.bin", "csv", Options{}, []string{"binary.bin"}},
		{"WhatsApp Chat unknown locale.txt", "whatsapp", Options{}, []string{"no WhatsApp message header found", "unknown locale"}},
		{"whatsapp-ambiguous.txt", "whatsapp", Options{}, []string{"whatsapp-ambiguous.txt", "set source.date_order"}},
		{"whatsapp-ambiguous.txt", "auto", Options{}, []string{"set source.date_order"}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.format, func(t *testing.T) {
			tt.opts.Format = tt.format
			msg, _ := outcome(t, filepath.Join(fixtureDir, "bad", tt.file), tt.opts)
			if msg == "" {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
	t.Run("ambiguous whatsapp with date_order", func(t *testing.T) {
		msg, n := outcome(t, filepath.Join(fixtureDir, "bad", "whatsapp-ambiguous.txt"), Options{Format: "whatsapp", DateOrder: "dmy"})
		if msg != "" || n != 2 {
			t.Errorf("got %q after %d records, want 2 clean records", msg, n)
		}
	})
	t.Run("ambiguous whatsapp stream", func(t *testing.T) {
		_, err := NewReader(&countingReader{r: bytes.NewReader(readFixture(t, "bad/whatsapp-ambiguous.txt"))}, "x.txt", Options{Format: "whatsapp"})
		if !errors.Is(err, ErrDateOrderUnknown) {
			t.Errorf("got %v, want ErrDateOrderUnknown", err)
		}
	})
}

// TestHugeLine puts a 10 MB line into each format: a clear error (row
// error or end of input with file:line), never a panic or a 10 MB record.
func TestHugeLine(t *testing.T) {
	huge := bytes.Repeat([]byte("x"), 10<<20)
	inputs := map[string][]byte{
		FormatCSV:      append(append([]byte("a,b\n1,2\n"), huge...), "\n3,4\n"...),
		FormatTwilio:   append(append([]byte("From,To,Body,SentDate,Direction\n+1555,+1666,hi,2024-03-01T09:00:00Z,inbound\n"), huge...), '\n'),
		FormatJSONL:    append(append([]byte("{\"a\":1}\n"), huge...), "\n{\"a\":2}\n"...),
		FormatWhatsApp: append(append([]byte("13/1/24, 10:00 - Ana: hi\n"), huge...), "\n13/1/24, 10:01 - Ben: ok\n"...),
		FormatSMSXML:   append(append([]byte("<smses><sms address=\"1\" date=\"1709280000000\" type=\"1\" body=\""), huge...), "\"/></smses>"...),
	}
	for format, data := range inputs {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "huge."+format)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			msg, n := outcome(t, path, Options{Format: format})
			switch format {
			case FormatSMSXML:
				// One attribute of 10 MB is valid XML; what matters is no panic.
				if msg != "" || n != 1 {
					t.Errorf("got %q after %d records", msg, n)
				}
			default:
				if !strings.Contains(msg, "MiB") || !strings.Contains(msg, "huge."+format+":") {
					t.Errorf("got %q, want a too-long error with file:line", msg)
				}
			}
		})
	}
}
