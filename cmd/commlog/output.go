package main

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/schollz/progressbar/v3"
)

// bar draws a progress bar on stderr when stderr is a terminal; otherwise
// every method does nothing. Data never goes to the bar's stream.
type bar struct {
	mu sync.Mutex
	pb *progressbar.ProgressBar
}

func (g *globals) newBar(total int64, what string) *bar {
	if !g.progress() {
		return &bar{}
	}
	if total <= 0 {
		total = -1
	}
	return &bar{pb: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(g.env.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(total > 0),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)}
}

// update moves the bar to done and shows desc beside it.
func (b *bar) update(done int64, desc string) {
	if b.pb == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pb.Describe(desc)
	_ = b.pb.Set64(done)
}

func (b *bar) finish() {
	if b.pb == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.pb.Finish()
}

// report prints a run summary: as JSON on stdout with --json, else as
// aligned "name value" lines on stderr (stdout stays for data).
func (g *globals) report(title string, v any, lines [][2]string) error {
	if g.json {
		enc := json.NewEncoder(g.env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := g.env.stderr
	fmt.Fprintln(w, title)
	width := 0
	for _, l := range lines {
		width = max(width, len(l[0]))
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
	return nil
}
