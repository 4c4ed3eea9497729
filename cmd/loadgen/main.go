// Command loadgen measures Switchyard end to end on this machine: it runs the real server binary on
// a temporary database, publishes events to it, receives the deliveries on loopback, and prints
// ingest and delivery rates, publish-to-receipt latency, CPU per event and peak memory, beside the
// raw loopback POST rate of the machine measured in the same run, the ceiling to compare with.
// All traffic stays on 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	bin         string
	events      int
	concurrency int
	batch       int
	fanout      int
	pacedRate   int
	pacedFor    time.Duration
	ceilingFor  time.Duration
	backlog     int
	sync        string
	serverFlags string
	keepDataDir bool
	cpuProfile  string
	profileFor  time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var cfg config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&cfg.bin, "bin", "bin/switchyard", "the switchyard binary to measure")
	fs.IntVar(&cfg.events, "events", 20000, "events to publish in the unpaced run")
	fs.IntVar(&cfg.concurrency, "concurrency", 16, "concurrent publishers")
	fs.IntVar(&cfg.batch, "batch", 1, "events per publish request (1 uses POST /v1/events, more /v1/events/batch)")
	fs.IntVar(&cfg.fanout, "fanout", 1, "subscriptions per event")
	fs.IntVar(&cfg.pacedRate, "paced-rate", 500, "events per second in the paced run (0 skips it)")
	fs.DurationVar(&cfg.pacedFor, "paced-for", 10*time.Second, "length of the paced run")
	fs.DurationVar(&cfg.ceilingFor, "ceiling-for", 3*time.Second, "length of the loopback ceiling measurement")
	fs.IntVar(&cfg.backlog, "backlog", 0, "if set, also measure draining a backlog of this many deliveries built while the receiver was down")
	fs.StringVar(&cfg.sync, "sqlite-synchronous", "FULL", "the server's SQLite synchronous mode")
	fs.StringVar(&cfg.serverFlags, "server-flags", "", "extra flags for switchyard serve, space-separated")
	fs.BoolVar(&cfg.keepDataDir, "keep", false, "keep the server's data dir")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the server during the unpaced run to this file")
	fs.DurationVar(&cfg.profileFor, "profile-for", 5*time.Second, "length of the CPU profile")
	if err := fs.Parse(args); err != nil {
		return err
	}

	rows := []row{}
	ceiling, err := measureCeiling(ctx, cfg.ceilingFor, cfg.concurrency)
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	rows = append(rows, row{"loopback POST ceiling (Go client -> Go server)", fmt.Sprintf("%.0f req/s", ceiling), ""})

	rc := newReceiver()
	defer rc.close()
	srv, err := startServer(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.stop()
	tenant, err := setup(srv.base, rc.url, cfg.fanout)
	if err != nil {
		return err
	}
	pub := &publisher{base: srv.base, token: tenant.token, account: tenant.account}

	// Unpaced: as fast as the publishers can go.
	profiled := make(chan error, 1)
	if cfg.cpuProfile != "" {
		go func() { profiled <- srv.profile(cfg.cpuProfile, cfg.profileFor) }()
	} else {
		profiled <- nil
	}
	cpu0 := srv.cpuSeconds()
	res, err := pub.flood(ctx, rc, cfg.events, cfg.concurrency, cfg.batch)
	if err != nil {
		return err
	}
	if err := rc.waitFor(ctx, cfg.events*cfg.fanout, 5*time.Minute); err != nil {
		return err
	}
	cpu := srv.cpuSeconds() - cpu0
	if err := <-profiled; err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	deliveries := cfg.events * cfg.fanout
	lastReceipt := rc.lastArrival()
	deliveredRate := float64(deliveries) / lastReceipt.Sub(res.start).Seconds()
	lat := rc.latencies()
	rows = append(rows,
		row{fmt.Sprintf("ingest rate (%d events, %d publishers, batch %d)", cfg.events, cfg.concurrency, cfg.batch), fmt.Sprintf("%.0f events/s", res.rate()), ratio(res.rate(), ceiling)},
		row{fmt.Sprintf("delivered rate (fan-out %d)", cfg.fanout), fmt.Sprintf("%.0f deliveries/s", deliveredRate), ratio(deliveredRate, ceiling)},
		row{"publish to receipt, unpaced p50 / p90 / p99", lat.String(), ""},
		row{"server CPU per delivery", fmt.Sprintf("%.3f ms", cpu/float64(deliveries)*1000), ""},
	)

	if cfg.pacedRate > 0 {
		rc.reset()
		n, err := pub.paced(ctx, rc, cfg.pacedRate, cfg.pacedFor)
		if err != nil {
			return err
		}
		if err := rc.waitFor(ctx, n*cfg.fanout, 2*time.Minute); err != nil {
			return err
		}
		rows = append(rows, row{fmt.Sprintf("publish to receipt, paced %d/s for %s, p50 / p90 / p99", cfg.pacedRate, cfg.pacedFor), rc.latencies().String(), ""})
	}

	if cfg.backlog > 0 {
		rc.reset()
		rc.down.Store(true)
		if _, err := pub.flood(ctx, nil, cfg.backlog, cfg.concurrency, max(cfg.batch, 100)); err != nil {
			return err
		}
		// Let every delivery fail once, so the backlog is one of due retries.
		time.Sleep(3 * time.Second)
		rc.reset()
		rc.down.Store(false)
		start := time.Now()
		if err := rc.waitFor(ctx, cfg.backlog*cfg.fanout, 10*time.Minute); err != nil {
			return err
		}
		rate := float64(cfg.backlog*cfg.fanout) / rc.lastArrival().Sub(start).Seconds()
		rows = append(rows, row{fmt.Sprintf("backlog drain (%d deliveries)", cfg.backlog*cfg.fanout), fmt.Sprintf("%.0f deliveries/s", rate), ratio(rate, ceiling)})
	}

	rows = append(rows, row{"server peak RSS", fmt.Sprintf("%.0f MiB", srv.peakRSSMiB()), ""})
	printTable(rows)
	return nil
}

