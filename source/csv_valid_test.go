package source

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// TestCSVValidateAhead: the reader's UTF-8 verdict on each row, whether
// taken from the look-ahead check of the read buffer or field by field,
// is the one a per-field utf8.ValidString check gives — for rows with
// multi-byte runes, invalid bytes (stray continuation bytes, truncated
// sequences, surrogates, overlong forms) and quoted line breaks, over
// several read buffers so that rows straddle their ends; on a seekable
// input and on a stream.
func TestCSVValidateAhead(t *testing.T) {
	pieces := []string{"plain", "a,b", "quote \"x\"", "Grüße", "日本語", "😀", "line\nbreak", "crlf\r\nbreak",
		"\xff", "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "tail\x80", "\xf0\x9f\x98"}
	for seed := range uint64(3) {
		rng := rand.New(rand.NewPCG(seed, 99))
		var buf bytes.Buffer
		buf.WriteString("a,b,c\n")
		for buf.Len() < 5*bufSize {
			n := 3
			if rng.IntN(40) == 0 {
				n = 2 + rng.IntN(3) // a ragged row now and then
			}
			for i := range n {
				if i > 0 {
					buf.WriteByte(',')
				}
				var f strings.Builder
				for range rng.IntN(6) {
					p := pieces[rng.IntN(len(pieces))]
					if rng.IntN(8) != 0 && !utf8.ValidString(p) {
						p = "ok" // keep most rows valid, so both paths run
					}
					f.WriteString(p)
				}
				fmt.Fprintf(&buf, "\"%s\"", strings.ReplaceAll(f.String(), `"`, `""`))
			}
			buf.WriteByte('\n')
		}
		data := buf.Bytes()

		// The reference: encoding/csv and a check of every field.
		ref := csv.NewReader(bytes.NewReader(data))
		ref.FieldsPerRecord = -1
		header, err := ref.Read()
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Values []string
			Err    string
		}
		var want []row
		for {
			fields, err := ref.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			r := row{Values: fields}
			if len(fields) != len(header) {
				r.Err = fmt.Sprintf("row has %d fields, the header has %d", len(fields), len(header))
			} else {
				for i, f := range fields {
					if !utf8.ValidString(f) {
						r.Err = fmt.Sprintf("column %q is not valid UTF-8: set the encoding (windows-1252, latin1, utf-16)", header[i])
						break
					}
				}
			}
			want = append(want, r)
		}

		for _, seekable := range []bool{true, false} {
			var src io.Reader = bytes.NewReader(data)
			if !seekable {
				src = &countingReader{r: bytes.NewReader(data)}
			}
			rd, err := NewReader(src, "x.csv", Options{Format: FormatCSV})
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			ahead, perField := 0, 0
			for {
				rec, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				r := row{Values: rec.Values}
				if rec.Err != nil {
					r.Err = rec.Err.(*RowError).Msg
				}
				if len(rec.Values) == len(header) {
					if rd.(*csvReader).c.rowValid {
						ahead++
					} else {
						perField++
					}
				}
				got = append(got, r)
			}
			rd.Close()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("seed %d, seekable %v (-want +got):\n%s", seed, seekable, diff)
			}
			if ahead < len(got)/2 || perField == 0 {
				t.Errorf("seed %d: %d rows checked ahead, %d field by field, of %d: both paths should run", seed, ahead, perField, len(got))
			}
		}
	}
}

func TestValidUTF8Prefix(t *testing.T) {
	for _, s := range []string{"", "abc", "abcdefghijklmnop", "Grüße, 日本語 😀 and more ASCII after it",
		"abcdefgh\xff", "abc\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "abcdefghijklmno\xf0\x9f\x98\x80x", "\xef\xbf\xbd"} {
		want := len(s)
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				want = i
				break
			}
			i += size
		}
		if got := validUTF8Prefix([]byte(s)); got != want {
			t.Errorf("validUTF8Prefix(%q) = %d, want %d", s, got, want)
		}
	}
}
