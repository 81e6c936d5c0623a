package source

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
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

// TestSurrogateFixerSplits feeds surrogate pairs cut at every byte boundary
// and expects the same decoded text as in one piece.
func TestSurrogateFixerSplits(t *testing.T) {
	in := []byte("a&#55357;&#56397;b&#xD83D;&#xDC4D;c&#55357;d&#56397;e&#128077;")
	want := "a&#0000000128077;b&#0000000128077;c&#55357;d&#56397;e&#128077;"
	for cut := 0; cut <= len(in); cut++ {
		r := newSurrogateFixer(&splitReader{parts: [][]byte{in[:cut], in[cut:]}})
		var out bytes.Buffer
		if _, err := out.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		if out.String() != want || out.Len() != len(in) {
			t.Fatalf("cut %d: got %q, want %q", cut, out.String(), want)
		}
	}
}

type splitReader struct{ parts [][]byte }

func (s *splitReader) Read(p []byte) (int, error) {
	for len(s.parts) > 0 && len(s.parts[0]) == 0 {
		s.parts = s.parts[1:]
	}
	if len(s.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.parts[0])
	s.parts[0] = s.parts[0][n:]
	return n, nil
}