type row struct{ what, value, ratio string }

func ratio(v, ceiling float64) string { return fmt.Sprintf("%.2f of ceiling", v/ceiling) }

func printTable(rows []row) {
	fmt.Println("| measure | value | vs ceiling |")
	fmt.Println("|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s |\n", r.what, r.value, r.ratio)
	}
}

// measureCeiling is the machine's raw loopback POST rate: a Go client posting 1 KB bodies to a Go
// server in one process, which is all a webhook engine could hope for per received-and-sent event
// pair, twice over.
func measureCeiling(ctx context.Context, d time.Duration, concurrency int) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}}
	url := "http://" + ln.Addr().String() + "/"
	body := bytes.Repeat([]byte("x"), 1024)
	var n atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// server is the switchyard process under measurement.
type server struct {
	cmd       *exec.Cmd
	base      string
	pprofAddr string
	dataDir string
	keep    bool
	log     *bytes.Buffer
}

const adminToken = "loadgen-admin"

func startServer(ctx context.Context, cfg config) (*server, error) {
	dataDir, err := os.MkdirTemp("", "switchyard-loadgen-")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The per-credential rate limit is an operator's policy, not the engine's capacity: one
	// credential publishes everything here, so it is lifted.
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir, "--admin-token", adminToken,
		"--allow-private", "127.0.0.0/8", "--log-level", "error", "--sqlite-synchronous", cfg.sync, "--rate-limit", "0"}
	pprofAddr := ""
	if cfg.cpuProfile != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-addr", pprofAddr)
	}
	args = append(args, strings.Fields(cfg.serverFlags)...)
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return nil, err
	}
	s := &server{base: "http://" + addr, pprofAddr: pprofAddr, dataDir: dataDir, keep: cfg.keepDataDir, log: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w (build it with make build)", bin, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("server not ready: %v\n%s", err, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// profile records the server's CPU profile for d into file.
func (s *server) profile(file string, d time.Duration) error {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.pprofAddr, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profiler answered %s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	if !s.keep {
		_ = os.RemoveAll(s.dataDir)
	}
}

// cpuSeconds is the process's user and system CPU time so far, from /proc.
func (s *server) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 per second on Linux
}

func (s *server) peakRSSMiB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

type tenant struct{ account, token string }

func setup(base, receiverURL string, fanout int) (*tenant, error) {
	var acct, app struct{ ID string }
	var cred struct{ Token string }
	if err := call(base, adminToken, "POST", "/v1/accounts", map[string]string{"name": "loadgen"}, &acct); err != nil {
		return nil, err
	}
	if err := call(base, adminToken, "POST", "/v1/apps", map[string]string{"name": "loadgen"}, &app); err != nil {
		return nil, err
	}
	if err := call(base, adminToken, "POST", "/v1/apps/"+app.ID+"/credentials", map[string]any{"kind": "api_key", "scopes": []string{"events:publish"}}, &cred); err != nil {
		return nil, err
	}
	for i := range fanout {
		sub := map[string]any{"account_id": acct.ID, "format": "standard", "events": []string{"*"}, "url": fmt.Sprintf("%s/s%d", receiverURL, i),
			// A short schedule keeps the backlog measurement about draining, not waiting.
			"retry_policy": map[string]any{"schedule": []string{"1s", "1s", "1s", "1s", "1s"}}}
		if err := call(base, cred.Token, "POST", "/v1/subscriptions", sub, nil); err != nil {
			return nil, err
		}
	}
	return &tenant{account: acct.ID, token: cred.Token}, nil
}

var apiClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: time.Minute}

func call(base, token, method, path string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return callRaw(base, token, method, path, raw, out)
}

