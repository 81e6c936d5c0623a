package mapping

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/commlog/commlog/source"
	"github.com/commlog/commlog/source/sourcetest"
)

// benchMapping is a realistic mapping for sourcetest's chat CSV: channel
// map, wall-clock timestamps in Europe/Berlin, body column, 4-field key,
// skip rule and one association by phone with a default region.
const benchMapping = `version: 1
source: {format: csv, timezone: Europe/Berlin}
communication:
  channel: {column: channel, map: {wa: WHATS_APP, li: LINKEDIN_MESSAGE, sms: SMS}}
  timestamp: {column: sent_at, layout: "2006-01-02 15:04:05"}
  body: {column: text}
key: [conversation_id, sender, sent_at, text]
skip: {column: kind, in: [system, deleted]}
associations:
  - {to: contacts, by: phone, column: counterpart_phone, default_region: DE}
`

// BenchmarkCSVReaderMapping reads the 200 MB file of source's BenchmarkCSVRaw
// and BenchmarkCSVReader and maps every record: compare its MB/s with
// theirs (issue #7: ≥ 50 % of BenchmarkCSVRaw).
func BenchmarkCSVReaderMapping(b *testing.B) {
	m := mustParse(b, benchMapping)
	path := filepath.Join(b.TempDir(), "chats.csv")
	size, err := sourcetest.WriteChatCSV(path, 200<<20)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	rows := 0
	cpu0, cpuOK := sourcetest.CPUTime()
	b.ResetTimer()
	for b.Loop() {
		rd, err := source.Open(path, source.Options{Format: source.FormatCSV})
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
			r := m.Apply(rec)
			if r.Err != nil || r.Skipped != "" || len(r.Targets) != 1 || r.Targets[0].Value == "" {
				b.Fatalf("%s:%d: %+v", r.File, r.Line, r)
			}
			rows++
		}
		rd.Close()
	}
	sourcetest.ReportPerRow(b, rows, cpu0, cpuOK)
}
