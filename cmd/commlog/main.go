// Command commlog moves chat history (WhatsApp, LinkedIn, SMS) into and out
// of HubSpot CRM as communications records. This package only turns flags
// into options and calls the packages that do the work.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// env is everything a command may touch of the process: tests build one
// with buffers and a fake environment instead of the real ones.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// stderrIsTTY decides progress bars and confirmation prompts.
	stderrIsTTY bool
	stdinIsTTY  bool
}

func main() {
	// commlog waits on HubSpot, not on the CPU: a tighter GC target keeps
	// the peak memory of a million-row import well under 150 MB (the key
	// index is most of the live heap). GOGC in the environment overrides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	e := &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		stderrIsTTY: term.IsTerminal(int(os.Stderr.Fd())),
		stdinIsTTY:  term.IsTerminal(int(os.Stdin.Fd())),
	}
	ctx, stop := interruptContext(context.Background(), e.stderr)
	defer stop()
	os.Exit(run(ctx, e, os.Args))
}

// interruptContext cancels the returned context on the first SIGINT/SIGTERM
// (operations then finish in-flight work, flush and stop resumably) and ends
// the process on the second.
func interruptContext(parent context.Context, stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "commlog: interrupted; finishing in-flight batches (press Ctrl-C again to stop now)")
		cancel()
		<-ch
		fmt.Fprintln(stderr, "commlog: stopped; rows in flight stay 'sent' and are reconciled on the next run")
		os.Exit(exitStopped)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// run executes commlog with args and returns the exit code.
func run(ctx context.Context, e *env, args []string) int {
	g := &globals{env: e, args: args}
	app := newApp(g)
	err := app.RunContext(ctx, args)
	if err != nil {
		fmt.Fprintf(e.stderr, "commlog: %v\n", err)
	}
	return exitCode(err)
}

func newApp(g *globals) *cli.App {
	app := &cli.App{
		Name:    "commlog",
		Usage:   "move WhatsApp, LinkedIn and SMS history into and out of HubSpot as communications",
		Version: version,
		Description: "commlog imports exported chat logs into HubSpot CRM as communications, exactly once\n" +
			"and at the speed HubSpot's quota allows, exports them back out, and cleans them up safely.\n\n" +
			"The access token is read from HUBSPOT_ACCESS_TOKEN or --token-file, never from a flag value.\n\n" +
			"Example:\n  commlog --sandbox import --mapping samples/whatsapp.yaml samples/whatsapp.txt",
		Writer:    g.env.stdout,
		ErrWriter: g.env.stderr,
		Flags:     g.flags(),
		Before:    g.before,
		Commands:  commands(g),
		// Errors are printed once, by run; urfave must not exit the process.
		ExitErrHandler:       func(*cli.Context, error) {},
		EnableBashCompletion: false,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err: err}
		},
	}
	app.Setup()
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
		requireAsUsage(c)
	}
	return app
}

// requireAsUsage checks a command's required flags itself, so that a missing
// one is a usage error (exit 2); urfave/cli reports it as a plain error.
func requireAsUsage(c *cli.Command) {
	var required []string
	for _, f := range c.Flags {
		if rf, ok := f.(cli.RequiredFlag); ok && rf.IsRequired() {
			required = append(required, f.Names()[0])
			switch ff := f.(type) {
			case *cli.StringFlag:
				ff.Required = false
			case *cli.StringSliceFlag:
				ff.Required = false
			case *cli.IntFlag:
				ff.Required = false
			}
		}
	}
	if len(required) == 0 || c.Action == nil {
		return
	}
	action := c.Action
	c.Action = func(ctx *cli.Context) error {
		for _, name := range required {
			if !ctx.IsSet(name) {
				return usagef("%s: --%s is required (see 'commlog %s --help')", c.Name, name, c.Name)
			}
		}
		return action(ctx)
	}
}

