package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// chatMapping is the mapping every measurement imports through: a chat
// export with a channel map, local wall-clock times, a templated body, a
// four-field key, a skip rule and a contact association — the work a real
// mapping does per row.
const chatMapping = `version: 1
source:
  format: csv
  timezone: Europe/Berlin
communication:
  channel: { column: channel, map: { wa: WHATS_APP, li: LINKEDIN_MESSAGE, sms: SMS } }
  timestamp: { column: sent_at, layout: "2006-01-02 15:04:05" }
  body: { template: "{{ .sender }}: {{ .text }}", format: text }
  properties:
    hs_communication_logged_from: CRM
key: [conversation_id, sender, sent_at, text]
skip: { column: kind, in: [system, deleted] }
associations:
  - { to: contacts, by: id, column: contact_id }
`

// chatHeader is the synthetic export's header.
const chatHeader = "conversation_id,channel,sent_at,sender,contact_id,text,kind\n"

var (
	channels = [...]string{"wa", "sms", "li"}
	senders  = [...]string{"Dana Whitfield", "Anna Schmidt", "Tom Okafor", "Grace Lee"}
	phrases  = [...]string{
		"Hi, is the boiler service still on for Thursday?",
		"Yes, Tom will be there at 8:30, please leave the side gate open.",
		"Thanks! Could you send the invoice to accounts, \"attn: Priya\"?",
		"Running ten minutes late, traffic on the ring road.",
	}
	// chatEpoch is in May: a month of rows a second apart crosses no DST change.
	chatEpoch = time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
)

// chatRow appends row i of the synthetic export to b. Every row is a
// message (none is skipped) with a distinct key.
func chatRow(b []byte, i int, contact string) []byte {
	b = append(b, "conv-"...)
	b = strconv.AppendInt(b, int64(i/40), 10)
	b = append(b, ',')
	b = append(b, channels[i%len(channels)]...)
	b = append(b, ',')
	b = chatEpoch.Add(time.Duration(i)*time.Second).AppendFormat(b, "2006-01-02 15:04:05")
	b = append(b, ',')
	b = append(b, senders[i%len(senders)]...)
	b = append(b, ',')
	b = append(b, contact...)
	b = append(b, ",\"#"...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ' ')
	for _, c := range []byte(phrases[i%len(phrases)]) {
		if c == '"' {
			b = append(b, '"')
		}
		b = append(b, c)
	}
	b = append(b, "\",message\n"...)
	return b
}

// writeChatCSV writes a synthetic chat export of rows rows, or of at least
// minBytes bytes when rows is 0, and returns the rows written and the size.
func writeChatCSV(path string, rows int, minBytes int64, contact string) (int, int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	size := int64(len(chatHeader))
	_, _ = w.WriteString(chatHeader)
	var b []byte
	n := 0
	for ; rows > 0 && n < rows || rows == 0 && size < minBytes; n++ {
		b = chatRow(b[:0], n, contact)
		size += int64(len(b))
		_, _ = w.Write(b)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, 0, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, 0, fmt.Errorf("writing %s: %w", path, err)
	}
	return n, size, nil
}

// writeMapping writes chatMapping next to the inputs.
func writeMapping(path string) error {
	return os.WriteFile(path, []byte(chatMapping), 0o644)
}

// splitCSV copies the header and the first n records of src to a, and the
// header and the rest to b. Records of the synthetic export are one line.
func splitCSV(src, a, b string, n int) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	r := bufio.NewReaderSize(in, 1<<20)
	header, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	for i, path := range []string{a, b} {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		_, _ = w.WriteString(header)
		for j := 0; i == 1 || j < n; j++ {
			line, err := r.ReadString('\n')
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", src, err)
			}
			_, _ = w.WriteString(line)
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
