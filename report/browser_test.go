package report

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/commlog/commlog/internal/browsertest"
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
	bin := browsertest.Find()
	if bin == "" {
		t.Skip("browser check skipped: Chromium is not installed (Debian: apt-get install -y chromium)")
	}

	// The negative control proves the console check can fail: a page that
	// logs an error and breaks its own CSP must be caught.
	t.Run("console check catches errors", func(t *testing.T) {
		bad := []byte(`<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head>` +
			`<body><p id="x">x</p><script>console.error("control-marker")</script><img src="http://127.0.0.1:9/x.png"></body></html>`)
		srv := servePage(t, bad)
		_, stderr := browsertest.Run(t, bin, "--dump-dom", srv.URL+"/report.html")
		if msgs := browsertest.ConsoleMessages(stderr); len(msgs) == 0 {
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
		dom, stderr := browsertest.Run(t, bin, "--dump-dom", srv.URL+"/report.html")
		if msgs := browsertest.ConsoleMessages(stderr); len(msgs) > 0 {
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
		_, stderr := browsertest.Screenshot(t, bin, shot, 1200, 2400, srv.URL+"/report.html")
		if msgs := browsertest.ConsoleMessages(stderr); len(msgs) > 0 {
			t.Errorf("console messages:\n%q", msgs)
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
