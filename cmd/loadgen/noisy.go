package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// noisyConfig is the noisy-neighbour measurement: a healthy subscription's publish-to-receipt
// latency alone, then beside another account's receiver that never answers and its uploaded
// plugin that loops on every event.
type noisyConfig struct {
	rate    int
	d       time.Duration
	plugin  string // the looping plugin's .wasm
	hung    int    // events queued to the hung receiver (0: none)
	looping int    // events for the looping plugin (0: none)
}

// noisy runs on a server of its own, so that the backlog it leaves never slows another step. The
// plugin is never quarantined there (--plugin-quarantine-after -1, unless --server-flags says
// otherwise): quarantine would stop its calls within seconds, and this measures the worst case, a
// plugin looping for the whole run.
func noisy(ctx context.Context, cfg config, nc noisyConfig, t *table) error {
	wasm, err := os.ReadFile(nc.plugin)
	if err != nil {
		return fmt.Errorf("the looping plugin (make bench builds it): %w", err)
	}
	scfg := cfg
	scfg.cpuProfile = ""
	// First, so that --server-flags may set it back (the last of a flag given twice counts).
	scfg.serverFlags = strings.TrimSpace("--plugin-quarantine-after -1 " + cfg.serverFlags)
	srv, err := startServer(ctx, scfg)
	if err != nil {
		return err
	}
	defer srv.stop()
	hung, err := newHangingReceiver()
	if err != nil {
		return err
	}
	// Closed before the server stops (defers run in reverse): the server's hung requests end.
	defer hung.close()
	rc := newReceiver()
	defer rc.close()

	tn, err := setup(srv.base, rc.url+"/healthy", 1, nil)
	if err != nil {
		return err
	}
	healthy := &publisher{base: srv.base, token: tn.token, account: tn.account}
	measure := func(what string) error {
		rc.reset()
		n, err := healthy.paced(ctx, rc, nc.rate, nc.d)
		if err != nil {
			return err
		}
		if err := rc.waitFor(ctx, n, 2*time.Minute); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		t.add(fmt.Sprintf("noisy neighbour: healthy subscription %s, paced %d events/s for %s, p50 / p90 / p99", what, nc.rate, nc.d), rc.latencies().String(), "")
		return nil
	}
	if err := measure("alone"); err != nil {
		return err
	}

	// The neighbour: another account, one subscription to the hung receiver, one in the plugin.
	if err := callRaw(srv.base, adminToken, "PUT", "/v1/plugins/loopy", wasm, nil); err != nil {
		return err
	}
	var acct, app struct{ ID string }
	var cred struct{ Token string }
	if err := call(srv.base, adminToken, "POST", "/v1/accounts", map[string]string{"name": "noisy"}, &acct); err != nil {
		return err
	}
	if err := call(srv.base, adminToken, "POST", "/v1/apps", map[string]string{"name": "noisy"}, &app); err != nil {
		return err
	}
	if err := call(srv.base, adminToken, "POST", "/v1/apps/"+app.ID+"/credentials",
		map[string]any{"kind": "api_key", "account_id": acct.ID, "scopes": []string{"events:publish"}}, &cred); err != nil {
		return err
	}
	for _, sub := range []map[string]any{
		{"format": "standard", "events": []string{"invoice.*"}, "url": hung.url},
		{"format": "loopy", "events": []string{"client.loop"}, "url": rc.url + "/never"},
	} {
		sub["account_id"] = acct.ID
		if err := call(srv.base, cred.Token, "POST", "/v1/subscriptions", sub, nil); err != nil {
			return err
		}
	}
	publishNoisy := func(typ string, n int) error {
		for sent := 0; sent < n; {
			var events []map[string]any
			for ; sent < n && len(events) < 500; sent++ {
				events = append(events, map[string]any{"account_id": acct.ID, "type": typ,
					"entity": map[string]string{"type": "client", "id": strconv.Itoa(sent)}, "data": map[string]any{"n": sent}})
			}
			if err := call(srv.base, cred.Token, "POST", "/v1/events/batch", map[string]any{"events": events}, nil); err != nil {
				return err
			}
		}
		return nil
	}
	if err := publishNoisy("invoice.create", nc.hung); err != nil {
		return err
	}
	if err := publishNoisy("client.loop", nc.looping); err != nil {
		return err
	}
	type pluginInfo struct {
		Stats struct {
			Calls    int64 `json:"calls"`
			InUse    int   `json:"in_use"`
			Capacity int   `json:"capacity"`
		} `json:"stats"`
	}
	stats := func() (pluginInfo, error) {
		var info pluginInfo
		err := call(srv.base, adminToken, "GET", "/v1/plugins/loopy", nil, &info)
		return info, err
	}
	// Both neighbours at their worst before the healthy subscription is measured again.
	deadline := time.Now().Add(time.Minute)
	for {
		info, err := stats()
		if err != nil {
			return err
		}
		held, _, _ := hung.counts()
		if (held > 0 || nc.hung == 0) && (info.Stats.InUse == info.Stats.Capacity || nc.looping == 0) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the noisy neighbour never got going: plugin %+v", info.Stats)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before, err := stats()
	if err != nil {
		return err
	}
	beside := "beside a hung receiver and a looping plugin"
	switch {
	case nc.looping == 0:
		beside = "beside a hung receiver"
	case nc.hung == 0:
		beside = "beside a looping plugin"
	}
	if err := measure(beside); err != nil {
		return err
	}
	after, err := stats()
	if err != nil {
		return err
	}
	accepted, open, peak := hung.counts()
	t.add(fmt.Sprintf("noisy neighbour meanwhile: hung receiver (%d queued) held / looping plugin (%d queued) calls run",
		nc.hung, nc.looping), fmt.Sprintf("%d open (%d at most, %d sent) / %d calls, %d instances", open, peak, accepted,
		after.Stats.Calls-before.Stats.Calls, after.Stats.Capacity), "")
	return nil
}

// hangingReceiver accepts connections and never answers.
type hangingReceiver struct {
	ln  net.Listener
	url string

	mu       sync.Mutex
	conns    map[net.Conn]bool
	accepted int
	peak     int
}

func newHangingReceiver() (*hangingReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hangingReceiver{ln: ln, url: "http://" + ln.Addr().String() + "/hook", conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns[c] = true
			h.accepted++
			h.peak = max(h.peak, len(h.conns))
			h.mu.Unlock()
			go func() {
				_, _ = io.Copy(io.Discard, c) // until the sender gives up
				h.mu.Lock()
				delete(h.conns, c)
				h.mu.Unlock()
				_ = c.Close()
			}()
		}
	}()
	return h, nil
}

// counts returns how many requests arrived, how many are open now and the most open at once.
func (h *hangingReceiver) counts() (accepted, open, peak int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accepted, len(h.conns), h.peak
}

func (h *hangingReceiver) close() {
	_ = h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		_ = c.Close()
	}
}
