//go:build !nocluster

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/cluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/cluster/localcluster"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

// benchCluster is an in-process replicated SQL cluster
// (examples/sqlcluster/cluster/localcluster.Cluster: Raft over loopback TCP with mutual
// TLS through counting proxies, BoltDB logs, LAN timeouts, the cluster's
// default storage).
type benchCluster struct {
	*localcluster.Cluster
	unknown atomic.Int64 // requests committed whose result was lost (see execReq)
	retried atomic.Int64 // requests sent again after an unknown outcome
}

// settle waits, up to d, until every member has applied the leader's
// commit index and serves its database (no catch-up or reopening under
// way).
func (bc *benchCluster) settle(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		l, err := bc.Leader(ctx)
		if err != nil {
			return err
		}
		commit, quiet := l.Raft().CommitIndex(), true
		for _, n := range bc.Nodes() {
			if st := n.Stats(); st.AppliedIndex < commit || !st.Ready {
				quiet = false
			}
		}
		if quiet {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: members not caught up after %v", d)
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// startCluster starts a cluster of n members in a fresh directory.
func (e *env) startCluster(name string, n int, tune func(*localcluster.Options)) (*benchCluster, error) {
	dir, err := e.subdir(name)
	if err != nil {
		return nil, err
	}
	bc := &benchCluster{}
	opts := localcluster.Options{
		Nodes:    n,
		Dir:      dir,
		MemRaft:  raceEnabled,
		Timeouts: raftcluster.LANTimeouts(),
	}
	if tune != nil {
		tune(&opts)
	}
	ctx, cancel := e.withTimeout(60 * time.Second)
	defer cancel()
	t0 := time.Now()
	bc.Cluster, err = localcluster.Start(ctx, opts)
	e.p.Printf("%s: %d-member cluster started in %v", name, n, time.Since(t0).Round(time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("bench: start cluster: %w", err)
	}
	e.defer_(func() error {
		// Close in the background: a cluster that does not stop must not
		// stop the run (its goroutines then leak until the program ends).
		t0 := time.Now()
		var lease raftcluster.LeaseStats // read before Close: the nodes go away
		for _, n := range bc.Nodes() {
			ls := n.Raft().LeaseStats()
			lease.Failures += ls.Failures
			lease.GuardRenewals += ls.GuardRenewals
			lease.GuardRefusals += ls.GuardRefusals
		}
		done := make(chan error, 1)
		go func() { done <- bc.Cluster.Close() }()
		select {
		case err := <-done:
			if u, r := bc.unknown.Load(), bc.retried.Load(); u+r > 0 {
				e.rep.Detail("%s: %d requests committed but reported ErrOutcomeUnknown (leader's database reopening), counted as written; %d resent idempotently after leadership was lost while committing", name, u, r)
			}
			if lease.Failures+lease.GuardRenewals+lease.GuardRefusals > 0 {
				e.rep.Detail("%s: writer lease (live members): %d quorum rounds failed, %d mutations renewed a lapsed lease first, %d refused for a lapsed lease", name, lease.Failures, lease.GuardRenewals, lease.GuardRefusals)
			}
			e.p.Printf("%s: cluster closed in %v", name, time.Since(t0).Round(time.Millisecond))
			return err
		case <-time.After(time.Minute):
			return fmt.Errorf("bench: %s: cluster Close did not return within a minute", name)
		}
	})
	return bc, nil
}

// figureCluster starts a figure's 3-member cluster, with a context that
// ends after d, and runs schema on it. done cancels the context and closes
// the cluster.
func (e *env) figureCluster(name string, d time.Duration, schema string) (bc *benchCluster, ctx context.Context, done func(), err error) {
	mark := e.mark()
	if bc, err = e.startCluster(name, 3, nil); err != nil {
		e.closeTo(mark)
		return nil, nil, nil, err
	}
	ctx, cancel := e.withTimeout(d)
	done = func() {
		cancel()
		e.closeTo(mark)
	}
	if _, err := bc.exec(ctx, schema); err != nil {
		done()
		return nil, nil, nil, err
	}
	return bc, ctx, done, nil
}

// clients runs fn(0) ... fn(n-1) on the given number of goroutines, each
// taking the next i, until every i is done, ctx ends or fn fails; it
// returns fn's errors.
func clients(ctx context.Context, clients, n int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				if err := fn(int(i)); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// raftBytes returns the bytes held in every member's Raft directory
// (BoltDB log and stable store, snapshots).
func (bc *benchCluster) raftBytes() (int64, error) {
	var total int64
	root := filepath.Join(bc.Dir(), "raft")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		}
		return nil
	})
	if os.IsNotExist(err) {
		return 0, nil
	}
	return total, err
}

// exec runs one statement through the replicated log and returns its
// log index (0 if the result was lost, see execReq).
func (bc *benchCluster) exec(ctx context.Context, sql string, params ...any) (uint64, error) {
	st := sqlnode.Statement{SQL: sql}
	for _, p := range params {
		st.Params = append(st.Params, sqlnode.Param{Value: p})
	}
	return bc.execReq(ctx, sqlnode.Request{Statements: []sqlnode.Statement{st}})
}

// execReq runs a request through the replicated log.
//
// An ErrOutcomeUnknown that says the entry committed (the leader's
// database was reopening when it applied, or it was fenced right after
// the commit, so its result was lost) counts as success: the entry is durable and every member applies it. Any other
// ErrOutcomeUnknown (leadership lost while committing) may or may not
// have committed: the request is sent again in its idempotent form
// (INSERT OR IGNORE, CREATE TABLE IF NOT EXISTS), at most 5 times. Both
// are counted (bc.unknown, bc.retried) and reported.
func (bc *benchCluster) execReq(ctx context.Context, req sqlnode.Request) (uint64, error) {
	for attempt := 0; ; attempt++ {
		// A request that takes 30 s is stuck (a member that never
		// reopens its database, say): fail the figure, not the run.
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := bc.Execute(rctx, req)
		cancel()
		if errors.Is(err, raftcluster.ErrOutcomeUnknown) {
			// "entry N committed but its result is not available
			// here" or "entry N committed, but this node could not
			// apply it" (fenced after the commit): durable either way.
			if m := err.Error(); strings.Contains(m, " committed but") || strings.Contains(m, " committed, but") {
				bc.unknown.Add(1)
				return 0, nil
			}
			if attempt < 5 && ctx.Err() == nil && strings.Contains(err.Error(), "leadership lost") {
				bc.retried.Add(1)
				req = idempotent(req)
				continue
			}
		}
		if err != nil {
			return 0, err
		}
		if resp.Error != "" || resp.RolledBack {
			msg := resp.Error
			for _, r := range resp.Results {
				if r.Error != "" {
					msg = r.Error
				}
			}
			return resp.Index, fmt.Errorf("bench: %s: %s", req.Statements[0].SQL, msg)
		}
		return resp.Index, nil
	}
}

// idempotent returns req with every INSERT made INSERT OR IGNORE and
// every CREATE TABLE made CREATE TABLE IF NOT EXISTS, so that sending it
// again after an unknown outcome applies it at most once.
func idempotent(req sqlnode.Request) sqlnode.Request {
	out := sqlnode.Request{Statements: make([]sqlnode.Statement, len(req.Statements))}
	for i, st := range req.Statements {
		switch {
		case strings.HasPrefix(st.SQL, "INSERT INTO "):
			st.SQL = "INSERT OR IGNORE INTO " + strings.TrimPrefix(st.SQL, "INSERT INTO ")
		case strings.HasPrefix(st.SQL, "CREATE TABLE ") && !strings.HasPrefix(st.SQL, "CREATE TABLE IF NOT EXISTS "):
			st.SQL = "CREATE TABLE IF NOT EXISTS " + strings.TrimPrefix(st.SQL, "CREATE TABLE ")
		}
		out.Statements[i] = st
	}
	return out
}

// copier returns a live member that is not the writer.
// schemaOnCopier creates schema through the writer, lets the cluster
// settle (every member applied it) and returns a copier.
func (bc *benchCluster) schemaOnCopier(ctx context.Context, schema string) (*cluster.Node, error) {
	if _, err := bc.exec(ctx, schema); err != nil {
		return nil, err
	}
	if err := bc.settle(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	return bc.copier(ctx)
}

func (bc *benchCluster) copier(ctx context.Context) (*cluster.Node, error) {
	w, err := bc.Writer(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range bc.Nodes() {
		if n.ID() != w.ID() && n.Stats().Ready {
			return n, nil
		}
	}
	return nil, fmt.Errorf("bench: no ready copier")
}

// poll calls cond until it is true or d has passed, pausing a little
// between calls; it returns how long it took.
func poll(ctx context.Context, d time.Duration, cond func() (bool, error)) (time.Duration, error) {
	t0 := time.Now()
	deadline := t0.Add(d)
	for i := 0; ; i++ {
		ok, err := cond()
		if err != nil {
			return 0, err
		}
		if ok {
			return time.Since(t0), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("bench: condition not met within %v", d)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if i > 100 {
			time.Sleep(200 * time.Microsecond) // a poll interval, not a wait for the condition
		}
	}
}

// waitVoters waits until the cluster state lists exactly n voters, every
// one of them live and ready, so that killing one still leaves a quorum.
func (bc *benchCluster) waitVoters(ctx context.Context, n int, d time.Duration) error {
	_, err := poll(ctx, d, func() (bool, error) {
		l, err := bc.Leader(ctx)
		if err != nil {
			return false, err
		}
		live := map[string]bool{}
		for _, m := range bc.Nodes() {
			live[m.ID()] = m.Stats().Ready
		}
		voters := 0
		for _, m := range l.Raft().State().Members {
			if m.Suffrage == raftcluster.Voter {
				if !live[m.ID] {
					return false, nil
				}
				voters++
			}
		}
		return voters == n, nil
	})
	return err
}
