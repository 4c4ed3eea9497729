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
	unpaced     string
	fanouts     string
	ordered     string
	pacedRate   int
	pacedFor    time.Duration
	ceilingFor  time.Duration
	backlogs    string
	backlogSubs string
	// receiverDelay is how long the receiver takes to answer each delivery.
	receiverDelay time.Duration
	startup       bool
	sync          string
	serverFlags   string
	keepDataDir   bool
	cpuProfile    string
	profileFor    time.Duration
	goBench       string
	// passThrough measures each unpaced run against an engine that only passes events on.
	passThrough bool
	noisy       noisyConfig
	pg          pgConfig
}

func main() {
	if ran, err := passThroughEngine(os.Args[1:]); ran {
		fmt.Fprintln(os.Stderr, "loadgen: pass-through engine:", err)
		os.Exit(1)
	}
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
	fs.IntVar(&cfg.events, "events", 100000, "events to publish in the unpaced run (fan-out 1)")
	fs.IntVar(&cfg.concurrency, "concurrency", 16, "concurrent publishers, and connections in the ceiling measurement")
	fs.StringVar(&cfg.unpaced, "unpaced", "16x1,64x1,16x20", "unpaced runs, as comma-separated PUBLISHERSxBATCH (a batch of 1 uses POST /v1/events, more /v1/events/batch)")
	fs.StringVar(&cfg.fanouts, "fanout", "10:10000,100:1000", "further runs, as comma-separated SUBSCRIPTIONS:EVENTS pairs (empty skips them)")
	fs.StringVar(&cfg.ordered, "ordered", "1000:20000,1:2000", `runs to a subscription with "ordering": "entity", as comma-separated ENTITIES:EVENTS pairs: many entities, and one hot entity (empty skips them)`)
	fs.IntVar(&cfg.pacedRate, "paced-rate", 500, "events per second in the paced run (0 skips it)")
	fs.DurationVar(&cfg.pacedFor, "paced-for", 10*time.Second, "length of the paced run")
	fs.DurationVar(&cfg.ceilingFor, "ceiling-for", 3*time.Second, "length of the loopback ceiling measurement")
	fs.StringVar(&cfg.backlogs, "backlog", "10000,1000000", "backlog sizes whose drain is measured, comma-separated (empty skips them)")
	fs.BoolVar(&cfg.startup, "startup", true, "measure a first start, a restart and the idle memory")
	fs.StringVar(&cfg.backlogSubs, "backlog-subs", "1,8", "over how many subscriptions each backlog is spread (each event goes to all), comma-separated")
	fs.DurationVar(&cfg.receiverDelay, "receiver-delay", 0, "how long the receiver waits before answering each delivery (0: at once), for receivers slower than loopback")
	fs.StringVar(&cfg.sync, "sqlite-synchronous", "FULL", "the server's SQLite synchronous mode")
	fs.StringVar(&cfg.serverFlags, "server-flags", "", "extra flags for switchyard serve, space-separated")
	fs.BoolVar(&cfg.keepDataDir, "keep", false, "keep the server's data dir")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the server during the unpaced run to this file")
	fs.DurationVar(&cfg.profileFor, "profile-for", 5*time.Second, "length of the CPU profile")
	fs.StringVar(&cfg.goBench, "go-bench", "", "output of go test -bench (runtime, store) to put in the table too")
	fs.BoolVar(&cfg.passThrough, "pass-through", true, "after each unpaced run, run it again against an engine that stores nothing and runs no plugin (the most any engine could deliver here)")
	fs.IntVar(&cfg.noisy.rate, "noisy-rate", 100, "events per second to the healthy subscription in the noisy-neighbour runs (0 skips them)")
	fs.DurationVar(&cfg.noisy.d, "noisy-for", 10*time.Second, "length of each noisy-neighbour run (alone, then beside the neighbour)")
	fs.StringVar(&cfg.noisy.plugin, "noisy-plugin", "build/loopy.wasm", "the looping plugin the noisy neighbour uploads (make bench builds it from api/testdata/loopy/loops)")
	fs.IntVar(&cfg.noisy.hung, "noisy-hung", 2000, "events the noisy neighbour queues to its hung receiver")
	fs.IntVar(&cfg.noisy.looping, "noisy-looping", 400, "events the noisy neighbour queues to its looping plugin")
	fs.BoolVar(&cfg.pg.on, "postgres", true, "measure one SQLite node, one PostgreSQL node and two PostgreSQL nodes on one database with the same timed flood, on a throwaway PostgreSQL cluster with fsync on (needs Debian's postgresql package)")
	fs.DurationVar(&cfg.pg.d, "postgres-for", 12*time.Second, "how long each run of the PostgreSQL scenario publishes")
	fs.IntVar(&cfg.pg.publishers, "postgres-publishers", 16, "concurrent publishers in the PostgreSQL scenario, spread over the nodes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fanouts, err := parsePairs(cfg.fanouts, ":")
	if err != nil {
		return fmt.Errorf("--fanout: %w", err)
	}
	unpaced, err := parsePairs(cfg.unpaced, "x")
	if err != nil {
		return fmt.Errorf("--unpaced: %w", err)
	}
	ordered, err := parsePairs(cfg.ordered, ":")
	if err != nil {
		return fmt.Errorf("--ordered: %w", err)
	}
	backlogSubs, err := parseInts(cfg.backlogSubs)
	if err != nil {
		return fmt.Errorf("--backlog-subs: %w", err)
	}
	backlogs, err := parseInts(cfg.backlogs)
	if err != nil {
		return fmt.Errorf("--backlog: %w", err)
	}

	t := &table{}
	ceiling, err := measureCeiling(ctx, cfg.ceilingFor, cfg.concurrency)
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	t.ceiling = ceiling.rate
	t.add("loopback POST ceiling (Go client -> Go server, 16 connections)", fmt.Sprintf("%.0f req/s", ceiling.rate), "1.00")
	t.add("CPU per loopback POST, client and server together", fmt.Sprintf("%.3f ms", ceiling.cpuPerRequest*1000), "")

	if cfg.startup {
		if err := startup(ctx, cfg, t); err != nil {
			return fmt.Errorf("startup: %w", err)
		}
	}
	rc := newReceiver()
	rc.delay = cfg.receiverDelay
	defer rc.close()
	defer func() {
		if warmCache != "" {
			_ = os.RemoveAll(filepath.Dir(warmCache))
		}
	}()
	srv, err := startServer(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.stop()
	b := &bench{cfg: cfg, srv: srv, rc: rc, t: t, ceilingCPU: ceiling.cpuPerRequest}
	if err := b.firstDelivery(ctx); err != nil {
		return fmt.Errorf("first delivery: %w", err)
	}

	var steps []func(context.Context) error
	for i, u := range unpaced {
		// Only the first run is profiled.
		steps = append(steps, func(ctx context.Context) error { return b.unpaced(ctx, u[0], u[1], i == 0) })
	}
	if cfg.pacedRate > 0 {
		steps = append(steps, b.paced)
	}
	for _, f := range fanouts {
		steps = append(steps, func(ctx context.Context) error { return b.fanout(ctx, f[0], f[1]) })
	}
	for _, o := range ordered {
		steps = append(steps, func(ctx context.Context) error { return b.orderedRun(ctx, o[0], o[1]) })
	}
	if len(backlogs) > 0 {
		steps = append(steps, func(ctx context.Context) error { return b.backlogs(ctx, backlogs, backlogSubs) })
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			t.print()
			return err
		}
	}
	t.add("server peak RSS, whole run", fmt.Sprintf("%.0f MiB", srv.memMiB("VmHWM")), "")
	if cfg.noisy.rate > 0 {
		if err := noisy(ctx, cfg, cfg.noisy, t); err != nil {
			t.print()
			return fmt.Errorf("noisy neighbour: %w", err)
		}
	}
	if cfg.pg.on {
		if err := postgresScenario(ctx, cfg, cfg.pg, t); err != nil {
			t.print()
			return fmt.Errorf("postgresql: %w", err)
		}
	}
	if cfg.goBench != "" {
		if err := addGoBenchmarks(t, cfg.goBench); err != nil {
			return err
		}
	}
	t.print()
	return nil
}

// addGoBenchmarks puts the figures of go test -bench output that the targets name into the
// table: shape through wasm beside its native twin, and the store alone.
func addGoBenchmarks(t *table, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	nsPerOp := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || fields[3] != "ns/op" {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		if v, err := strconv.ParseFloat(fields[2], 64); err == nil {
			nsPerOp[name] = v
		}
	}
	native := nsPerOp["BenchmarkStandardShape/native"]
	for _, mode := range []string{"trusted", "sandboxed"} {
		if v := nsPerOp["BenchmarkStandardShape/wasm-"+mode]; v > 0 && native > 0 {
			t.add(fmt.Sprintf("standard plugin shape, 1 KB event: wasm %s vs native twin", mode),
				fmt.Sprintf("%.1f µs vs %.1f µs = %.1fx", v/1000, native/1000, v/native), "")
		}
	}
	for _, sync := range []string{"FULL", "NORMAL"} {
		if v := nsPerOp["BenchmarkPipeline/"+sync]; v > 0 {
			t.add(fmt.Sprintf("store alone (ingest, claim, record; synchronous=%s)", sync), fmt.Sprintf("%.0f deliveries/s", 1e9/v), t.ratio(1e9/v))
		}
	}
	return nil
}

// bench runs the measurements against one server, each on a tenant of its own.
type bench struct {
	cfg        config
	srv        *server
	rc         *receiver
	t          *table
	ceilingCPU float64
	tenants    int
}

func (b *bench) publisher(fanout int) (*publisher, error) {
	return b.publisherWith(fanout, nil)
}

// publisherWith sets up a tenant whose subscriptions have the extra fields too.
func (b *bench) publisherWith(fanout int, extra map[string]any) (*publisher, error) {
	b.tenants++
	tn, err := setup(b.srv.base, fmt.Sprintf("%s/t%d", b.rc.url, b.tenants), fanout, extra)
	if err != nil {
		return nil, err
	}
	return &publisher{base: b.srv.base, token: tn.token, account: tn.account}, nil
}

// orderedRun publishes events about entities entities (in turn) to one subscription ordered by
// entity, and reports the delivery rate: each entity's deliveries go one at a time, so one hot
// entity is as fast as one delivery's round trip (claim, send, record) allows.
func (b *bench) orderedRun(ctx context.Context, entities, events int) error {
	pub, err := b.publisherWith(1, map[string]any{"ordering": "entity"})
	if err != nil {
		return err
	}
	pub.entities = entities
	b.rc.reset()
	cpu0 := b.srv.cpuSeconds()
	res, err := pub.flood(ctx, b.rc, events, b.cfg.concurrency, 20, nil)
	if err != nil {
		return err
	}
	if err := b.rc.waitFor(ctx, events, 10*time.Minute); err != nil {
		return err
	}
	cpu := b.srv.cpuSeconds() - cpu0
	rate := float64(events) / b.rc.lastArrival().Sub(res.start).Seconds()
	b.t.add(fmt.Sprintf("[ordered by entity, %d entities] delivered rate, %d events", entities, events), fmt.Sprintf("%.0f events/s", rate), b.t.ratio(rate))
	b.t.add(fmt.Sprintf("[ordered by entity, %d entities] server CPU per delivered event", entities), fmt.Sprintf("%.3f ms", cpu/float64(events)*1000), "")
	return nil
}

// firstDelivery publishes one event on the fresh server and times it to its receipt, then warms
// the server up with a short burst it does not report. A built-in plugin sleeps without compiled
// code until a delivery needs it (it compiles again from the compilation cache), and makes its
// instances as deliveries need them: the first delivery pays the one, the burst the other, and no
// unpaced run after them pays either. Without this, the first run's CPU per event carried both (4 to
// 8 µs an event over 40,000 events, 16 x 20 run twice on one server).
func (b *bench) firstDelivery(ctx context.Context) error {
	pub, err := b.publisher(1)
	if err != nil {
		return err
	}
	b.rc.reset()
	res, err := pub.flood(ctx, b.rc, 1, 1, 1, nil)
	if err != nil {
		return err
	}
	if err := b.rc.waitFor(ctx, 1, time.Minute); err != nil {
		return err
	}
	b.t.add("first delivery on a fresh server, publish to receipt (compiles the standard plugin)", b.rc.lastArrival().Sub(res.start).Round(time.Millisecond).String(), "")
	if err := keepWarmCache(b.srv.dataDir); err != nil {
		return err
	}
	const warmUp = 2000
	b.rc.reset()
	if _, err := pub.flood(ctx, b.rc, warmUp, b.cfg.concurrency, 20, nil); err != nil {
		return err
	}
	return b.rc.waitFor(ctx, warmUp, time.Minute)
}

// unpaced publishes as fast as publishers go, batch events per request, to one subscription.
func (b *bench) unpaced(ctx context.Context, publishers, batch int, profile bool) error {
	pub, err := b.publisher(1)
	if err != nil {
		return err
	}
	profiled := make(chan error, 1)
	if b.cfg.cpuProfile != "" && profile {
		go func() { profiled <- b.srv.profile(b.cfg.cpuProfile, b.cfg.profileFor) }()
	} else {
		profiled <- nil
	}
	b.rc.reset()
	cpu0, ownCPU0 := b.srv.cpuSeconds(), processCPUSeconds(os.Getpid())
	res, err := pub.flood(ctx, b.rc, b.cfg.events, publishers, batch, nil)
	if err != nil {
		return err
	}
	if err := b.rc.waitFor(ctx, b.cfg.events, 10*time.Minute); err != nil {
		return err
	}
	cpu, ownCPU := b.srv.cpuSeconds()-cpu0, processCPUSeconds(os.Getpid())-ownCPU0
	if err := <-profiled; err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	delivered := float64(b.cfg.events) / b.rc.lastArrival().Sub(res.start).Seconds()
	perEvent := cpu / float64(b.cfg.events)
	run := fmt.Sprintf("%d publishers x %d per request", publishers, batch)
	b.t.add(fmt.Sprintf("[%s] ingest rate, %d events", run, b.cfg.events), fmt.Sprintf("%.0f events/s", res.rate()), b.t.ratio(res.rate()))
	b.t.add(fmt.Sprintf("[%s] delivered rate, fan-out 1 (first publish to last receipt)", run), fmt.Sprintf("%.0f events/s", delivered), b.t.ratio(delivered))
	b.t.add(fmt.Sprintf("[%s] publish to receipt, unpaced, p50 / p90 / p99", run), b.rc.latencies().String(), "")
	b.t.add(fmt.Sprintf("[%s] server CPU per delivered event", run), fmt.Sprintf("%.3f ms", perEvent*1000), fmt.Sprintf("%.1fx a loopback POST", perEvent/b.ceilingCPU))
	// The load generator shares the cores: what it spends, the server cannot.
	b.t.add(fmt.Sprintf("[%s] load generator CPU per event (publishers and receiver)", run), fmt.Sprintf("%.3f ms", ownCPU/float64(b.cfg.events)*1000), "")
	if b.cfg.passThrough {
		return b.passThrough(ctx, publishers, batch)
	}
	return nil
}

// paced publishes at a steady rate, one event per request, and reports publish-to-receipt latency.
func (b *bench) paced(ctx context.Context) error {
	pub, err := b.publisher(1)
	if err != nil {
		return err
	}
	b.rc.reset()
	n, err := pub.paced(ctx, b.rc, b.cfg.pacedRate, b.cfg.pacedFor)
	if err != nil {
		return err
	}
	if err := b.rc.waitFor(ctx, n, 2*time.Minute); err != nil {
		return err
	}
	b.t.add(fmt.Sprintf("publish to receipt, paced %d events/s for %s, p50 / p90 / p99", b.cfg.pacedRate, b.cfg.pacedFor), b.rc.latencies().String(),
		fmt.Sprintf("%.2f", float64(b.cfg.pacedRate)/b.t.ceiling))
	return nil
}

// fanout publishes events to an account with subs subscriptions, and reports the delivery rate.
func (b *bench) fanout(ctx context.Context, subs, events int) error {
	pub, err := b.publisher(subs)
	if err != nil {
		return err
	}
	b.rc.reset()
	cpu0 := b.srv.cpuSeconds()
	res, err := pub.flood(ctx, b.rc, events, b.cfg.concurrency, 1, nil)
	if err != nil {
		return err
	}
	deliveries := events * subs
	if err := b.rc.waitFor(ctx, deliveries, 10*time.Minute); err != nil {
		return err
	}
	cpu := b.srv.cpuSeconds() - cpu0
	rate := float64(deliveries) / b.rc.lastArrival().Sub(res.start).Seconds()
	b.t.add(fmt.Sprintf("delivered rate, fan-out %d (%d events, %d deliveries)", subs, events, deliveries), fmt.Sprintf("%.0f deliveries/s", rate), b.t.ratio(rate))
	b.t.add(fmt.Sprintf("server CPU per delivery, fan-out %d", subs), fmt.Sprintf("%.3f ms", cpu/float64(deliveries)*1000), "")
	return nil
}

// backlogs measures how fast backlogs of each size drain, and the server's memory meanwhile. A
// backlog is made of events published with one deliver_at: every delivery is due at that moment,
// as after a receiver outage, without the million failed attempts an outage would take to build.
//
// A backlog's deliveries are due once the last of them is published, by a time guessed from how
// fast the previous backlog of the same fan-out was published: one fan-out's rate says little of
// another's (8 subscriptions publish eight deliveries an event, and 1,000,000 on one subscription
// outlasted a due time guessed from 10,000 on eight).
func (b *bench) backlogs(ctx context.Context, sizes, subs []int) error {
	publishRate := map[int]float64{}
	for _, n := range sizes {
		for _, fanout := range subs {
			rate := publishRate[fanout]
			if err := b.backlog(ctx, n, fanout, &rate); err != nil {
				return err
			}
			publishRate[fanout] = rate
		}
	}
	return nil
}

// backlog measures one backlog of n deliveries, made of n/fanout events each going to fanout
// subscriptions of one tenant. With one subscription the drain is bounded by the per-subscription
// cap (--max-per-subscription) as much as by the engine; with several, by the per-host cap
// (--max-per-host: every subscription here delivers to 127.0.0.1) and the engine.
func (b *bench) backlog(ctx context.Context, n, fanout int, publishRate *float64) error {
	pub, err := b.publisher(fanout)
	if err != nil {
		return err
	}
	// The deliveries must not fall due before the last is published: the time allowed is the
	// previous backlog's publishing rate (or a guess), with room to spare.
	rate := *publishRate
	if rate == 0 {
		rate = 2000
	}
	dueAt := time.Now().Add(time.Duration(float64(n)/rate*1.5*float64(time.Second)) + 5*time.Second)
	b.rc.reset()
	res, err := pub.flood(ctx, nil, n/fanout, b.cfg.concurrency, 500, &dueAt)
	if err != nil {
		return err
	}
	*publishRate = res.rate() * float64(fanout)
	if early := b.rc.count(); early > 0 || time.Now().After(dueAt) {
		return fmt.Errorf("backlog of %d: publishing it (at %.0f deliveries/s) outlasted its due time", n, *publishRate)
	}
	time.Sleep(time.Until(dueAt))
	rssStart := b.srv.memMiB("VmRSS")
	rssMax := rssStart
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(250 * time.Millisecond):
				rssMax = max(rssMax, b.srv.memMiB("VmRSS"))
			}
		}
	}()
	err = b.rc.waitFor(ctx, n/fanout*fanout, 30*time.Minute)
	close(stopSampling)
	<-sampled
	if err != nil {
		return err
	}
	drain := float64(n/fanout*fanout) / b.rc.lastArrival().Sub(dueAt).Seconds()
	name := fmt.Sprintf("backlog of %d", n)
	if fanout > 1 {
		name += fmt.Sprintf(" on %d subscriptions", fanout)
	}
	b.t.add(name+" due deliveries: drain rate", fmt.Sprintf("%.0f deliveries/s", drain), b.t.ratio(drain))
	b.t.add(name+": server RSS when due / highest while draining", fmt.Sprintf("%.0f / %.0f MiB", rssStart, rssMax), "")
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parsePairs(s, sep string) ([][2]int, error) {
	var out [][2]int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		a, bb, ok := strings.Cut(f, sep)
		x, err1 := strconv.Atoi(a)
		y, err2 := strconv.Atoi(bb)
		if !ok || err1 != nil || err2 != nil || x <= 0 || y <= 0 {
			return nil, fmt.Errorf("%q is not two positive numbers joined by %q", f, sep)
		}
		out = append(out, [2]int{x, y})
	}
	return out, nil
}