// commands lists every registered command. A command is registered only
// once it works.
func commands(g *globals) []*cli.Command {
	return []*cli.Command{
		newImportCommand(g),
		newValidateCommand(g),
		newSandboxCommand(g),
		newReportCommand(g),
		newExportCommand(g),
		newUpdateCommand(g),
		newArchiveCommand(g),
		newRestoreCommand(g),
		newAssociateCommand(g),
		newPinCommand(g),
		newVerifyCommand(g),
	}
}

// globals holds the flags every command shares, filled before the command runs.
type globals struct {
	env        *env
	args       []string // the command line, recorded in run logs (it never holds the token)
	baseURL    string
	tokenFile  string
	sandbox    bool
	json       bool
	noProgress bool
	logLevel   string
	logPII     bool
	logger     *slog.Logger
	// sandboxContacts seeds a new embedded sandbox with these contacts.
	sandboxContacts string
	// sandboxState is where the embedded sandbox keeps its state.
	sandboxState string
}

func (g *globals) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "base-url", EnvVars: []string{"HUBSPOT_BASE_URL"}, Value: "https://api.hubapi.com",
			Usage: "HubSpot API base URL", Destination: &g.baseURL},
		&cli.StringFlag{Name: "token-file", EnvVars: []string{"HUBSPOT_TOKEN_FILE"},
			Usage: "read the access token from this file (default: $HUBSPOT_ACCESS_TOKEN)", Destination: &g.tokenFile},
		&cli.BoolFlag{Name: "sandbox", EnvVars: []string{"COMMLOG_SANDBOX"},
			Usage: "run against an embedded HubSpot sandbox whose state lives in .commlog/sandbox/", Destination: &g.sandbox},
		&cli.StringFlag{Name: "sandbox-state", EnvVars: []string{"COMMLOG_SANDBOX_STATE"}, Value: ".commlog/sandbox",
			Usage: "where the embedded sandbox keeps its state", Destination: &g.sandboxState},
		&cli.StringFlag{Name: "sandbox-contacts", EnvVars: []string{"COMMLOG_SANDBOX_CONTACTS"},
			Usage: "seed a new embedded sandbox with the contacts of this CSV (HubSpot property names as header)", Destination: &g.sandboxContacts},
		&cli.BoolFlag{Name: "json", EnvVars: []string{"COMMLOG_JSON"},
			Usage: "print a machine-readable run summary on stdout (messages stay on stderr)", Destination: &g.json},
		&cli.BoolFlag{Name: "no-progress", EnvVars: []string{"COMMLOG_NO_PROGRESS"},
			Usage: "never draw a progress bar", Destination: &g.noProgress},
		&cli.StringFlag{Name: "log-level", EnvVars: []string{"COMMLOG_LOG_LEVEL"}, Value: "info",
			Usage: "debug, info, warn or error", Destination: &g.logLevel},
		&cli.BoolFlag{Name: "log-pii", EnvVars: []string{"COMMLOG_LOG_PII"},
			Usage: "allow message bodies and phone numbers in logs and reports", Destination: &g.logPII},
	}
}

func (g *globals) before(*cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	g.logger = slog.New(slog.NewTextHandler(g.env.stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

// token returns the access token from --token-file or HUBSPOT_ACCESS_TOKEN.
// It is never taken from a flag value, which would land in shell history.
func (g *globals) token() (string, error) {
	if g.tokenFile != "" {
		b, err := os.ReadFile(g.tokenFile)
		if err != nil {
			return "", fmt.Errorf("reading --token-file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("--token-file %s is empty", g.tokenFile)
		}
		return t, nil
	}
	if t := strings.TrimSpace(g.env.getenv("HUBSPOT_ACCESS_TOKEN")); t != "" {
		return t, nil
	}
	return "", fmt.Errorf("no access token: set HUBSPOT_ACCESS_TOKEN or --token-file (or use --sandbox)")
}

// progress reports whether a progress bar may be drawn on stderr.
func (g *globals) progress() bool { return !g.noProgress && g.env.stderrIsTTY }

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
