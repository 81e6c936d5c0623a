package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The browser check loads a rendered report in real headless Chromium,
// served from a 127.0.0.1 test server, and requires: no console message
// at all (the page has no scripts, so any message is a Content-Security-
// Policy violation or an error), no request other than the page itself,
// the key elements with the ledger's numbers in the DOM Chromium built,
// and a non-blank screenshot (kept in the test's temporary directory).
//
// It skips only when no Chromium is installed; CI installs Debian's
// chromium package.

// findChromium returns the Chromium binary, or "" when there is none.
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// chromiumFlags keep headless Chromium hermetic: no sandbox (CI runs as
// root in a container), no GPU, no network of its own, a fresh profile.
func chromiumFlags(profile string) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
	}
}

// runChromium runs Chromium once and returns its stdout and stderr.
func runChromium(t *testing.T, bin string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(chromiumFlags(t.TempDir()), args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second // helper processes may hold the pipes
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", args, err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes()
}

// consoleRE matches the lines --enable-logging=stderr writes for console
// messages, e.g. `[..:INFO:CONSOLE:1] "text", source: http://... (1)`;
// older builds write CONSOLE(1).
var consoleRE = regexp.MustCompile(`:CONSOLE(?:\(\d+\)|:\d+)?\] "(.*)", source: (.*)`)

func consoleMessages(stderr []byte) []string {
	var out []string
	for _, m := range consoleRE.FindAllSubmatch(stderr, -1) {
		out = append(out, string(m[1])+" (source: "+string(m[2])+")")
	}
	return out
}

// pageServer serves one page at /report.html and records every request.
type pageServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func servePage(t *testing.T, page []byte) *pageServer {
	t.Helper()
	s := &pageServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		if r.URL.Path != "/report.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pageServer) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

func TestBrowser(t *testing.T) {
	bin := findChromium()
	if bin == "" {
		t.Skip("browser check skipped: Chromium is not installed (Debian: apt-get install -y chromium)")
	}

	// The negative control proves the console check can fail: a page that
	// logs an error and breaks its own CSP must be caught.
	t.Run("console check catches errors", func(t *testing.T) {
		bad := []byte(`<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head>` +
			`<body><p id="x">x</p><script>console.error("control-marker")</script><img src="http://127.0.0.1:9/x.png"></body></html>`)
		srv := servePage(t, bad)
		_, stderr := runChromium(t, bin, "--dump-dom", srv.URL+"/report.html")
		if msgs := consoleMessages(stderr); len(msgs) == 0 {
			t.Fatalf("no console message caught from a page with a blocked script and image; stderr:\n%s", stderr)
		}
	})

	ledger := copyLedger(t, "basic.ledger.csv", true)
	page, rep := render(t, Options{Ledger: ledger, RunID: "r1"})
	// A copy next to the screenshot, for a person to open.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "report.html"), page, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := servePage(t, page)

	t.Run("DOM, console and network", func(t *testing.T) {
		dom, stderr := runChromium(t, bin, "--dump-dom", srv.URL+"/report.html")
		if msgs := consoleMessages(stderr); len(msgs) > 0 {
			t.Errorf("console messages:\n%q", msgs)
		}
		d := parsePage(t, dom)
		for _, id := range []string{"outcomes", "outcome-bar", "run", "run-id", "command", "rate-chart",
			"records-line", "requests-line", "issues", "issue-failed", "retry-command", "files", "runs"} {
			if _, ok := d.byID[id]; !ok {
				t.Errorf("the DOM Chromium built has no #%s", id)
			}
		}
		got, want := map[string]int64{}, map[string]int64{}
		for _, s := range states {
			got["state-"+s], want["state-"+s] = d.n(t, "state-"+s), rep.States.Of(s)
			got["run-state-"+s], want["run-state-"+s] = d.n(t, "run-state-"+s), rep.Runs[rep.Selected].States.Of(s)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("numbers in the browser's DOM (-report +DOM):\n%s", diff)
		}
		if n := len(d.withClass("mark-429")); n == 0 {
			t.Error("no 429 marks in the chart of run r1")
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(dir, "report.png")
		_, stderr := runChromium(t, bin, "--screenshot="+shot, "--window-size=1200,2400", srv.URL+"/report.html")
		if msgs := consoleMessages(stderr); len(msgs) > 0 {
			t.Errorf("console messages:\n%q", msgs)
		}
		f, err := os.Open(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v\nstderr:\n%s", err, stderr)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot %s: %v", shot, err)
		}
		if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 2400 {
			t.Errorf("screenshot is %v, want 1200x2400", b.Size())
		}
		if n := colours(img, 64); n < 8 {
			t.Errorf("screenshot has %d colours: the page did not render", n)
		}
		t.Logf("screenshot: %s", shot)
	})

	// Only the page itself may be fetched: no fonts, scripts or images.
	for _, p := range srv.requested() {
		if p != "/report.html" && p != "/favicon.ico" {
			t.Errorf("the page made Chromium fetch %s", p)
		}
	}
}

// colours counts distinct colours up to limit, on a coarse grid.
func colours(img image.Image, limit int) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

func TestConsoleMessages(t *testing.T) {
	stderr := []byte(`[1:1:1125/105740.718145:INFO:CONSOLE:1] "boom", source: file:///tmp/x.html (1)
[1:2:1125/105740.5:ERROR:dbus/bus.cc:405] Failed to connect to the bus
[1:1:1125/105740.7:INFO:CONSOLE(12)] "old style", source: http://127.0.0.1:1/r.html (12)
`)
	want := []string{"boom (source: file:///tmp/x.html (1))", "old style (source: http://127.0.0.1:1/r.html (12))"}
	if diff := cmp.Diff(want, consoleMessages(stderr)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := consoleMessages([]byte("[1:2:3:ERROR:dbus/bus.cc:405] Failed\n" + strconv.Quote("x"))); len(got) != 0 {
		t.Errorf("non-console lines read as console messages: %q", got)
	}
}
