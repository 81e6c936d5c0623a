package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/commlog/commlog/crm"
	"github.com/commlog/commlog/crm/sandbox"
)

// clientOptions are the per-command settings of the HubSpot client.
type clientOptions struct {
	TPS          float64
	DailyReserve int64
}

// connect returns the HubSpot client a command talks through and a
// function that releases it. With --sandbox it first starts the embedded
// sandbox on 127.0.0.1 with its state in .commlog/sandbox/.
func (g *globals) connect(ctx context.Context, co clientOptions) (*crm.Client, func() error, error) {
	opts := crm.Options{
		BaseURL:      g.baseURL,
		Logger:       g.logger,
		LogPII:       g.logPII,
		UserAgent:    "commlog/" + version,
		TPS:          co.TPS,
		DailyReserve: co.DailyReserve,
	}
	closeFn := func() error { return nil }
	if g.sandbox {
		url, stop, token, err := g.startEmbedded(ctx)
		if err != nil {
			return nil, nil, err
		}
		opts.BaseURL, opts.Token, closeFn = url, token, stop
	} else {
		tok, err := g.token()
		if err != nil {
			return nil, nil, err
		}
		opts.Token = tok
	}
	c, err := crm.New(opts)
	if err != nil {
		_ = closeFn()
		return nil, nil, err
	}
	return c, closeFn, nil
}

// startEmbedded runs the sandbox in-process, behind a fresh random token
// so that the client's auth path is exercised as against HubSpot.
func (g *globals) startEmbedded(ctx context.Context) (url string, stop func() error, token string, err error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, "", err
	}
	token = "sandbox-" + hex.EncodeToString(b[:])
	srv, err := sandbox.New(sandbox.Options{
		Token:        token,
		Tier:         "pro",
		SearchLag:    time.Second,
		StateDir:     g.sandboxState,
		ContactsFile: g.sandboxContacts,
		Logger:       g.logger,
	})
	if err != nil {
		return "", nil, "", fmt.Errorf("starting the embedded sandbox: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return "", nil, "", fmt.Errorf("starting the embedded sandbox: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	g.logger.Debug("embedded sandbox", "url", "http://"+ln.Addr().String(), "state", g.sandboxState)
	stop = func() error {
		cancel()
		serr := <-done
		if errors.Is(serr, context.Canceled) {
			serr = nil
		}
		return errors.Join(serr, srv.Close())
	}
	return "http://" + ln.Addr().String(), stop, token, nil
}
