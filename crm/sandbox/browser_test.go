package sandbox

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// The browser check, after report/browser_test.go: the timeline page of a
// seeded contact loaded in real headless Chromium must log no console
// message (the page has no script, so any message is a CSP violation — a
// wrong style hash — or an error), build the key elements, and render a
// non-blank screenshot (kept in the test's temporary directory).

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}
	cmd := exec.CommandContext(ctx, bin, append(flags, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", args, err, errb.Bytes())
	}
	return out.Bytes(), errb.Bytes()
}

var consoleRE = regexp.MustCompile(`:CONSOLE(?:\(\d+\)|:\d+)?\] "(.*)", source: (.*)`)

func consoleMessages(stderr []byte) []string {
	var out []string
	for _, m := range consoleRE.FindAllSubmatch(stderr, -1) {
		out = append(out, string(m[1])+" (source: "+string(m[2])+")")
	}
	return out
}

func TestTimelineBrowser(t *testing.T) {
	bin := findChromium()
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
		_, stderr := runChromium(t, bin, "--dump-dom", bad.URL+"/")
		if len(consoleMessages(stderr)) == 0 {
			t.Fatalf("no console message from a page whose style the CSP blocks; stderr:\n%s", stderr)
		}
	})

	t.Run("DOM and console", func(t *testing.T) {
		dom, stderr := runChromium(t, bin, "--dump-dom", pageURL)
		if msgs := consoleMessages(stderr); len(msgs) > 0 {
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
		_, stderr := runChromium(t, bin, "--screenshot="+shot, "--window-size=1000,900", pageURL)
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
		if b := img.Bounds(); b.Dx() != 1000 || b.Dy() != 900 {
			t.Errorf("screenshot is %v, want 1000x900", b.Size())
		}
		seen := map[[3]uint32]bool{}
		for y := 0; y < img.Bounds().Dy(); y += 7 {
			for x := 0; x < img.Bounds().Dx(); x += 7 {
				r, g, b, _ := img.At(x, y).RGBA()
				seen[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
			}
		}
		if len(seen) < 8 {
			t.Errorf("screenshot has %d colours: the page did not render", len(seen))
		}
		t.Logf("screenshot: %s", shot)
	})
}