type row struct{ what, value, ratio string }

// table is the one table make bench prints; rates carry their ratio to the ceiling.
type table struct {
	ceiling float64
	rows    []row
}

func (t *table) add(what, value, ratio string) { t.rows = append(t.rows, row{what, value, ratio}) }

func (t *table) ratio(rate float64) string { return fmt.Sprintf("%.2f", rate/t.ceiling) }

func (t *table) print() {
	fmt.Println("| measure | value | vs ceiling |")
	fmt.Println("|---|---|---|")
	for _, r := range t.rows {
		fmt.Printf("| %s | %s | %s |\n", r.what, r.value, r.ratio)
	}
}

// measureCeiling is the machine's raw loopback POST rate: a Go client posting 1 KB bodies to a Go
// server in one process, which is all a webhook engine could hope for per received-and-sent event
// pair, twice over.
type ceilingResult struct {
	rate float64
	// cpuPerRequest is this process's CPU seconds per request, client and server together.
	cpuPerRequest float64
}

func measureCeiling(ctx context.Context, d time.Duration, concurrency int) (ceilingResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ceilingResult{}, err
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
	cpu0 := processCPUSeconds(os.Getpid())
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
	cpu := processCPUSeconds(os.Getpid()) - cpu0
	return ceilingResult{rate: float64(n.Load()) / time.Since(start).Seconds(), cpuPerRequest: cpu / float64(n.Load())}, nil
}

// server is the switchyard process under measurement.
type server struct {
	cmd       *exec.Cmd
	base      string
	pprofAddr string
	dataDir   string
	keep      bool
	log       *bytes.Buffer
}

const adminToken = "loadgen-admin"

func startServer(ctx context.Context, cfg config, extra ...string) (*server, error) {
	dataDir, err := os.MkdirTemp("", "switchyard-loadgen-")
	if err != nil {
		return nil, err
	}
	if warmCache != "" {
		if err := os.CopyFS(filepath.Join(dataDir, "cache", "wazero"), os.DirFS(warmCache)); err != nil {
			return nil, fmt.Errorf("copy the compilation cache: %w", err)
		}
	}
	s, _, err := startServerIn(ctx, cfg, dataDir, extra...)
	return s, err
}

// warmCache is a copy of the compilation cache of the server whose first delivery was measured,
// which every server started after it gets: a first start compiles no plugin, its first delivery
// compiles the plugin it needs from scratch (the row that measures it), and a node that has run
// for a while has the compiled code on disk. Without it each scenario's first deliveries waited
// for that compile, a second or more, and it showed as their latency's tail.
var warmCache string

// keepWarmCache copies dataDir's compilation cache to warmCache.
func keepWarmCache(dataDir string) error {
	dir, err := os.MkdirTemp("", "switchyard-loadgen-cache-")
	if err != nil {
		return err
	}
	dst := filepath.Join(dir, "wazero")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(dataDir, "cache", "wazero"))); err != nil {
		return fmt.Errorf("keep the compilation cache: %w", err)
	}
	warmCache = dst
	return nil
}