func callRaw(base, token, method, path string, raw []byte, out any) error {
	req, err := http.NewRequest(method, base+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := apiClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// publisher publishes numbered events, remembering when each was published.
type publisher struct {
	base, token, account string
	seq                  atomic.Int64

	templateOnce sync.Once
	linesJSON    []byte
}

// event is about 1 KB of typical entity data; seq lets the receiver match a delivery to its publish
// time. It is written by appending to a template: the load generator shares the machine with the
// server, and every microsecond it spends encoding is one the server does not get.
func (p *publisher) event(seq int64) []byte {
	p.templateOnce.Do(func() {
		lines := make([]map[string]any, 12)
		for i := range lines {
			lines[i] = map[string]any{"sku": fmt.Sprintf("SKU-%04d", i), "qty": i + 1, "price": "19.90"}
		}
		encoded, _ := json.Marshal(lines)
		p.linesJSON = encoded
	})
	n := strconv.FormatInt(seq, 10)
	b := make([]byte, 0, 1100)
	b = append(b, `{"account_id":"`...)
	b = append(b, p.account...)
	b = append(b, `","type":"invoice.create","entity":{"type":"invoice","id":"`...)
	b = append(b, n...)
	b = append(b, `"},"data":{"seq":`...)
	b = append(b, n...)
	b = append(b, `,"number":"INV-2026-`...)
	b = append(b, n...)
	b = append(b, `","customer":"Acme GmbH","lines":`...)
	b = append(b, p.linesJSON...)
	return append(b, "}}"...)
}

type floodResult struct {
	start, end time.Time
	n          int
}

func (r floodResult) rate() float64 { return float64(r.n) / r.end.Sub(r.start).Seconds() }

func (p *publisher) flood(ctx context.Context, rc *receiver, n, concurrency, batch int) (floodResult, error) {
	start := time.Now()
	var sent atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := int(sent.Add(int64(batch)))
				if k-batch >= n {
					return
				}
				size := min(batch, n-(k-batch))
				events := make([][]byte, size)
				for i := range events {
					seq := p.seq.Add(1)
					events[i] = p.event(seq)
					if rc != nil {
						rc.published(seq, time.Now())
					}
				}
				var err error
				if batch == 1 {
					err = callRaw(p.base, p.token, "POST", "/v1/events", events[0], nil)
				} else {
					body := append([]byte(`{"events":[`), bytes.Join(events, []byte(","))...)
					err = callRaw(p.base, p.token, "POST", "/v1/events/batch", append(body, "]}"...), nil)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return floodResult{start: start, end: time.Now(), n: n}, firstErr
}

// paced publishes at rate events per second for d, one event per request, and returns how many.
func (p *publisher) paced(ctx context.Context, rc *receiver, rate int, d time.Duration) (int, error) {
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		if ctx.Err() != nil {
			return i, ctx.Err()
		}
		seq := p.seq.Add(1)
		ev := p.event(seq)
		rc.published(seq, time.Now())
		wg.Go(func() {
			if err := callRaw(p.base, p.token, "POST", "/v1/events", ev, nil); err != nil {
				errOnce.Do(func() { firstErr = err })
			}
		})
	}
	wg.Wait()
	return total, firstErr
}

// receiver takes deliveries and records when each arrived.
type receiver struct {
	srv  *http.Server
	url  string
	down atomic.Bool

	mu        sync.Mutex
	sentAt    map[int64]time.Time
	latency   []time.Duration
	arrivals  int
	last      time.Time
	arrivedCh chan struct{}
}

func newReceiver() *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	rc := &receiver{url: "http://" + ln.Addr().String(), sentAt: map[int64]time.Time{}, arrivedCh: make(chan struct{}, 1)}
	rc.srv = &http.Server{Handler: rc}
	go func() { _ = rc.srv.Serve(ln) }()
	return rc
}

func (rc *receiver) close() { _ = rc.srv.Close() }

func (rc *receiver) published(seq int64, at time.Time) {
	rc.mu.Lock()
	rc.sentAt[seq] = at
	rc.mu.Unlock()
}

var seqKey = []byte(`"seq":`)

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if rc.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	now := time.Now()
	var seq int64
	if i := bytes.Index(body, seqKey); i >= 0 {
		rest := body[i+len(seqKey):]
		end := bytes.IndexAny(rest, ",}")
		seq, _ = strconv.ParseInt(string(bytes.TrimSpace(rest[:max(end, 0)])), 10, 64)
	}
	rc.mu.Lock()
	if at, ok := rc.sentAt[seq]; ok {
		rc.latency = append(rc.latency, now.Sub(at))
	}
	rc.arrivals++
	rc.last = now
	rc.mu.Unlock()
	select {
	case rc.arrivedCh <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.latency, rc.arrivals = nil, 0
}

func (rc *receiver) lastArrival() time.Time {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.last
}

func (rc *receiver) waitFor(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		rc.mu.Lock()
		got := rc.arrivals
		rc.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-rc.arrivedCh:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return fmt.Errorf("received %d of %d deliveries within %v", got, n, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type percentiles struct{ p50, p90, p99 time.Duration }

func (p percentiles) String() string {
	return fmt.Sprintf("%s / %s / %s", round(p.p50), round(p.p90), round(p.p99))
}

func round(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	}
	return d.Round(time.Millisecond).String()
}

func (rc *receiver) latencies() percentiles {
	rc.mu.Lock()
	l := append([]time.Duration(nil), rc.latency...)
	rc.mu.Unlock()
	if len(l) == 0 {
		return percentiles{}
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	at := func(q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))] }
	return percentiles{at(0.50), at(0.90), at(0.99)}
}
