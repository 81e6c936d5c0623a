package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startSandboxCmd runs "commlog sandbox args..." in-process and returns its
// base URL, a stop function that returns the exit code, and stderr so far.
func startSandboxCmd(t *testing.T, vars map[string]string, args ...string) (string, func() (int, string)) {
	t.Helper()
	e, _, _ := testEnv(vars)
	pr, pw := io.Pipe()
	e.stderr = pw
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, e, append([]string{"commlog", "sandbox"}, args...))
		pw.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var first string
	select {
	case first = <-lines:
	case c := <-code:
		cancel()
		var rest []string
		for l := range lines {
			rest = append(rest, l)
		}
		t.Fatalf("sandbox exited %d before listening: %s", c, strings.Join(rest, "\n"))
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("sandbox did not print its address")
	}
	if !strings.HasPrefix(first, "listening on http://127.0.0.1:") {
		cancel()
		t.Fatalf("first stderr line = %q", first)
	}
	stop := func() (int, string) {
		cancel()
		c := <-code
		var rest []string
		for l := range lines {
			rest = append(rest, l)
		}
		return c, strings.Join(rest, "\n")
	}
	return strings.TrimPrefix(first, "listening on "), stop
}

func sandboxRequest(t *testing.T, method, url, token, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestSandboxCommand(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("pat-file\n"), 0o600)
	body := `{"properties":{"hs_communication_channel_type":"SMS","hs_communication_logged_from":"CRM","hs_communication_body":"hi","hs_timestamp":"1714557600000"},"associations":[]}`

	url, stop := startSandboxCmd(t, nil, "--addr", "127.0.0.1:0", "--state", state, "--token-file", tokenFile, "--tier", "free", "--contacts", "4")
	if r := sandboxRequest(t, "GET", url+"/crm/v3/objects/contacts", "", ""); r.StatusCode != 401 {
		t.Errorf("no token: %d", r.StatusCode)
	}
	r := sandboxRequest(t, "POST", url+"/crm/v3/objects/communications", "pat-file", body)
	if r.StatusCode != 201 || r.Header.Get("X-HubSpot-RateLimit-Max") != "100" {
		t.Errorf("create: %d, max %q", r.StatusCode, r.Header.Get("X-HubSpot-RateLimit-Max"))
	}
	// The timeline page is open without the token and lists the seeded contacts.
	if r := sandboxRequest(t, "GET", url+"/", "", ""); r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Errorf("timeline page without token: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if code, out := stop(); code != 0 || !strings.Contains(out, "sandbox stopped") {
		t.Fatalf("exit %d: %s", code, out)
	}

	// Restart on the same state, token from the environment: the record is kept, contacts are not re-seeded.
	url, stop = startSandboxCmd(t, map[string]string{"COMMLOG_SANDBOX_TOKEN": "pat-env"}, "--addr", "127.0.0.1:0", "--state", state, "--contacts", "4", "--tier", "unlimited")
	if r := sandboxRequest(t, "GET", url+"/crm/v3/objects/communications/50000000000", "pat-env", ""); r.StatusCode != 404 {
		t.Errorf("unknown id: %d", r.StatusCode)
	}
	resp, err := http.Get(url + "/__sandbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("stats without token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", url+"/__sandbox/stats", nil)
	req.Header.Set("Authorization", "Bearer pat-env")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"communications":1`) || !strings.Contains(string(b), `"contacts":4`) {
		t.Errorf("stats after restart: %s", b)
	}
	if code, out := stop(); code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestSandboxCommandUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"bad faults", []string{"--faults", "boom=1", "--state", "none"}, exitUsage},
		{"bad tier", []string{"--tier", "platinum", "--state", "none"}, exitFatal},
		{"negative burst", []string{"--burst", "-1", "--state", "none"}, exitUsage},
		{"stray argument", []string{"extra"}, exitUsage},
		{"missing token file", []string{"--token-file", "/nonexistent/token", "--state", "none"}, exitFatal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, errb := testEnv(nil)
			if got := run(context.Background(), e, append([]string{"commlog", "sandbox", "--addr", "127.0.0.1:0"}, tt.args...)); got != tt.want {
				t.Errorf("exit %d, want %d: %s", got, tt.want, errb)
			}
		})
	}
}
