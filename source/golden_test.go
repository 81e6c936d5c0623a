package source

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/source/golden")

const fixtureDir = "../testdata/source"

// fixtureChars turns the visible placeholders of chat-formats.md into the
// invisible characters they stand for.
var fixtureChars = strings.NewReplacer(
	"{NNBSP}", "\u202f", "{NBSP}", "\u00a0", "{LRM}", "\u200e", "{RLM}", "\u200f",
	"{LRE}", "\u202a", "{PDF}", "\u202c", "{BOM}", "\ufeff")

func readFixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(fixtureChars.Replace(string(b)))
}

// materialise writes a fixture with its placeholders replaced into dir,
// under its own base name (WhatsApp takes the chat title from it).
func materialise(t testing.TB, dir, rel string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.Base(rel))
	if err := os.WriteFile(p, readFixture(t, rel), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// drain reads every record; it fails the test on a panic-free but endless
// reader by capping the count.
func drain(t testing.TB, rd Reader) ([]*Record, error) {
	t.Helper()
	var recs []*Record
	for len(recs) < 1_000_000 {
		rec, err := rd.Next()
		if err != nil {
			if IsEOF(err) {
				return recs, nil
			}
			return recs, err
		}
		recs = append(recs, rec)
	}
	t.Fatal("reader does not end")
	return nil, nil
}

type goldenRecord struct {
	Pos    string      `json:"pos"`
	Offset int64       `json:"offset"`
	Err    string      `json:"err,omitempty"`
	Fields [][2]string `json:"fields"`
}

type goldenFile struct {
	Format  string         `json:"format"`
	Records []goldenRecord `json:"records"`
	Error   string         `json:"error,omitempty"`
}

func toGolden(format string, recs []*Record, err error, dir string) goldenFile {
	g := goldenFile{Format: format}
	for _, r := range recs {
		gr := goldenRecord{Pos: strings.TrimPrefix(r.Pos(), dir+string(filepath.Separator)), Offset: r.Offset}
		if r.Err != nil {
			gr.Err = strings.TrimPrefix(r.Err.Error(), dir+string(filepath.Separator))
		}
		for i, n := range r.Names {
			v := ""
			if i < len(r.Values) {
				v = r.Values[i]
			}
			if v == "" {
				continue // keep goldens short: absent and empty read alike
			}
			gr.Fields = append(gr.Fields, [2]string{n, v})
		}
		g.Records = append(g.Records, gr)
	}
	if err != nil {
		g.Error = strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	}
	return g
}

func checkGolden(t *testing.T, name string, got goldenFile) {
	t.Helper()
	path := filepath.Join(fixtureDir, "golden", name+".json")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./source -run %s -update)", err, t.Name())
	}
	var want goldenFile
	if err := json.Unmarshal(wantBytes, &want); err != nil {
		t.Fatal(err)
	}
	var gotRound goldenFile
	if err := json.Unmarshal(buf.Bytes(), &gotRound); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, gotRound); diff != "" {
		t.Errorf("%s differs from golden (-want +got):\n%s", name, diff)
	}
}

// fixtureOptions are the options each fixture is read with (format comes
// from its directory).
func fixtureOptions() map[string]Options {
	return map[string]Options{
		"whatsapp/WhatsApp Chat with Install January.txt": {Me: []string{"Dana Whitfield"}},
		"whatsapp/WhatsApp Chat - Acme Plumbing Team.txt": {Me: []string{"Tom Baker"}},
		"whatsapp/Chat de WhatsApp con Lucía Pérez.txt":   {Me: []string{"Lucía Pérez"}, DateOrder: "DMY"},
		"whatsapp/WhatsApp Chat mit Jörg Müller.txt":      {Me: []string{"+49 1512 3456789"}},
		"whatsapp/variant-uk-android-lower-ampm.txt":      {Me: []string{"Alex Kim"}},
		"linkedin/messages.csv":                           {Me: []string{"https://www.linkedin.com/in/maya-okafor-demo"}},
		"linkedin/messages-10col.csv":                     {Me: []string{"https://linkedin.com/in/Maya-Okafor-Demo/"}},
		"sms-xml/sms-1.xml":                               {Me: []string{"+15555550100"}},
	}
}

func fixtureFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"csv", "jsonl", "whatsapp", "linkedin", "sms-xml", "twilio"} {
		ents, err := os.ReadDir(filepath.Join(fixtureDir, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			out = append(out, dir+"/"+e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func goldenName(rel string) string {
	ext := filepath.Ext(rel)
	return strings.ReplaceAll(strings.TrimSuffix(rel, ext), " ", "_")
}

// TestGolden reads every fixture under testdata/source/<format>/ with its
// format and compares all records with testdata/source/golden.
func TestGolden(t *testing.T) {
	opts := fixtureOptions()
	for _, rel := range fixtureFiles(t) {
		t.Run(goldenName(rel), func(t *testing.T) {
			dir := t.TempDir()
			path := materialise(t, dir, rel)
			o := opts[rel]
			o.Format = strings.Split(rel, "/")[0]
			rd, err := Open(path, o)
			if err != nil {
				checkGolden(t, goldenName(rel), toGolden(o.Format, nil, err, dir))
				return
			}
			defer rd.Close()
			recs, err := drain(t, rd)
			checkGolden(t, goldenName(rel), toGolden(rd.Format(), recs, err, dir))
		})
	}
}

// TestSniff checks that auto picks each fixture's format.
func TestSniff(t *testing.T) {
	for _, rel := range fixtureFiles(t) {
		t.Run(goldenName(rel), func(t *testing.T) {
			want := strings.Split(rel, "/")[0]
			o := fixtureOptions()[rel]
			o.Format = FormatAuto
			if want == FormatWhatsApp && o.DateOrder == "" {
				o.DateOrder = ""
			}
			path := materialise(t, t.TempDir(), rel)
			rd, err := Open(path, o)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			if rd.Format() != want {
				t.Errorf("auto chose %s, want %s", rd.Format(), want)
			}
		})
	}
}

// TestSniffSaysWhichFormat checks that auto reports its choice to the logger.
func TestSniffSaysWhichFormat(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	rd, err := NewReader(strings.NewReader("From,To,Body,SentDate,Sid,Direction\n"), "log.csv", Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for _, want := range []string{"source format detected", "file=log.csv", "format=twilio", "Twilio message log header"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q lacks %q", buf.String(), want)
		}
	}
}

// TestWhatsAppZip reads the iOS fixture from the .zip WhatsApp shares, with
// media next to _chat.txt, and expects the same records as from the text.
func TestWhatsAppZip(t *testing.T) {
	dir := t.TempDir()
	rel := "whatsapp/WhatsApp Chat - Acme Plumbing Team.txt"
	zpath := filepath.Join(dir, "WhatsApp Chat - Acme Plumbing Team.zip")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string][]byte{
		"00000003-PHOTO-2024-01-03-09-07-02.jpg": {0xff, 0xd8, 0xff, 0x00},
		"_chat.txt":                              readFixture(t, rel),
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(zpath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{FormatWhatsApp, FormatAuto} {
		rd, err := Open(zpath, Options{Format: format, Me: []string{"Tom Baker"}})
		if err != nil {
			t.Fatal(err)
		}
		fromZip, err := drain(t, rd)
		rd.Close()
		if err != nil {
			t.Fatal(err)
		}
		rd, err = Open(materialise(t, dir, rel), Options{Format: FormatWhatsApp, Me: []string{"Tom Baker"}})
		if err != nil {
			t.Fatal(err)
		}
		fromText, err := drain(t, rd)
		rd.Close()
		if err != nil {
			t.Fatal(err)
		}
		strip := cmp.Transformer("vals", func(r *Record) []string { return r.Values })
		if diff := cmp.Diff(fromText, fromZip, strip); diff != "" {
			t.Errorf("zip and text differ (-text +zip):\n%s", diff)
		}
	}
}

// TestLinkedInZip reads messages.csv from LinkedIn's data-export archive with auto.
func TestLinkedInZip(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string][]byte{
		"Connections.csv": []byte("Notes:\nFirst Name,Last Name,URL\n"),
		"messages.csv":    readFixture(t, "linkedin/messages.csv"),
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zpath := filepath.Join(t.TempDir(), "Basic_LinkedInDataExport_03-08-2024.zip")
	if err := os.WriteFile(zpath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rd, err := Open(zpath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	recs, err := drain(t, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd.Format() != FormatLinkedIn || len(recs) != 6 {
		t.Errorf("format %s with %d records, want linkedin with 6", rd.Format(), len(recs))
	}
}

// TestCSVEncodings reads the same CSV written in windows-1252, latin1 and
// UTF-16 (with and without BOM) and expects the UTF-8 values.
func TestCSVEncodings(t *testing.T) {
	text := "id,name,note\n1,Jörg Müller,\"Grüße, é\"\n2,Ana,café\n"
	want := [][]string{{"1", "Jörg Müller", "Grüße, é"}, {"2", "Ana", "café"}}
	le := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder()
	leBOM := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder()
	be := unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewEncoder()
	enc := func(e interface{ Bytes([]byte) ([]byte, error) }) []byte {
		b, err := e.Bytes([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name, encoding string
		data           []byte
	}{
		{"windows-1252", "windows-1252", enc(charmap.Windows1252.NewEncoder())},
		{"latin1", "latin1", enc(charmap.ISO8859_1.NewEncoder())},
		{"utf-16 with BOM, no flag", "", enc(leBOM)},
		{"utf-16 with BOM, flag", "utf-16", enc(leBOM)},
		{"utf-16le", "utf-16le", enc(le)},
		{"utf-16be", "utf-16be", enc(be)},
		{"utf-8 BOM", "", append([]byte("\xef\xbb\xbf"), text...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd, err := NewReader(bytes.NewReader(tt.data), "x.csv", Options{Format: FormatCSV, Encoding: tt.encoding})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := drain(t, rd)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, r := range recs {
				if r.Err != nil {
					t.Errorf("%s: %v", r.Pos(), r.Err)
				}
				got = append(got, r.Values)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"id", "name", "note"}, recs[0].Names); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("windows-1252 read as UTF-8 is a row error", func(t *testing.T) {
		rd, err := NewReader(bytes.NewReader(enc(charmap.Windows1252.NewEncoder())), "x.csv", Options{Format: FormatCSV})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := drain(t, rd)
		if err != nil {
			t.Fatal(err)
		}
		var re *RowError
		if !errors.As(recs[0].Err, &re) || re.Line != 2 || !strings.Contains(re.Msg, "encoding") {
			t.Errorf("got %v, want a row error at line 2 that names the encoding", recs[0].Err)
		}
	})
}

// TestOpenErrors covers the errors Open itself returns.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		opts Options
		want string
	}{
		{"unknown format", "x.csv", Options{Format: "xls"}, "valid formats are csv, jsonl, whatsapp, linkedin, sms-xml, twilio, auto"},
		{"unknown encoding", "x.csv", Options{Format: "csv", Encoding: "ebcdic"}, "valid encodings are"},
		{"missing file", filepath.Join(dir, "nope.csv"), Options{}, "no such file"},
		{"bad date order", "wa.txt", Options{Format: "whatsapp", DateOrder: "DDMM"}, "valid values are DMY, MDY, YMD"},
		{"linkedin without its columns", "li.csv", Options{Format: "linkedin"}, "header lacks column(s) CONTENT, CONVERSATION ID, DATE, FROM, SENDER PROFILE URL"},
		{"twilio without its columns", "li.csv", Options{Format: "twilio"}, "header lacks column(s) Body, Direction, From, SentDate, To"},
	}
	files := map[string]string{"x.csv": "a,b\n1,2\n", "wa.txt": "13/1/24, 10:00 - A: b\n", "li.csv": "a,b\n1,2\n"}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.path
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			rd, err := Open(p, tt.opts)
			if err == nil {
				rd.Close()
				t.Fatalf("Open succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
