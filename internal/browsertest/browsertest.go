// Package browsertest runs headless Chromium for the browser checks of the
// pages commlog serves or writes (the run report, the sandbox's timeline):
// it finds the binary, runs it hermetically, reads the console messages it
// logs and checks its screenshots. Tests only; CI installs Debian's
// chromium package, and a test skips when Find returns "".
package browsertest

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Find returns the Chromium binary, or "" when there is none.
func Find() string {
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// flags keep headless Chromium hermetic: no sandbox (CI runs as root in a
// container), no GPU, no network of its own, a fresh profile.
func flags(profile string) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
	}
}

// Run runs Chromium once and returns its stdout and stderr.
func Run(t testing.TB, bin string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(flags(t.TempDir()), args...)...)
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

// ConsoleMessages lists the console messages in Chromium's stderr.
func ConsoleMessages(stderr []byte) []string {
	var out []string
	for _, m := range consoleRE.FindAllSubmatch(stderr, -1) {
		out = append(out, string(m[1])+" (source: "+string(m[2])+")")
	}
	return out
}

// Screenshot renders url at width×height into path and returns the image
// and Chromium's stderr; it fails the test unless the PNG has that size and
// at least 8 colours (a page that did not render is blank).
func Screenshot(t testing.TB, bin, path string, width, height int, url string) (image.Image, []byte) {
	t.Helper()
	_, stderr := Run(t, bin, "--screenshot="+path, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), url)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v\nstderr:\n%s", err, stderr)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Errorf("screenshot is %v, want %dx%d", b.Size(), width, height)
	}
	if n := Colours(img, 64); n < 8 {
		t.Errorf("screenshot has %d colours: the page did not render", n)
	}
	return img, stderr
}

// Colours counts distinct colours up to limit, on a coarse grid.
func Colours(img image.Image, limit int) int {
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
