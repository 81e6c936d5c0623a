package report

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

//go:embed page.html.tmpl
var pageTemplate string

// Write builds the report for o and renders it to w.
func Write(ctx context.Context, w io.Writer, o Options) (*Report, error) {
	rep, err := Build(ctx, o)
	if err != nil {
		return nil, err
	}
	return rep, Render(w, rep)
}

// page is what the template sees: the report plus what is derived for
// showing it.
type page struct {
	*Report
	Run          *Run
	Command      string // the selected run's command line, "" if not recorded
	SameCommand  string // the command that resumes/re-evaluates, shell-quoted
	RetryCommand string // SameCommand with --retry-failed
	Title        string
}

// Render writes the report as one self-contained HTML page. Every string
// from the ledger (file names, messages, run ids) goes through
// html/template's contextual escaping; the page has no scripts and its
// Content-Security-Policy forbids loading anything.
func Render(w io.Writer, rep *Report) error {
	pii := func(s string) string {
		if rep.LogPII {
			return s
		}
		return maskPhones(s)
	}
	t, err := template.New("page").Funcs(template.FuncMap{
		"pii":   pii,
		"num":   fmtInt,
		"f1":    func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"f0":    func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
		"when":  fmtTime,
		"dur":   fmtDuration,
		"pos":   func(p Pos) string { return pii(p.File) + ":" + strconv.Itoa(p.Line) },
		"state": func(c Counts, s string) int64 { return c.Of(s) },
		"pct": func(n, total int64) string {
			if total == 0 {
				return "0%"
			}
			return strconv.FormatFloat(float64(n)*100/float64(total), 'f', 1, 64) + "%"
		},
		"bar":    stateBar,
		"states": func() []string { return states },
		"advice": func(s string) string { return advice[s] },
		"title":  func(s string) string { return stateTitle[s] },
		"base":   filepath.Base,
	}).Parse(pageTemplate)
	if err != nil {
		return fmt.Errorf("report: template: %w", err) // a bug in page.html.tmpl
	}
	p := page{Report: rep, Title: filepath.Base(rep.Ledger)}
	if rep.Selected >= 0 {
		p.Run = &rep.Runs[rep.Selected]
		p.Command = pii(shellJoin(p.Run.Command))
	}
	same := rerunCommand(rep)
	p.SameCommand = pii(shellJoin(same))
	p.RetryCommand = pii(shellJoin(withRetryFailed(same)))
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := t.Execute(bw, p); err != nil {
		return fmt.Errorf("report: rendering: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: writing: %w", err)
	}
	return nil
}

var stateTitle = map[string]string{
	"failed":     "Failed: HubSpot refused these rows",
	"unresolved": "Unresolved associations",
	"invalid":    "Invalid rows",
	"in_doubt":   "In doubt",
	"sent":       "Sent, outcome not recorded",
	"not_sent":   "Not sent",
}

var advice = map[string]string{
	"failed": "Fix what HubSpot's message says (mapping, property values, permissions), " +
		"then send these rows again with --retry-failed:",
	"unresolved": "An association target matched no HubSpot record, or several. Create or fix those " +
		"contacts or owners, then run the same command again: unresolved rows are evaluated again on every run.",
	"invalid": "These rows could not be read or mapped. Fix the input file or the mapping, then run " +
		"the same command again: invalid rows are read again on every run.",
	"in_doubt": "The request went out but its answer was lost. Run the same command again: these rows " +
		"are reconciled against HubSpot first and are never created twice.",
	"sent": "The run ended after sending these rows and before recording HubSpot's answer (a crash or " +
		"a kill). Run the same command again: they are reconciled first and never created twice.",
	"not_sent": "The run stopped before sending these rows (the daily API quota reserve). Run the same " +
		"command again once the quota has reset.",
}

// rerunCommand is the command of the latest import run, or a template of
// one when no run log recorded it.
func rerunCommand(rep *Report) []string {
	for i := len(rep.Runs) - 1; i >= 0; i-- {
		r := rep.Runs[i]
		if r.Operation == "import" && len(r.Command) > 0 {
			return r.Command
		}
	}
	return []string{"commlog", "import", "--mapping", "MAPPING.yaml", "--ledger", rep.Ledger, "INPUT..."}
}

// withRetryFailed adds --retry-failed right after the "import" word.
func withRetryFailed(cmd []string) []string {
	for _, a := range cmd {
		if a == "--retry-failed" || a == "-retry-failed" {
			return cmd
		}
	}
	for i, a := range cmd {
		if a == "import" {
			out := append(append(append([]string(nil), cmd[:i+1]...), "--retry-failed"), cmd[i+1:]...)
			return out
		}
	}
	return append(append([]string(nil), cmd...), "--retry-failed")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellJoin quotes args for a POSIX shell so the line can be pasted back.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if shellSafe.MatchString(a) {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// Phone-number-like runs: 7 to 15 digits with the usual separators. Dates
// and times are left alone; masked handles (****1234) never match.
var (
	phoneish = regexp.MustCompile(`\+?\(?\d[\d ().\-]{5,}\d`)
	dateish  = regexp.MustCompile(`^\(?(\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})`)
)

// maskPhones hides all but the last four digits of anything that looks
// like a phone number.
func maskPhones(s string) string {
	return phoneish.ReplaceAllStringFunc(s, func(m string) string {
		digits := 0
		for _, c := range m {
			if c >= '0' && c <= '9' {
				digits++
			}
		}
		if digits < 7 || digits > 15 || dateish.MatchString(m) {
			return m
		}
		b := []byte(m)
		keep := 4
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] >= '0' && b[i] <= '9' {
				if keep > 0 {
					keep--
				} else {
					b[i] = '*'
				}
			}
		}
		return string(b)
	})
}

func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

func fmtDuration(a, b time.Time) string {
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return "—"
	}
	return b.Sub(a).Round(100 * time.Millisecond).String()
}

// segment is one state's part of the outcome bar.
type segment struct {
	State string
	X, W  float64
	N     int64
}

// stateBar lays out a horizontal bar of width w split by state.
func stateBar(c Counts, w float64) []segment {
	total := c.Total()
	if total == 0 {
		return nil
	}
	var out []segment
	x := 0.0
	for i, n := range c {
		if n == 0 {
			continue
		}
		sw := float64(n) / float64(total) * w
		out = append(out, segment{State: states[i], X: x, W: sw, N: n})
		x += sw
	}
	return out
}
