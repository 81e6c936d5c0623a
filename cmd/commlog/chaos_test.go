package main

// The chaos suite runs the real binary against a real sandbox process and
// does its worst: kill -9 of the import at random moments, injected faults
// (5xx, 429, resets, commit-then-drop) and sandbox restarts mid-run. After
// each trial it counts the communications in the sandbox: every row must be
// there exactly once. `make test` runs 2 trials of each scenario;
// `make chaos` runs 20 (COMMLOG_CHAOS_TRIALS). TestChaosCleanUp
// (chaos_cleanup_test.go) does the same to archive and restore.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const chaosToken = "chaos-token"

// chaosBinary builds commlog once per test binary run, or takes the one
// COMMLOG_CHAOS_BIN names (make chaos passes the binary it just built).
func chaosBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("COMMLOG_CHAOS_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("COMMLOG_CHAOS_BIN: %v", err)
		}
		return bin
	}
	bin := filepath.Join(t.TempDir(), "commlog")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building commlog: %v", err)
	}
	return bin
}

func chaosTrials(t *testing.T) int {
	n := 2
	if s := os.Getenv("COMMLOG_CHAOS_TRIALS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("COMMLOG_CHAOS_TRIALS=%q", s)
		}
		n = v
	}
	if testing.Short() {
		t.Skip("chaos suite skipped in -short mode")
	}
	return n
}

func chaosRows() int {
	if s := os.Getenv("COMMLOG_CHAOS_ROWS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			return v
		}
	}
	return 20000
}

// sandboxProc is a `commlog sandbox` process on a fixed port, so that it
// can be restarted where the import expects it.
type sandboxProc struct {
	t     *testing.T
	bin   string
	addr  string
	state string
	args  []string
	cmd   *exec.Cmd
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *sandboxProc) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatal(err)
	}
}

// tryStart starts the sandbox and waits for its "listening on" line; it
// may run on any goroutine.
func (s *sandboxProc) tryStart() error {
	args := append([]string{"sandbox", "--addr", s.addr, "--state", s.state, "--token", chaosToken}, s.args...)
	cmd := exec.Command(s.bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		io.Copy(io.Discard, stderr)
	}()
	select {
	case line := <-first:
		if !strings.HasPrefix(line, "listening on http://") {
			cmd.Process.Kill()
			cmd.Wait()
			return fmt.Errorf("sandbox's first line: %q", line)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return errors.New("sandbox did not start")
	}
	s.cmd = cmd
	return nil
}

// created is how many communications the sandbox holds now, read from its
// introspection endpoint (which no fault touches); -1 while it is down.
func (s *sandboxProc) created() int { return s.stat("communications") }

// stat reads one of the sandbox's object counters ("communications" are
// the live ones, "communications_archived" the archived); -1 while down.
func (s *sandboxProc) stat(name string) int {
	var st struct {
		Objects map[string]int `json:"objects"`
	}
	if err := s.getOnce("/__sandbox/stats", &st); err != nil {
		return -1
	}
	return st.Objects[name]
}

// whenCreated calls fn once the sandbox holds at least n communications,
// unless ctx ends first.
func (s *sandboxProc) whenCreated(ctx context.Context, n int, fn func()) {
	when(ctx, func() bool { return s.created() >= n }, fn)
}

// when calls fn once cond holds, polling, unless ctx ends first.
func when(ctx context.Context, cond func() bool, fn func()) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			fn()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *sandboxProc) stop(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	s.cmd.Wait()
	s.cmd = nil
}

func (s *sandboxProc) url() string { return "http://" + s.addr }

// get reads a sandbox endpoint as JSON. The sandbox injects its faults
// into these reads too (429s, 5xx, resets), so a failed read is tried
// again: the census must count what is stored, not what one flaky read saw.
func (s *sandboxProc) get(path string, v any) error {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
		}
		if err = s.getOnce(path, v); err == nil {
			return nil
		}
	}
	return err
}

