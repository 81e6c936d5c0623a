package sandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/commlog/commlog/internal/browsertest"
)

// The browser check, after report/browser_test.go: the timeline page of a
// seeded contact loaded in real headless Chromium must log no console
// message (the page has no script, so any message is a CSP violation — a
// wrong style hash — or an error), build the key elements, and render a
// non-blank screenshot (kept in the test's temporary directory).

func TestTimelineBrowser(t *testing.T) {
	bin := browsertest.Find()
	if bin == "" {
		t.Skip("browser check skipped: Chromium is not installed at /usr/bin/chromium (Debian: apt-get install -y chromium)")
	}
	h := start(t, Options{Contacts: 20, Seed: 3, Token: "pat-secret"})
	contact := h.srv.Objects("contacts", false)[4]
	comms := h.logTo(contact.ID, []string{"<p>Hello <b>there</b></p>", "<script>alert(1)</script> is shown, not run", "third"},
		[]string{"2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z"})
	h.must(200, "PATCH", "/crm/v3/objects/contacts/"+contact.ID, map[string]any{"properties": map[string]any{"hs_pinned_engagement_id": comms[1]}})
	pageURL := h.ts.URL + "/?" + url.Values{"q": {contact.Properties["email"]}}.Encode()

	// Negative control: the same page with a CSP that blocks its style
	// must produce a console message, or the check below proves nothing.
	t.Run("console check catches a CSP violation", func(t *testing.T) {
		_, _, page := h.page(url.Values{"q": {contact.Properties["email"]}})
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", "default-src 'none'")
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
		}))
		defer bad.Close()
		_, stderr := browsertest.Run(t, bin, "--dump-dom", bad.URL+"/")
		if len(browsertest.ConsoleMessages(stderr)) == 0 {
			t.Fatalf("no console message from a page whose style the CSP blocks; stderr:\n%s", stderr)
		}
	})

	t.Run("DOM and console", func(t *testing.T) {
		dom, stderr := browsertest.Run(t, bin, "--dump-dom", pageURL)
		if msgs := browsertest.ConsoleMessages(stderr); len(msgs) > 0 {
			t.Errorf("console messages:\n%q", msgs)
		}
		d := parseHTML(t, dom)
		for _, id := range []string{"search", "q", "contact", "contact-name", "count", "timeline", "pinned", "companies"} {
			if d.byID[id] == nil {
				t.Errorf("the DOM Chromium built has no #%s", id)
			}
		}
		assertNoActiveContent(t, d)
		items := d.withClass("comm")
		if len(items) != 3 || items[0].attrs["data-id"] != comms[1] {
			t.Errorf("timeline items %d, first %v; want 3 with the pinned %s first", len(items), items, comms[1])
		}
		if n := d.byID["count"]; n == nil || n.attrs["data-n"] != "3" {
			t.Errorf("#count = %+v", n)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(t.TempDir(), "timeline.png")
		_, stderr := browsertest.Screenshot(t, bin, shot, 1000, 900, pageURL)
		if msgs := browsertest.ConsoleMessages(stderr); len(msgs) > 0 {
			t.Errorf("console messages:\n%q", msgs)
		}
		t.Logf("screenshot: %s", shot)
	})
}
