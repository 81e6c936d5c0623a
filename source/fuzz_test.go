package source

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds adds every fixture of the format and the bad-input corpus.
func fuzzSeeds(f *testing.F, dirs ...string) {
	for _, dir := range append(dirs, "bad") {
		ents, err := os.ReadDir(filepath.Join(fixtureDir, dir))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range ents {
			f.Add(readFixture(f, dir+"/"+e.Name()))
		}
	}
}

// fuzzRead reads data as format through the stream and the seekable path
// and checks the invariants every reader keeps on any input: no panic, an
// end, increasing positions, row errors that carry a position.
func fuzzRead(t *testing.T, data []byte, format, name string) {
	for _, seekable := range []bool{true, false} {
		var r interface{ Read([]byte) (int, error) } = bytes.NewReader(data)
		if !seekable {
			r = &countingReader{r: bytes.NewReader(data)}
		}
		opts := Options{Format: format, Me: []string{"Ana", "+12025550143", "https://www.linkedin.com/in/ana"}}
		if !seekable {
			opts.DateOrder = "DMY"
		}
		rd, err := NewReader(r, name, opts)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			continue
		}
		var recs []*Record
		for n := 0; ; n++ {
			if n > len(data)+10 {
				t.Fatalf("%d records from %d bytes: the reader does not end", n, len(data))
			}
			rec, err := rd.Next()
			if err != nil {
				break
			}
			if rec.Err != nil {
				if re, ok := rec.Err.(*RowError); ok && re.Line <= 0 {
					t.Fatalf("row error without a line: %v", rec.Err)
				}
			}
			recs = append(recs, rec)
		}
		checkPositions(t, recs)
		if err := rd.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzCSV(f *testing.F) {
	fuzzSeeds(f, "csv")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatCSV, "f.csv") })
}

func FuzzJSONL(f *testing.F) {
	fuzzSeeds(f, "jsonl")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatJSONL, "f.jsonl") })
}

func FuzzWhatsApp(f *testing.F) {
	fuzzSeeds(f, "whatsapp")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatWhatsApp, "WhatsApp Chat with F.txt") })
}

func FuzzLinkedIn(f *testing.F) {
	fuzzSeeds(f, "linkedin")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatLinkedIn, "messages.csv") })
}

func FuzzSMSXML(f *testing.F) {
	fuzzSeeds(f, "sms-xml")
	f.Add([]byte("<smses><sms body=\"&#55357;&#56397;&#55357;\" date=\"1\" type=\"1\"/></smses>"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatSMSXML, "sms.xml") })
}

func FuzzTwilio(f *testing.F) {
	fuzzSeeds(f, "twilio")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatTwilio, "twilio.csv") })
}

func FuzzAuto(f *testing.F) {
	fuzzSeeds(f, "csv", "jsonl", "whatsapp", "linkedin", "sms-xml", "twilio")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatAuto, "input") })
}

// TestDecodeXMLValue covers entities, surrogate pairs written as two
// references (joined; a lone half becomes U+FFFD as encoding/xml does) and
// the errors for bad references.
func TestDecodeXMLValue(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"plain", "plain", ""},
		{"a&amp;b &lt;&gt; &quot;q&quot; &apos;", "a&b <> \"q\" '", ""},
		{"Great &#55357;&#56397;", "Great 👍", ""},
		{"hex &#xD83D;&#xDC4D;!", "hex 👍!", ""},
		{"line&#10;two", "line\ntwo", ""},
		{"lone &#55357; high", "lone \ufffd high", ""},
		{"lone &#56397; low", "lone \ufffd low", ""},
		{"&#128077;", "👍", ""},
		{"nul &#0;", "", "illegal character code U+0000"},
		{"&bogus;", "", "invalid character entity &bogus;"},
		{"&#xZZ;", "", "invalid character entity"},
		{"a & b", "", "invalid character entity"},
		{"bad \xff utf8", "", "invalid UTF-8"},
		{"ctl \x01", "", "illegal character code U+0001"},
	}
	for _, tt := range tests {
		got, err := decodeXMLValue([]byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestSMSLongValues reads kept and skipped attribute values much longer than
// the read buffer.
func TestSMSLongValues(t *testing.T) {
	long := strings.Repeat("abc ", 3*bufSize/4)
	data := "<smses>\n<mms date=\"1709280000000\" msg_box=\"1\" address=\"+12025550143\"><parts>" +
		"<part seq=\"0\" ct=\"image/jpeg\" name=\"a.jpg\" data=\"" + long + "\"/>" +
		"<part seq=\"1\" ct=\"text/plain\" text=\"" + long + "&#55357;&#56397;\"/></parts></mms>\n" +
		"<sms address=\"1\" date=\"1709280000000\" type=\"1\" body=\"after\"/></smses>"
	rd, err := NewReader(strings.NewReader(data), "long.xml", Options{Format: FormatSMSXML})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := drain(t, rd)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	if text, _ := recs[0].Get(FieldText); text != long+"👍" {
		t.Errorf("text has %d bytes, want %d", len(text), len(long)+4)
	}
	if att, _ := recs[0].Get(FieldAttachments); att != "a.jpg" {
		t.Errorf("attachments %q", att)
	}
	if recs[1].Line != 3 {
		t.Errorf("second record at line %d, want 3", recs[1].Line)
	}
}
