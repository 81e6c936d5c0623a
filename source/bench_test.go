package source

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/commlog/commlog/source/sourcetest"
)

// writeBenchFile writes rows until the file holds size bytes.
func writeBenchFile(b *testing.B, name string, size int64, header string, row func(i int) string) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), name)
	total, err := sourcetest.WriteFile(path, size, header, row)
	if err != nil {
		b.Fatal(err)
	}
	return path, total
}

const benchCSVSize = 200 << 20

// benchCSVFile is the 200 MB chat CSV that mapping's
// BenchmarkCSVReaderMapping reads too.
func benchCSVFile(b *testing.B) (string, int64) {
	return writeBenchFile(b, "chats.csv", benchCSVSize, sourcetest.ChatCSVHeader, sourcetest.ChatCSVRow)
}

// BenchmarkCSVRaw is the ceiling: encoding/csv with ReuseRecord, nothing kept.
func BenchmarkCSVRaw(b *testing.B) {
	path, size := benchCSVFile(b)
	b.SetBytes(size)
	rows := 0
	cpu0, cpuOK := sourcetest.CPUTime()
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		cr := csv.NewReader(bufio.NewReaderSize(f, bufSize))
		cr.ReuseRecord = true
		rows = 0
		for {
			_, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
		f.Close()
	}
	sourcetest.ReportPerRow(b, rows, cpu0, cpuOK)
}

// BenchmarkCSVReader is the csv reader on the same file; compare its MB/s
// with BenchmarkCSVRaw (target ≥ 50 %).
func BenchmarkCSVReader(b *testing.B) {
	path, size := benchCSVFile(b)
	b.SetBytes(size)
	rows := 0
	cpu0, cpuOK := sourcetest.CPUTime()
	b.ResetTimer()
	for b.Loop() {
		rd, err := Open(path, Options{Format: FormatCSV})
		if err != nil {
			b.Fatal(err)
		}
		rows = 0
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if rec.Err != nil {
				b.Fatal(rec.Err)
			}
			rows++
		}
		rd.Close()
	}
	sourcetest.ReportPerRow(b, rows, cpu0, cpuOK)
}

func benchReader(b *testing.B, path string, size int64, opts Options) {
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		rd, err := Open(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if rec.Err != nil {
				b.Fatal(rec.Err)
			}
			n++
		}
		rd.Close()
	}
}

// BenchmarkWhatsApp reads a 64 MB Android export (pre-scan included); target ≥ 50 MB/s.
func BenchmarkWhatsApp(b *testing.B) {
	path, size := writeBenchFile(b, "WhatsApp Chat with Dana Whitfield.txt", 64<<20, "", func(i int) string {
		who := "Dana Whitfield"
		if i%3 == 0 {
			who = "Anna Schmidt"
		}
		if i%5 == 0 {
			return fmt.Sprintf("%d/%d/24, %d:%02d\u202fPM - %s: Hi! Quick question about the quote:\ncan we move the install to Friday?\n", 1+i%12, 1+i%28, 1+i%12, i%60, who)
		}
		return fmt.Sprintf("%d/%d/24, %d:%02d\u202fPM - %s: Sure, Friday 10:30 works. Note: bring the permit %d\n", 1+i%12, 1+i%28, 1+i%12, i%60, who, i)
	})
	benchReader(b, path, size, Options{Format: FormatWhatsApp, Me: []string{"Anna Schmidt"}})
}

// BenchmarkSMSXML reads a 64 MB backup with SMS and MMS; target ≥ 50 MB/s.
func BenchmarkSMSXML(b *testing.B) {
	path, size := writeBenchFile(b, "sms.xml", 64<<20, "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"0\">\n", func(i int) string {
		if i%20 == 19 {
			return fmt.Sprintf(`  <mms date="%d" msg_box="1" m_type="132" address="+12025550143~+442079460018" text_only="0" read="1" date_sent="0" ct_t="application/vnd.wap.multipart.related" m_id="mid-%d" readable_date="Mar 1, 2024 5:00:00 AM" contact_name="Dana Whitfield, Sam Hart">
    <parts>
      <part seq="0" ct="image/jpeg" name="IMG_0001.jpg" chset="null" cid="&lt;IMG_0001&gt;" cl="IMG_0001.jpg" text="null" data="/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAABAAEDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAf/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFQEBAQAAAAAAAAAAAAAAAAAAAAX/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oADAMBAAIRAxEAPwCdABmX/9k=" />
      <part seq="1" ct="text/plain" name="null" chset="106" cid="&lt;text_0&gt;" cl="text_0.txt" text="Photo of the leak under the sink" />
    </parts>
    <addrs>
      <addr address="+12025550143" type="137" charset="106" />
      <addr address="+442079460018" type="151" charset="106" />
    </addrs>
  </mms>
`, 1709287200000+int64(i), i)
		}
		return fmt.Sprintf(`  <sms protocol="0" address="+12025550143" date="%d" type="%d" subject="null" body="Hi, is Thursday 9am still OK?&#10;Gate code is 4411 &#55357;&#56397;" toa="null" sc_toa="null" service_center="+12063130004" read="1" status="-1" locked="0" date_sent="1709279998000" sub_id="1" readable_date="Mar 1, 2024 3:00:00 AM" contact_name="Dana Whitfield" />
`, 1709280000000+int64(i), 1+i%2)
	})
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	n, err := f.WriteString("</smses>\n")
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	benchReader(b, path, size+int64(n), Options{Format: FormatSMSXML})
}