// startServerIn starts the server on dataDir and says how long it took to answer /readyz 200.
func startServerIn(ctx context.Context, cfg config, dataDir string, extra ...string) (*server, time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	// The per-credential rate limit is an operator's policy, not the engine's capacity: one
	// credential publishes everything here, so it is lifted.
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir, "--admin-token", adminToken,
		"--allow-private", "127.0.0.0/8", "--log-level", "error", "--sqlite-synchronous", cfg.sync, "--rate-limit", "0"}
	pprofAddr := ""
	if cfg.cpuProfile != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, 0, err
		}
		args = append(args, "--pprof-addr", pprofAddr)
	}
	args = append(args, extra...)
	args = append(args, strings.Fields(cfg.serverFlags)...)
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return nil, 0, err
	}
	s := &server{base: "http://" + addr, pprofAddr: pprofAddr, dataDir: dataDir, keep: cfg.keepDataDir, log: &bytes.Buffer{}}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start %s: %w (build it with make build)", bin, err)
	}
	started := time.Now()
	deadline := started.Add(time.Minute)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, time.Since(started), nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, 0, fmt.Errorf("server not ready: %v\n%s", err, s.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startup measures a first start on an empty data dir and a restart on the same dir (with its
// compilation cache), each to /readyz 200, and the idle server's memory 3 s after the first start
// was ready.
func startup(ctx context.Context, cfg config, t *table) error {
	dataDir, err := os.MkdirTemp("", "switchyard-loadgen-startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	cfg.keepDataDir = true
	first, firstTook, err := startServerIn(ctx, cfg, dataDir)
	if err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	idle := first.memMiB("VmRSS")
	first.stop()
	again, againTook, err := startServerIn(ctx, cfg, dataDir)
	if err != nil {
		return err
	}
	again.stop()
	t.add("first start on an empty data dir, to /readyz 200", fmt.Sprintf("%.2f s", firstTook.Seconds()), "")
	t.add("restart with the compilation cache, to /readyz 200", fmt.Sprintf("%.2f s", againTook.Seconds()), "")
	t.add("server RSS idle, 3 s after /readyz 200 on an empty data dir", fmt.Sprintf("%.0f MiB", idle), "")
	return nil
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

func (s *server) cpuSeconds() float64 { return processCPUSeconds(s.cmd.Process.Pid) }

// processCPUSeconds is a process's user and system CPU time so far, from /proc.
func processCPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks; 100 per second on Linux
}

// memMiB reads one memory figure of the server from /proc: VmRSS now, VmHWM its peak.
func (s *server) memMiB(field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

type tenant struct{ account, token string }

func setup(base, receiverURL string, fanout int, extra map[string]any) (*tenant, error) {
	var acct, app struct{ ID string }
	var cred struct{ Token string }
	if err := call(base, adminToken, "POST", "/v1/accounts", map[string]string{"name": "loadgen"}, &acct); err != nil {
		return nil, err
	}
	if err := call(base, adminToken, "POST", "/v1/apps", map[string]string{"name": "loadgen"}, &app); err != nil {
		return nil, err
	}
	// Bound to the account: it publishes into it and subscribes to it without a grant.
	if err := call(base, adminToken, "POST", "/v1/apps/"+app.ID+"/credentials",
		map[string]any{"kind": "api_key", "account_id": acct.ID, "scopes": []string{"events:publish"}}, &cred); err != nil {
		return nil, err
	}
	for i := range fanout {
		sub := map[string]any{"account_id": acct.ID, "format": "standard", "events": []string{"*"}, "url": fmt.Sprintf("%s/s%d", receiverURL, i),
			// A short schedule keeps the backlog measurement about draining, not waiting.
			"retry_policy": map[string]any{"schedule": []string{"1s", "1s", "1s", "1s", "1s"}}}
		for k, v := range extra {
			sub[k] = v
		}
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
	// entities, when set, makes events about that many entities in turn; else each its own.
	entities int

	templateOnce sync.Once
	linesJSON    []byte
}

// event is about 1 KB of typical entity data; seq lets the receiver match a delivery to its publish
// time. It is written by appending to a template: the load generator shares the machine with the
// server, and every microsecond it spends encoding is one the server does not get.
func (p *publisher) event(seq int64, dueAt *time.Time) []byte {
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
	b = append(b, `","type":"invoice.create",`...)
	if dueAt != nil {
		b = append(b, `"deliver_at":"`...)
		b = dueAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"entity":{"type":"invoice","id":"`...)
	if p.entities > 0 {
		b = strconv.AppendInt(b, seq%int64(p.entities), 10)
	} else {
		b = append(b, n...)
	}
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

// flood publishes n events from concurrency publishers, batch per request, each due at dueAt
// when it is set.
func (p *publisher) flood(ctx context.Context, rc *receiver, n, concurrency, batch int, dueAt *time.Time) (floodResult, error) {
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
					events[i] = p.event(seq, dueAt)
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
		ev := p.event(seq, nil)
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
	srv *http.Server
	url string
	// delay holds each answer back, as a receiver that does work before it answers would.
	delay time.Duration

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
	if rc.delay > 0 {
		time.Sleep(rc.delay)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.latency, rc.arrivals = nil, 0
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.arrivals
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
