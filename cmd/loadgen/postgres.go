package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/store/postgres/pgtest"
)

// pgConfig is the PostgreSQL scenario: the same timed flood on one SQLite node, one PostgreSQL
// node, and two PostgreSQL nodes on one database, so that the three rows come from one run.
type pgConfig struct {
	on         bool
	d          time.Duration
	publishers int
}

// pgRun is one row of the scenario: what was delivered, and the CPU it took on each side.
type pgRun struct {
	events         int
	delivered      float64 // events/s, first publish to last receipt
	nodeCPU, dbCPU float64 // seconds, over the same span
	perNode        float64 // delivered events/s per node
	latency        percentiles
}

// postgresScenario starts a throwaway cluster that keeps what it acknowledges (fsync and
// synchronous commit on, unlike the tests' cluster), and measures the three set-ups in turn, each
// on a fresh database, each node a real serve process, the receiver the same one on loopback.
func postgresScenario(ctx context.Context, cfg config, pc pgConfig, t *table) error {
	rc := newReceiver()
	defer rc.close()

	// SQLite first, measured the same way, so that the comparison does not cross runs.
	sq, err := pgMeasure(ctx, cfg, pc, rc, nil, [][]string{nil})
	if err != nil {
		return fmt.Errorf("sqlite node: %w", err)
	}
	pgRow(t, "SQLite (synchronous="+cfg.sync+"), 1 node", sq, false)

	cluster, err := pgtest.StartWith(pgtest.Durable...)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	pid, err := cluster.PID()
	if err != nil {
		return fmt.Errorf("the cluster's server process: %w", err)
	}
	dbCPU := func() float64 { return clusterCPUSeconds(pid) }

	for _, nodes := range []int{1, 2} {
		url, err := cluster.CreateDatabase(ctx)
		if err != nil {
			return err
		}
		var flags [][]string
		for i := range nodes {
			flags = append(flags, []string{"--database", url, "--node-id", fmt.Sprintf("loadgen-%d", i+1)})
		}
		r, err := pgMeasure(ctx, cfg, pc, rc, dbCPU, flags)
		if err != nil {
			return fmt.Errorf("postgresql, %d nodes: %w", nodes, err)
		}
		pgRow(t, fmt.Sprintf("PostgreSQL (fsync on), %d node%s on one database", nodes, map[bool]string{true: "s"}[nodes > 1]), r, true)
	}
	return nil
}

func pgRow(t *table, name string, r pgRun, db bool) {
	t.add(fmt.Sprintf("[%s] delivered rate, %d events, fan-out 1 (first publish to last receipt)", name, r.events),
		fmt.Sprintf("%.0f events/s (%.0f per node)", r.delivered, r.perNode), t.ratio(r.delivered))
	t.add(fmt.Sprintf("[%s] publish to receipt, p50 / p90 / p99", name), r.latency.String(), "")
	t.add(fmt.Sprintf("[%s] Switchyard CPU per delivered event (all nodes)", name), fmt.Sprintf("%.3f ms", r.nodeCPU/float64(r.events)*1000), "")
	if db {
		t.add(fmt.Sprintf("[%s] PostgreSQL CPU per delivered event (all its processes)", name), fmt.Sprintf("%.3f ms", r.dbCPU/float64(r.events)*1000), "")
	}
}

// pgMeasure starts one node per entry of nodeFlags, sets up one tenant through the first, floods
// it for pc.d from publishers spread over all nodes, waits for every delivery, and stops the nodes.
func pgMeasure(ctx context.Context, cfg config, pc pgConfig, rc *receiver, dbCPU func() float64, nodeFlags [][]string) (pgRun, error) {
	cfg.cpuProfile = ""
	var nodes []*server
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for _, f := range nodeFlags {
		n, err := startServer(ctx, cfg, f...)
		if err != nil {
			return pgRun{}, err
		}
		nodes = append(nodes, n)
	}
	tn, err := setup(nodes[0].base, rc.url+"/pg", 1, nil)
	if err != nil {
		return pgRun{}, err
	}
	var bases []string
	for _, n := range nodes {
		bases = append(bases, n.base)
	}
	nodeCPU := func() float64 {
		var s float64
		for _, n := range nodes {
			s += n.cpuSeconds()
		}
		return s
	}
	if dbCPU == nil {
		dbCPU = func() float64 { return 0 }
	}
	p := &publisher{token: tn.token, account: tn.account}
	rc.reset()
	cpu0, db0 := nodeCPU(), dbCPU()
	start := time.Now()
	n, err := p.floodFor(ctx, rc, bases, pc.publishers, pc.d)
	if err != nil {
		return pgRun{}, err
	}
	if err := rc.waitFor(ctx, n, 2*time.Minute); err != nil {
		return pgRun{}, err
	}
	cpu, db := nodeCPU()-cpu0, dbCPU()-db0
	rate := float64(n) / rc.lastArrival().Sub(start).Seconds()
	return pgRun{events: n, delivered: rate, perNode: rate / float64(len(nodes)), nodeCPU: cpu, dbCPU: db, latency: rc.latencies()}, nil
}

// floodFor publishes one event per request for d from publishers goroutines, publisher i posting to
// bases[i%len(bases)], and returns how many events were accepted.
func (p *publisher) floodFor(ctx context.Context, rc *receiver, bases []string, publishers int, d time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var sent atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for i := range publishers {
		base := bases[i%len(bases)]
		wg.Go(func() {
			for ctx.Err() == nil {
				seq := p.seq.Add(1)
				ev := p.event(seq, nil)
				rc.published(seq, time.Now())
				// Not bound to ctx: a request cut off at the deadline would leave it unknown
				// whether the event was accepted, and the count must be exact.
				if err := callRaw(base, p.token, "POST", "/v1/events", ev, nil); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	return int(sent.Load()), firstErr
}

// clusterCPUSeconds is the CPU time of a PostgreSQL server and all its processes: the postmaster's
// own, that of its children that have exited (which the kernel adds to the parent's cutime and
// cstime when it reaps them), and that of its children alive now, found in /proc by parent pid.
func clusterCPUSeconds(postmaster int) float64 {
	total := processCPUSeconds(postmaster) + reapedChildrenCPUSeconds(postmaster)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		if parentPID(pid) == postmaster {
			total += processCPUSeconds(pid)
		}
	}
	return total
}

// statFields are the fields of /proc/PID/stat after the command name, fields[0] being the state.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 > len(b) {
		return nil
	}
	return strings.Fields(string(b[i+2:]))
}

func parentPID(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

func reapedChildrenCPUSeconds(pid int) float64 {
	f := statFields(pid)
	if len(f) < 15 {
		return 0
	}
	cutime, _ := strconv.ParseFloat(f[13], 64)
	cstime, _ := strconv.ParseFloat(f[14], 64)
	return (cutime + cstime) / 100
}
