package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/commlog/commlog/batch"
)

// issueStates are the states that need attention, in the page's order.
var issueStates = []string{
	batch.StateFailed, batch.StateUnresolved, batch.StateInvalid,
	batch.StateInDoubt, batch.StateSent, batch.StateNotSent,
}

type groupKey struct {
	state             uint8
	category, message string
}

// passTwo walks the ledger again and looks only at each row's current
// event (the one whose ordinal pass one kept), plus the selected run's
// created events for a chart when there is no run log.
type passTwo struct {
	p1       *passOneResult
	examples int
	isIssue  [nStates]bool

	groups  map[groupKey]*Group
	order   []*Group // first-seen order, for stable output
	nGroups int

	fileIdx map[string]int
	fileRow []*FileRow

	// Buckets of created events of the selected run, used only when the
	// run has no samples in the run log.
	selRun        int // index into p1.runs, -1 for none
	ledgerBuckets []int64
	bucketWidth   float64 // seconds
	selStart      time.Time
}

func newPassTwo(p1 *passOneResult, o Options, sel *Run, selLedgerIdx int) *passTwo {
	p := &passTwo{p1: p1, examples: o.Examples, groups: map[groupKey]*Group{},
		fileIdx: map[string]int{}, selRun: -1}
	for _, s := range issueStates {
		p.isIssue[stateCode(s)] = true
	}
	if sel != nil && len(sel.Samples) < 2 && selLedgerIdx >= 0 {
		lr := p1.runs[selLedgerIdx]
		first, err1 := time.Parse(time.RFC3339Nano, lr.first)
		last, err2 := time.Parse(time.RFC3339Nano, lr.last)
		if err1 == nil && err2 == nil && !last.Before(first) {
			span := math.Floor(last.Sub(first).Seconds()) + 1
			n := int(math.Min(span, maxPoints))
			p.selRun, p.selStart = selLedgerIdx, first
			p.ledgerBuckets = make([]int64, n)
			p.bucketWidth = math.Ceil(span / float64(n))
		}
	}
	return p
}

func (p *passTwo) run(ctx context.Context, path string) error {
	var ord uint32
	err := batch.ReadLedger(path, func(r batch.LedgerRow) error {
		ord++
		if ord%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if ord > p.p1.events {
			return nil // appended since pass one: not part of this report
		}
		if p.selRun >= 0 && r.State == batch.StateCreated && p.p1.runIdx[r.RunID] == uint16(p.selRun) {
			p.bucket(r.Time)
		}
		e, ok := p.p1.rows[identity(&r)]
		if !ok || e.ord != ord {
			return nil
		}
		p.file(r.SourceFile, e.state)
		if p.isIssue[e.state] {
			p.group(&r, e.state)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func (p *passTwo) bucket(ts string) {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return
	}
	i := int(math.Floor(t.Sub(p.selStart).Seconds() / p.bucketWidth))
	if i >= 0 && i < len(p.ledgerBuckets) {
		p.ledgerBuckets[i]++
	}
}

func (p *passTwo) file(name string, state uint8) {
	i, ok := p.fileIdx[name]
	if !ok {
		i = len(p.fileRow)
		p.fileIdx[name] = i
		p.fileRow = append(p.fileRow, &FileRow{File: name})
	}
	p.fileRow[i].Rows++
	p.fileRow[i].States[state]++
}

// otherMessages stands for the messages of a category once maxGroups
// distinct groups exist.
const otherMessages = "(further distinct messages; see the ledger)"

func (p *passTwo) group(r *batch.LedgerRow, state uint8) {
	k := groupKey{state: state, category: r.Category, message: withoutPos(r)}
	g, ok := p.groups[k]
	if !ok {
		if p.nGroups >= maxGroups {
			k.message = otherMessages
			g, ok = p.groups[k]
		}
		if !ok {
			g = &Group{State: states[state], Category: k.category, Message: k.message, Status: r.HTTPStatus}
			p.groups[k] = g
			p.order = append(p.order, g)
			p.nGroups++
		}
	}
	g.Rows++
	if len(g.Examples) < p.examples {
		g.Examples = append(g.Examples, Pos{File: r.SourceFile, Line: r.SourceLine})
	}
}

// withoutPos drops a message's leading "file:line: " when it names the
// row's own position (readers and the mapping put it there): the examples
// show positions, and without it equal errors group together.
func withoutPos(r *batch.LedgerRow) string {
	m := r.Message
	if !strings.HasPrefix(m, r.SourceFile) {
		return m
	}
	rest := m[len(r.SourceFile):]
	pos := ":" + strconv.Itoa(r.SourceLine) + ": "
	if strings.HasPrefix(rest, pos) {
		return rest[len(pos):]
	}
	return m
}

func (p *passTwo) issues() []Issue {
	var out []Issue
	for _, s := range issueStates {
		code := stateCode(s)
		is := Issue{State: s, Rows: p.p1.overall[code]}
		for _, g := range p.order {
			if g.State == s {
				is.Groups = append(is.Groups, *g)
			}
		}
		if is.Rows == 0 {
			continue
		}
		sort.SliceStable(is.Groups, func(a, b int) bool { return is.Groups[a].Rows > is.Groups[b].Rows })
		out = append(out, is)
	}
	return out
}

func (p *passTwo) files(limit int) ([]FileRow, int) {
	rows := make([]FileRow, len(p.fileRow))
	for i, f := range p.fileRow {
		rows[i] = *f
	}
	sort.SliceStable(rows, func(a, b int) bool { return rows[a].Rows > rows[b].Rows })
	if len(rows) > limit {
		return rows[:limit], len(rows) - limit
	}
	return rows, 0
}

// readRunLog reads every record of a run log. A missing file is reported
// by found=false; a torn last line (a crash while writing it) is ignored.
func readRunLog(path string) (recs []batch.RunRecord, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("report: run log: %w", err)
	}
	defer f.Close()
	recs, err = parseRunLog(path, f)
	return recs, true, err
}

func parseRunLog(path string, rd io.Reader) ([]batch.RunRecord, error) {
	var recs []batch.RunRecord
	br := bufio.NewReaderSize(rd, 64<<10)
	for line := 1; ; line++ {
		// Lines of long runs are megabytes (a sample a second): no Scanner limit.
		b, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("report: run log %s:%d: %w", path, line, err)
		}
		torn := errors.Is(err, io.EOF)
		if torn && len(b) == 0 {
			return recs, nil
		}
		if len(bytes.TrimSpace(b)) > 0 {
			var rec batch.RunRecord
			if jerr := json.Unmarshal(b, &rec); jerr != nil {
				if torn {
					return recs, nil
				}
				return nil, fmt.Errorf("report: run log %s:%d: %w", path, line, jerr)
			}
			recs = append(recs, rec)
		}
		if torn {
			return recs, nil
		}
	}
}
