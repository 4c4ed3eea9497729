package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// passThroughArg, as the first argument, makes the load generator's binary run the pass-through
// engine (passThroughMain) instead: a process of its own, as the server is.
const passThroughArg = "pass-through-engine"

// passThroughSenders is how many deliveries the pass-through has in flight, as many as the
// server sends to one subscription at once by default (--max-per-subscription).
const passThroughSenders = 32

// passThrough measures the same run as b.unpaced against an engine that does the least any
// webhook engine must: it takes each publish over HTTP, answers it, and sends each event on over
// HTTP, with nothing stored, no plugin and no signature. Its delivered rate is what no engine can
// pass on this machine with this load generator beside it, and its CPU per event what the HTTP
// alone costs; the server's rows compare with these, not only with the ceiling.
func (b *bench) passThrough(ctx context.Context, publishers, batch int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b.rc.reset()
	cmd := exec.CommandContext(ctx, self, passThroughArg, b.rc.url+"/pass-through")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("pass-through engine: no address: %w", err)
	}
	pub := &publisher{base: "http://" + addr[:len(addr)-1], token: "pass-through", account: "acct_pass_through"}
	cpu0, ownCPU0 := processCPUSeconds(cmd.Process.Pid), processCPUSeconds(os.Getpid())
	res, err := pub.flood(ctx, b.rc, b.cfg.events, publishers, batch, nil)
	if err != nil {
		return err
	}
	if err := b.rc.waitFor(ctx, b.cfg.events, 10*time.Minute); err != nil {
		return err
	}
	cpu, ownCPU := processCPUSeconds(cmd.Process.Pid)-cpu0, processCPUSeconds(os.Getpid())-ownCPU0
	delivered := float64(b.cfg.events) / b.rc.lastArrival().Sub(res.start).Seconds()
	perEvent := cpu / float64(b.cfg.events)
	run := fmt.Sprintf("%d publishers x %d per request", publishers, batch)
	b.t.add(fmt.Sprintf("[%s] pass-through bound: delivered rate of an engine that stores nothing and runs no plugin", run),
		fmt.Sprintf("%.0f events/s", delivered), b.t.ratio(delivered))
	b.t.add(fmt.Sprintf("[%s] pass-through bound: its CPU per event (load generator's: %.3f ms)", run, ownCPU/float64(b.cfg.events)*1000),
		fmt.Sprintf("%.3f ms", perEvent*1000), fmt.Sprintf("%.1fx a loopback POST", perEvent/b.ceilingCPU))
	return nil
}

// passThroughMain serves the pass-through engine (passThroughHandler) on a loopback port it
// prints.
func passThroughMain(receiverURL string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	return http.Serve(ln, passThroughHandler(receiverURL))
}

// passThroughHandler serves POST /v1/events and /v1/events/batch and sends every event it is
// given to receiverURL from passThroughSenders connections, answering each publish once its
// events are queued in memory.
func passThroughHandler(receiverURL string) http.Handler {
	queue := make(chan []byte, 1<<20)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: passThroughSenders}}
	for range passThroughSenders {
		go func() {
			for event := range queue {
				resp, err := client.Post(receiverURL, "application/json", bytes.NewReader(event))
				if err != nil {
					fmt.Fprintln(os.Stderr, "pass-through engine: send:", err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	// A publish gets an answer the size of the server's: an id per event.
	answer := func(w http.ResponseWriter, n int) {
		out := []byte(`{"data":[`)
		for i := range n {
			if i > 0 {
				out = append(out, ',')
			}
			out = strconv.AppendQuote(append(out, `{"id":`...), "evt_01kbpassthrough0000000000")
			out = append(out, '}')
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(append(out, "]}"...))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", func(w http.ResponseWriter, r *http.Request) {
		event, err := io.ReadAll(r.Body)
		if err != nil || !json.Valid(event) {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		queue <- event
		answer(w, 1)
	})
	mux.HandleFunc("POST /v1/events/batch", func(w http.ResponseWriter, r *http.Request) {
		var batch struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, "bad batch", http.StatusBadRequest)
			return
		}
		for _, event := range batch.Events {
			queue <- event
		}
		answer(w, len(batch.Events))
	})
	return mux
}

// passThroughEngine runs passThroughMain when the load generator was started as one.
func passThroughEngine(args []string) (ran bool, err error) {
	if len(args) != 2 || args[0] != passThroughArg {
		return false, nil
	}
	return true, passThroughMain(args[1])
}
