// Package sourcetest writes the synthetic inputs that the benchmarks of
// source and mapping share, so that both measure the very same bytes.
package sourcetest

import (
	"bufio"
	"fmt"
	"os"
	"testing"
)

// ChatCSVHeader is the header line of the file WriteChatCSV writes.
const ChatCSVHeader = "conversation_id,channel,sent_at,sender,counterpart_phone,agent_email,text,kind\n"

// ReportPerRow reports wall and CPU nanoseconds per row of a benchmark
// whose every iteration read rows rows; cpu0 and ok are CPUTime before it.
func ReportPerRow(b *testing.B, rows int, cpu0 int64, ok bool) {
	if rows == 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
	if cpu1, ok1 := CPUTime(); ok && ok1 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/float64(rows), "cpu-ns/row")
	}
}

// ChatCSVRow is row i of the file WriteChatCSV writes: about 125 bytes, one
// quoted field, 997 conversations, 10,000 distinct phone numbers.
func ChatCSVRow(i int) string {
	return fmt.Sprintf("conv-%d,wa,2024-03-01 09:%02d:%02d,Dana Whitfield,+1202555%04d,agent%d@example.com,\"Hello, this is message %d about the quote\",message\n",
		i%997, i%60, i%59, i%10000, i%7, i)
}

// WriteFile writes header and then rows row(0), row(1), … to path until the
// file holds at least size bytes, and returns its size.
func WriteFile(path string, size int64, header string, row func(i int) string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	n, _ := w.WriteString(header)
	total := int64(n)
	for i := 0; total < size; i++ {
		n, _ := w.WriteString(row(i))
		total += int64(n)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return total, nil
}

// WriteChatCSV writes the chat CSV of ChatCSVHeader and ChatCSVRow to path
// until it holds at least size bytes, and returns its size.
func WriteChatCSV(path string, size int64) (int64, error) {
	return WriteFile(path, size, ChatCSVHeader, ChatCSVRow)
}
