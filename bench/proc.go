package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// token is the bearer token between the bench's imports and its sandboxes.
const token = "bench-token"

// sandboxProc is a `commlog sandbox` child process on 127.0.0.1.
type sandboxProc struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// startSandbox runs `commlog sandbox` on a free port with args added to
// the fixed ones, and waits for its "listening on" line.
func startSandbox(ctx context.Context, bin string, args ...string) (*sandboxProc, error) {
	all := append([]string{"--log-level", "warn", "sandbox", "--addr", "127.0.0.1:0", "--token", token, "--state", "none", "--contacts", "1"}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	s := &sandboxProc{cmd: cmd, done: make(chan error, 1)}
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		for sc.Scan() { // drain: a full pipe would block the sandbox
		}
		s.done <- cmd.Wait()
	}()
	select {
	case line, ok := <-first:
		addr, found := strings.CutPrefix(line, "listening on ")
		if !ok || !found {
			s.stop()
			return nil, fmt.Errorf("sandbox's first line is %q, want 'listening on ...'", line)
		}
		s.url = addr
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, errors.New("the sandbox did not start within 30 s")
	}
	return s, nil
}

// stop ends the sandbox gracefully, then forcibly.
func (s *sandboxProc) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// get reads a sandbox endpoint as JSON.
func (s *sandboxProc) get(ctx context.Context, path string, v any) error {
	return s.do(ctx, http.MethodGet, path, v)
}

func (s *sandboxProc) do(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// sandboxStats are the parts of GET /__sandbox/stats the bench reads.
type sandboxStats struct {
	Requests    int64          `json:"requests"`
	RateLimited int64          `json:"rate_limited"`
	Objects     map[string]int `json:"objects"`
}

func (s *sandboxProc) stats(ctx context.Context) (sandboxStats, error) {
	var st sandboxStats
	err := s.get(ctx, "/__sandbox/stats", &st)
	return st, err
}

// contactID returns the id of the contact the sandbox was seeded with.
func (s *sandboxProc) contactID(ctx context.Context) (string, error) {
	var page struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
	}
	if err := s.get(ctx, "/crm/v3/objects/contacts?limit=1", &page); err != nil {
		return "", err
	}
	if len(page.Results) == 0 {
		return "", errors.New("the sandbox has no contact")
	}
	return page.Results[0].ID, nil
}

// importSummary is the part of `commlog --json import`'s summary the bench reads.
type importSummary struct {
	Rows             int64   `json:"rows"`
	Created          int64   `json:"created"`
	Done             int64   `json:"done"`
	AlreadyDone      int64   `json:"already_done"`
	Failed           int64   `json:"failed"`
	Invalid          int64   `json:"invalid"`
	InDoubt          int64   `json:"in_doubt"`
	Requests         int64   `json:"requests"`
	RateLimited      int64   `json:"rate_limited"`
	Retries          int64   `json:"retries"`
	ElapsedSeconds   float64 `json:"elapsed_seconds"`
	RecordsPerSecond float64 `json:"records_per_second"`
}

// importRun is one finished commlog child process (import, archive, restore).
type importRun struct {
	Summary importSummary
	// MaxRSS is the child's peak resident set size in bytes, from its rusage.
	MaxRSS int64
	// RSSSource says where MaxRSS came from: the child's rusage, or its
	// VmHWM polled every 10 ms (when the rusage was not its own).
	RSSSource string
	Wall      time.Duration
}

// watchHWM polls /proc/PID/status for the process's peak RSS (VmHWM, a
// high-water mark of its own address space) until the returned func is
// called, which returns the last value read in bytes (0 where /proc is
// missing). Growth in the last 10 ms before the process ends is missed.
func watchHWM(pid int) func() int64 {
	var last atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v := readHWM(path); v > last.Load() {
				last.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return last.Load()
	}
}

// readHWM reads VmHWM from a /proc status file, in bytes; 0 when it cannot.
func readHWM(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return parseHWM(string(b))
}

// parseHWM finds "VmHWM: N kB" in the text of a /proc status file and
// returns N kB in bytes; 0 when the line is missing or malformed.
func parseHWM(status string) int64 {
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		v, ok = strings.CutSuffix(strings.TrimSpace(v), "kB")
		if !ok {
			return 0
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || kb < 0 || kb > math.MaxInt64/1024 {
			return 0
		}
		return kb * 1024
	}
	return 0
}

// runImport runs `commlog import` as a child process against sb and
// requires it to finish with exit 0.
func runImport(ctx context.Context, bin string, sb *sandboxProc, mappingPath, ledger, input string) (*importRun, error) {
	return runCommlog(ctx, bin, sb, "import", "--mapping", mappingPath, "--ledger", ledger, "--search-settle", "1s", input)
}

// runCommlog runs a commlog command (import, archive, restore) with
// --json as a child process against sb, requires exit 0, and reads its
// summary and peak RSS.
func runCommlog(ctx context.Context, bin string, sb *sandboxProc, command string, args ...string) (*importRun, error) {
	all := append([]string{"--base-url", sb.url, "--no-progress", "--json", "--log-level", "warn", command}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	// Only what the command needs: the bench's own environment may hold a
	// real HubSpot token or base URL.
	cmd.Env = []string{"HUBSPOT_ACCESS_TOKEN=" + token}
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	self := selfMaxRSS()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("commlog %s: %w", command, err)
	}
	hwm := watchHWM(cmd.Process.Pid)
	err := cmd.Wait()
	wall := time.Since(start)
	polled := hwm()
	if err != nil {
		return nil, fmt.Errorf("commlog %s %s: %w: %s", command, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	run := &importRun{Wall: wall, MaxRSS: maxRSS(cmd.ProcessState), RSSSource: "rusage"}
	if run.MaxRSS <= self {
		// The rusage figure is this process's, not the child's (see All):
		// fall back to the child's own high-water mark, read while it ran.
		run.MaxRSS, run.RSSSource = polled, "VmHWM"
	}
	if err := json.Unmarshal(stdout.Bytes(), &run.Summary); err != nil {
		return nil, fmt.Errorf("commlog %s --json: reading the summary: %w", command, err)
	}
	return run, nil
}

// maxRSS reads a finished child's peak RSS in bytes (Linux reports
// kilobytes, macOS bytes).
func maxRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}

// selfMaxRSS is this process's peak RSS in bytes so far.
func selfMaxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}

// tailBuffer keeps the last max bytes written to it, for error messages.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }
