package batch

import (
	"context"
	"fmt"
	"time"
)

// searchChunk is how many keys one search asks for: HubSpot's IN filter
// takes up to 100 values.
const searchChunk = 100

// reconcilePending settles the rows an earlier run left "sent" or
// "in_doubt": once search has caught up with those writes, a key found in
// HubSpot is recorded as created; a key not found is sent again when its
// row comes by. Nothing is re-sent before this has run.
func (imp *importer) reconcilePending(ctx context.Context, st *ledgerState) error {
	pending, err := imp.keys.pending()
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	imp.log.Info("reconciling rows an earlier run left in doubt", "rows", len(pending))
	if err := imp.waitCaughtUp(ctx, "", st.lastEvent); err != nil {
		return err
	}
	keys := make([]string, len(pending))
	for i, id := range pending {
		keys[i] = id.String()
	}
	found, err := imp.searchKeys(ctx, keys)
	if err != nil {
		return fmt.Errorf("reconciling %d rows in doubt: %w", len(keys), err)
	}
	evs, err := imp.settlePending(pending, found)
	if err != nil {
		return err
	}
	imp.c.reconciled.Add(int64(len(evs)))
	imp.append(evs...)
	return imp.led.Commit()
}

// settlePending records what search found for the pending keys: found ones
// are created (and get a reconcile event), missing ones are to be sent again.
func (imp *importer) settlePending(pending []keyID, found map[string][]string) ([]LedgerRow, error) {
	var evs []LedgerRow
	imp.mu.Lock()
	defer imp.mu.Unlock()
	for _, id := range pending {
		e, _, err := imp.keys.get(id)
		if err != nil {
			return nil, err
		}
		ids := found[id.String()]
		e.state = kCreated
		if len(ids) == 0 {
			e.state = kNone // not in HubSpot: the row is sent again
		}
		if err := imp.keys.put(id, e); err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			continue
		}
		ev := LedgerRow{RunID: imp.runID, SourceFile: imp.keys.fileName(e), SourceLine: int(e.line),
			Key: id.String(), Operation: OpReconcile, State: StateCreated, HubSpotID: ids[0]}
		if len(ids) > 1 {
			ev.Category = "DUPLICATE_IN_HUBSPOT"
			ev.Message = fmt.Sprintf("%d records carry this key: %v", len(ids), ids)
			imp.c.dupFound.Add(int64(len(ids) - 1))
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// reconcileHeld settles this run's in-doubt rows before the run ends:
// found ones are recorded as created, missing ones are sent again, for a
// few rounds. Whatever is still in doubt after that waits for the next run.
func (imp *importer) reconcileHeld(ctx context.Context) error {
	for round := 0; round < 3; round++ {
		imp.mu.Lock()
		held, lostAt := imp.held, imp.heldLostAt
		canary := ""
		// A record whose request left after the last answer was lost was
		// written after every held row: once search shows it, it shows them.
		if imp.canarySent.After(lostAt) {
			canary = imp.canaryKey
		}
		imp.held, imp.heldLostAt = nil, time.Time{}
		imp.mu.Unlock()
		if len(held) == 0 {
			return nil
		}
		imp.log.Info("reconciling rows whose answer was lost", "rows", len(held), "round", round+1)
		if err := imp.waitCaughtUp(ctx, canary, lostAt); err != nil {
			return err
		}
		keys := make([]string, len(held))
		for i, p := range held {
			keys[i] = p.key
		}
		found, err := imp.searchKeys(ctx, keys)
		if err != nil {
			return fmt.Errorf("reconciling %d rows in doubt: %w", len(keys), err)
		}
		var evs []LedgerRow
		var resend []pendingRow
		for _, p := range held {
			ids := found[p.key]
			if len(ids) == 0 {
				resend = append(resend, p)
				continue
			}
			ev := imp.event(p, StateCreated, 0, 0)
			ev.Operation, ev.HubSpotID = OpReconcile, ids[0]
			if len(ids) > 1 {
				ev.Category = "DUPLICATE_IN_HUBSPOT"
				ev.Message = fmt.Sprintf("%d records carry this key: %v", len(ids), ids)
				imp.c.dupFound.Add(int64(len(ids) - 1))
			}
			evs = append(evs, ev)
		}
		imp.c.inDoubt.Add(-int64(len(held)))
		imp.c.reconciled.Add(int64(len(evs)))
		imp.append(evs...)
		if err := imp.led.Commit(); err != nil {
			return err
		}
		for start := 0; start < len(resend); start += imp.o.BatchSize {
			end := min(start+imp.o.BatchSize, len(resend))
			if err := imp.send(context.WithoutCancel(ctx), resend[start:end], round+2); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitCaughtUp returns once search can be trusted to show the writes made
// up to since. When a record known to be written later (the canary) shows
// up in search, it can; otherwise commlog waits out --search-settle.
func (imp *importer) waitCaughtUp(ctx context.Context, canary string, since time.Time) error {
	deadline := since.Add(imp.o.SearchSettle)
	if canary != "" {
		for {
			found, err := imp.searchKeys(ctx, []string{canary})
			if err != nil {
				return err
			}
			if len(found[canary]) > 0 {
				return nil
			}
			if imp.o.Now().After(deadline.Add(imp.o.SearchSettle)) {
				imp.log.Warn("search has not caught up after twice --search-settle; reconciling anyway")
				return nil
			}
			if err := sleepCtx(ctx, min(250*time.Millisecond, imp.o.SearchSettle)); err != nil {
				return err
			}
		}
	}
	if d := deadline.Sub(imp.o.Now()); d > 0 {
		imp.log.Info("waiting for HubSpot's search index to catch up", "wait", d.Round(time.Millisecond))
		return sleepCtx(ctx, d)
	}
	return nil
}

// searchKeys finds the records carrying each key, 100 keys a search.
func (imp *importer) searchKeys(ctx context.Context, keys []string) (map[string][]string, error) {
	return findKeys(ctx, imp.o.API, keys)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
