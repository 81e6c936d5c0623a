package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/commlog/commlog/crm/sandbox"
)

// sandboxOptions are the sandbox command's flags.
type sandboxOptions struct {
	Addr         string
	Token        string
	TokenFile    string
	Tier         string
	Burst        int
	Window       time.Duration
	Daily        int64
	SearchLag    time.Duration
	Latency      time.Duration
	Jitter       time.Duration
	Faults       string
	Seed         int64
	State        string // "" or "none": memory only
	Contacts     int
	ContactsFile string

	Stderr io.Writer
	Logger *slog.Logger
}

func newSandboxCommand(g *globals) *cli.Command {
	o := sandboxOptions{}
	return &cli.Command{
		Name:  "sandbox",
		Usage: "run a local HubSpot-compatible server (no HubSpot account needed)",
		Description: "Serves HubSpot's CRM API for communications, contacts, companies, deals, tickets,\n" +
			"associations, properties and owners — same paths, status codes, error bodies, rate-limit\n" +
			"headers and limits — with state kept in --state across restarts. The first line on stderr\n" +
			"is 'listening on http://ADDR'. Stop it with Ctrl-C; the state is flushed.\n\n" +
			"Not HubSpot API: GET /__sandbox/stats, POST /__sandbox/reset, and GET / — a contact\n" +
			"timeline page for people: open http://ADDR/ in a browser, search a contact by name, email\n" +
			"or phone and read its communications (pinned first, then newest). The page needs no token\n" +
			"even with --token (the token guards the API, as HubSpot's does); it is served wherever the\n" +
			"sandbox listens, 127.0.0.1 by default, so do not bind beyond loopback if the data is private.\n\n" +
			"Examples:\n" +
			"  commlog sandbox --contacts 200\n" +
			"  commlog sandbox --addr 127.0.0.1:0 --tier free --faults 5xx=0.02,drop=0.01 --seed 7\n" +
			"  commlog --base-url http://127.0.0.1:8089 import --mapping samples/whatsapp.yaml samples/whatsapp.txt",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8089", Usage: "listen address (port 0 picks a free one)", Destination: &o.Addr},
			&cli.StringFlag{Name: "token", Usage: "require 'Authorization: Bearer TOKEN' (default: $COMMLOG_SANDBOX_TOKEN; none = no auth)", Destination: &o.Token},
			&cli.StringFlag{Name: "token-file", Usage: "read the required token from this file", Destination: &o.TokenFile},
			&cli.StringFlag{Name: "tier", Value: "pro", Usage: "HubSpot rate limits of: " + strings.Join(sandbox.Tiers(), ", "), Destination: &o.Tier},
			&cli.IntFlag{Name: "burst", Usage: "requests per window (default: the tier's)", Destination: &o.Burst},
			&cli.DurationFlag{Name: "window", Usage: "rolling rate window (default 10s)", Destination: &o.Window},
			&cli.Int64Flag{Name: "daily", Usage: "daily request quota (default: the tier's)", Destination: &o.Daily},
			&cli.DurationFlag{Name: "search-lag", Value: time.Second, Usage: "how long writes take to become visible to search", Destination: &o.SearchLag},
			&cli.DurationFlag{Name: "latency", Usage: "added round-trip time, e.g. 250ms", Destination: &o.Latency},
			&cli.DurationFlag{Name: "jitter", Usage: "random ± variation of --latency", Destination: &o.Jitter},
			&cli.StringFlag{Name: "faults", Usage: "fault rates, e.g. 5xx=0.02,429=0.01,reset=0.01,drop=0.01,slow=0.01", Destination: &o.Faults},
			&cli.Int64Flag{Name: "seed", Usage: "seed for faults, jitter and synthetic contacts (reproducible runs)", Destination: &o.Seed},
			&cli.StringFlag{Name: "state", Value: ".commlog/sandbox", Usage: "directory that keeps the state across restarts ('none': memory only)", Destination: &o.State},
			&cli.IntFlag{Name: "contacts", Usage: "seed a new state with N synthetic contacts (+ companies, deals, tickets)", Destination: &o.Contacts},
			&cli.StringFlag{Name: "contacts-file", Usage: "seed a new state with the contacts of this CSV (HubSpot export or property-named columns)", Destination: &o.ContactsFile},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("sandbox takes no arguments, got %q", c.Args().First())
			}
			if o.Token == "" && o.TokenFile == "" {
				o.Token = strings.TrimSpace(g.env.getenv("COMMLOG_SANDBOX_TOKEN"))
			}
			o.Stderr, o.Logger = g.env.stderr, g.logger
			return runSandbox(c.Context, o)
		},
	}
}

// sandboxServerOptions turns flags into the server's options.
func sandboxServerOptions(o sandboxOptions) (sandbox.Options, error) {
	faults, err := sandbox.ParseFaults(o.Faults)
	if err != nil {
		return sandbox.Options{}, usageError{err: fmt.Errorf("--faults: %w", err)}
	}
	token := o.Token
	if o.TokenFile != "" {
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return sandbox.Options{}, fmt.Errorf("reading --token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return sandbox.Options{}, fmt.Errorf("--token-file %s is empty", o.TokenFile)
		}
	}
	state := o.State
	if state == "none" {
		state = ""
	}
	if o.Burst < 0 || o.Daily < 0 || o.Window < 0 || o.Latency < 0 || o.Jitter < 0 || o.SearchLag < 0 || o.Contacts < 0 {
		return sandbox.Options{}, usagef("--burst, --daily, --window, --latency, --jitter, --search-lag and --contacts must not be negative")
	}
	return sandbox.Options{
		Token: token, Tier: o.Tier, Burst: o.Burst, Window: o.Window, Daily: o.Daily,
		SearchLag: o.SearchLag, Latency: o.Latency, Jitter: o.Jitter, Faults: faults, Seed: o.Seed,
		StateDir: state, Contacts: o.Contacts, ContactsFile: o.ContactsFile, Logger: o.Logger,
	}, nil
}

// runSandbox serves until ctx is cancelled (SIGINT/SIGTERM), then shuts
// down gracefully and flushes the state.
func runSandbox(ctx context.Context, o sandboxOptions) error {
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(o.Stderr, nil))
	}
	opts, err := sandboxServerOptions(o)
	if err != nil {
		return err
	}
	srv, err := sandbox.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("sandbox: %w", err)
	}
	fmt.Fprintf(o.Stderr, "listening on http://%s\n", ln.Addr())
	st := srv.Stats()
	where := "memory only"
	if opts.StateDir != "" {
		where = opts.StateDir
	}
	o.Logger.Info("sandbox ready", "timeline", "http://"+ln.Addr().String()+"/", "tier", o.Tier, "auth", opts.Token != "", "state", where,
		"communications", st.Objects["communications"], "contacts", st.Objects["contacts"], "faults", opts.Faults.String())
	serr := srv.Serve(ctx, ln)
	cerr := srv.Close()
	if serr != nil {
		return serr
	}
	if cerr != nil {
		return fmt.Errorf("sandbox: saving state: %w", cerr)
	}
	fmt.Fprintf(o.Stderr, "sandbox stopped; state in %s\n", where)
	return nil
}