func (s *sandboxProc) getOnce(path string, v any) error {
	req, _ := http.NewRequest("GET", s.url()+path, nil)
	req.Header.Set("Authorization", "Bearer "+chaosToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// census pages every communication and counts keys: expected, found,
// duplicated and missing against the input's keys.
type census struct {
	Expected, Found, Duplicated, Missing int
	// What the trial did to the import: kill -9s that landed, and whether
	// the sandbox restarted while the import ran.
	Kills     int
	Restarted bool
}

// hurt says what the trial did besides the faults.
func (c census) hurt() string {
	var parts []string
	if c.Kills > 0 {
		parts = append(parts, fmt.Sprintf("%d kill -9", c.Kills))
	}
	if c.Restarted {
		parts = append(parts, "sandbox restarted mid-run")
	}
	if len(parts) == 0 {
		return "faults only"
	}
	return strings.Join(parts, ", ")
}

func (s *sandboxProc) census(t *testing.T, expected int) census {
	t.Helper()
	seen := map[string]int{}
	after := ""
	for {
		var page struct {
			Results []struct {
				ID         string            `json:"id"`
				Properties map[string]string `json:"properties"`
			} `json:"results"`
			Paging *struct {
				Next struct {
					After string `json:"after"`
				} `json:"next"`
			} `json:"paging"`
		}
		path := "/crm/v3/objects/communications?limit=100&properties=commlog_key,hs_communication_body"
		if after != "" {
			path += "&after=" + after
		}
		if err := s.get(path, &page); err != nil {
			t.Fatalf("census: %v", err)
		}
		for _, r := range page.Results {
			seen[r.Properties["hs_communication_body"]]++
		}
		if page.Paging == nil || page.Paging.Next.After == "" {
			break
		}
		after = page.Paging.Next.After
	}
	c := census{Expected: expected}
	for i := 0; i < expected; i++ {
		switch n := seen[fmt.Sprintf("chaos message %d", i)]; {
		case n == 0:
			c.Missing++
		case n > 1:
			c.Duplicated += n - 1
		}
		if seen[fmt.Sprintf("chaos message %d", i)] > 0 {
			c.Found++
		}
	}
	return c
}

func writeChaosInput(t *testing.T, dir string, rows int, contact string) (input, mappingPath string) {
	t.Helper()
	input = filepath.Join(dir, "chaos.csv")
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "msg_id,sent_at,text,contact")
	for i := 0; i < rows; i++ {
		fmt.Fprintf(w, "c%06d,%d,chaos message %d,%s\n", i, 1714521600000+int64(i)*1000, i, contact)
	}
	w.Flush()
	f.Close()
	mappingPath = filepath.Join(dir, "chaos.yaml")
	m := `version: 1
source: { format: csv }
communication:
  channel: SMS
  timestamp: { column: sent_at, layout: epoch_ms }
  body: { template: "{{ .text }}" }
key: [msg_id]
associations:
  - { to: contacts, by: id, column: contact }
`
	if err := os.WriteFile(mappingPath, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	return input, mappingPath
}

// chaosScenario is one way of hurting an import.
type chaosScenario struct {
	name   string
	faults string // sandbox --faults
	kills  int    // kill -9s of the import before it may finish
	// restart the sandbox (SIGTERM, start again) while the import runs
	restart bool
}

func TestChaos(t *testing.T) {
	trials := chaosTrials(t)
	bin := chaosBinary(t)
	scenarios := []chaosScenario{
		{name: "kill-9", faults: "5xx=0.02,429=0.01,drop=0.01", kills: 3},
		{name: "faults", faults: "5xx=0.02,429=0.01,reset=0.01,drop=0.01"},
		{name: "sandbox-restart", faults: "5xx=0.02,drop=0.01", restart: true},
	}
	rows := chaosRows()
	var report, totals []string
	for _, sc := range scenarios {
		var sum census
		n := 0
		for trial := 1; trial <= trials; trial++ {
			name := fmt.Sprintf("%s/%d", sc.name, trial)
			ok := t.Run(name, func(t *testing.T) {
				c := runChaosTrial(t, bin, sc, int64(trial), rows)
				n++
				sum.Expected, sum.Found, sum.Duplicated, sum.Missing = sum.Expected+c.Expected, sum.Found+c.Found,
					sum.Duplicated+c.Duplicated, sum.Missing+c.Missing
				sum.Kills += c.Kills
				line := fmt.Sprintf("%-20s expected %6d  found %6d  duplicated %d  missing %d  (%s)",
					name, c.Expected, c.Found, c.Duplicated, c.Missing, c.hurt())
				report = append(report, line)
				if c.Duplicated != 0 || c.Missing != 0 || c.Found != c.Expected {
					t.Errorf("%s", line)
				}
			})
			if !ok {
				break
			}
		}
		totals = append(totals, fmt.Sprintf("%-16s %2d trials  expected %7d  found %7d  duplicated %d  missing %d  kill -9s %d",
			sc.name, n, sum.Expected, sum.Found, sum.Duplicated, sum.Missing, sum.Kills))
	}
	fmt.Println("chaos results:")
	for _, l := range report {
		fmt.Println("  " + l)
	}
	fmt.Println("chaos totals:")
	for _, l := range totals {
		fmt.Println("  " + l)
	}
}

func runChaosTrial(t *testing.T, bin string, sc chaosScenario, seed int64, rows int) census {
	dir := t.TempDir()
	sb, contact := startChaosSandbox(t, bin, dir, sc.faults, seed)
	defer sb.stop(syscall.SIGTERM)
	input, mappingPath := writeChaosInput(t, dir, rows, contact)
	ledger := filepath.Join(dir, "ledger.csv")
	rng := rand.New(rand.NewPCG(uint64(seed), 42))

	runImport := func(ctx context.Context) (int, error) {
		return runChaosCommand(ctx, bin, sb, "import", "--mapping", mappingPath, "--ledger", ledger, "--search-settle", "1s", input)
	}

	// A kill lands when the sandbox holds a random number of the rows: a
	// target below what is there already kills the next run during its
	// start-up (index build, reconciliation), one above it mid-write.
	killed := 0
	for k := 0; k < sc.kills; k++ {
		ctx, cancel := context.WithCancel(context.Background())
		delay, target := time.Duration(50+rng.IntN(250))*time.Millisecond, rng.IntN(rows)
		go func() {
			if sleepCtx(ctx, delay) == nil {
				sb.whenCreated(ctx, target, cancel)
			}
		}()
		code, err := runImport(ctx)
		cancel()
		if code == 0 {
			break // finished before the kill
		}
		if code == -1 {
			killed++
			continue
		}
		if code != exitInDoubt {
			t.Fatalf("import before kill %d: exit %d: %v", k+1, code, err)
		}
	}
	if sc.kills > 0 && killed == 0 {
		t.Errorf("no kill landed: every import finished first")
	}
	restarted := false
	if sc.restart {
		// The restart lands when a quarter to three quarters of the rows
		// are stored, so that the import is mid-write.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var running atomic.Bool
		running.Store(true)
		go func() {
			var err error
			sb.whenCreated(ctx, rows/4+rng.IntN(rows/2+1), func() {
				restarted = running.Load()
				sb.stop(syscall.SIGTERM)
				time.Sleep(300 * time.Millisecond)
				err = sb.tryStart()
			})
			done <- err
		}()
		code, err := runImport(context.Background())
		running.Store(false)
		cancel()
		if rerr := <-done; rerr != nil {
			t.Fatalf("restarting the sandbox: %v", rerr)
		}
		if code != 0 && code != exitInDoubt && code != exitFatal {
			t.Fatalf("import across a sandbox restart: exit %d: %v", code, err)
		}
		if !restarted {
			t.Errorf("the sandbox restart did not land while the import ran")
		}
	}
	for attempt := 0; ; attempt++ {
		code, err := runImport(context.Background())
		if code == 0 {
			break
		}
		if attempt >= 6 || code != exitInDoubt && code != exitFatal {
			t.Fatalf("resume %d: exit %d: %v", attempt+1, code, err)
		}
	}
	c := sb.census(t, rows)
	c.Kills, c.Restarted = killed, restarted
	return c
}

// startChaosSandbox starts a sandbox for one trial with the given faults
// and seed and returns it with the id of its one contact.
func startChaosSandbox(t *testing.T, bin, dir, faults string, seed int64) (*sandboxProc, string) {
	t.Helper()
	sb := &sandboxProc{t: t, bin: bin, addr: freeAddr(t), state: filepath.Join(dir, "sandbox"),
		// --window: the client pauses one window after a 429 (injected
		// ones too); a 1 s window keeps that pause short. The unlimited
		// tier advertises a budget no import fills, so the client goes
		// flat out between faults.
		args: []string{"--tier", "unlimited", "--window", "1s",
			"--faults", faults, "--seed", strconv.FormatInt(seed, 10),
			"--search-lag", "200ms", "--contacts", "1"}}
	sb.start()
	var contacts struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
	}
	if err := sb.get("/crm/v3/objects/contacts?limit=1", &contacts); err != nil || len(contacts.Results) == 0 {
		sb.stop(syscall.SIGTERM)
		t.Fatalf("reading a contact: %v", err)
	}
	return sb, contacts.Results[0].ID
}

// runChaosCommand runs one commlog command against sb and returns its
// exit code, -1 when ctx ended (the test killed it), with the last lines
// of its stderr as the error of a non-zero exit.
func runChaosCommand(ctx context.Context, bin string, sb *sandboxProc, args ...string) (int, error) {
	all := append([]string{"--base-url", sb.url(), "--no-progress", "--log-level", "warn"}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.Env = append(os.Environ(), "HUBSPOT_ACCESS_TOKEN="+chaosToken)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil && ctx.Err() != nil {
		return -1, nil // killed by us
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), fmt.Errorf("%s", lastLines(stderr.String(), 5))
	}
	return 0, err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestChaosCensus is the census's negative control: records stored twice
// or not at all are counted as such, so a chaos trial can fail.
func TestChaosCensus(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos suite skipped in -short mode")
	}
	bin := chaosBinary(t)
	sb := &sandboxProc{t: t, bin: bin, addr: freeAddr(t), state: filepath.Join(t.TempDir(), "sandbox"),
		args: []string{"--tier", "unlimited", "--contacts", "1"}}
	sb.start()
	defer sb.stop(syscall.SIGTERM)
	// Messages 0 (twice), 1 (three times) and 3: of 5 expected, 2 and 4
	// are missing and 3 copies are duplicates.
	var inputs []string
	for _, i := range []int{0, 0, 1, 1, 1, 3} {
		inputs = append(inputs, fmt.Sprintf(`{"properties":{"hs_communication_body":"chaos message %d",`+
			`"hs_communication_channel_type":"SMS","hs_timestamp":"2024-05-01T00:00:00.000Z"}}`, i))
	}
	req, _ := http.NewRequest("POST", sb.url()+"/crm/v3/objects/communications/batch/create",
		strings.NewReader(`{"inputs":[`+strings.Join(inputs, ",")+`]}`))
	req.Header.Set("Authorization", "Bearer "+chaosToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("batch create: HTTP %d", resp.StatusCode)
	}
	got := sb.census(t, 5)
	want := census{Expected: 5, Found: 3, Duplicated: 3, Missing: 2}
	if got != want {
		t.Errorf("census = %+v, want %+v", got, want)
	}
}
