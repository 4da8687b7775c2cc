package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the write queue (rqlite's).
const (
	DefaultQueueBatchSize = 128
	DefaultQueueTimeout   = 50 * time.Millisecond
	DefaultQueueCapacity  = 1024
)

// LeaderChecker is implemented by a Backend that can tell cheaply whether
// it leads. The Server queues ?queue writes on the leader only: a node
// that does not lead forwards them (the leader answers with its sequence
// number). A Backend without it is taken as the leader (as Standalone is).
type LeaderChecker interface {
	// IsLeader returns nil on the leader, else a *NotLeaderError.
	IsLeader() error
}

// queued is one ?queue request waiting in the queue.
type queued struct {
	seq   uint64
	stmts []sqlnode.Statement
	tx    bool
	// done, if not nil (?wait), receives the request's results once its
	// batch applied, or the error.
	done chan queueResult
}

type queueResult struct {
	rs  []sqlnode.Result
	idx uint64
	err error
}

// writeQueue batches queued writes: up to batch requests, or what came
// within timeout of the first, become one Backend.Execute (one log
// entry). A batch whose Execute fails, or with a failing statement (which
// rolled the whole batch back), is run again request by request, so that
// a bad request fails alone, with its own rqlite semantics.
//
// Concurrency: enqueue is safe for concurrent use; one goroutine flushes.
type writeQueue struct {
	s       *Server
	batch   int
	timeout time.Duration
	ch      chan *queued
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
	closeMu sync.Once
	// sendMu: enqueue holds it shared while it sends, close exclusively
	// to set closed, so that no request lands after the final drain.
	sendMu sync.RWMutex
	closed bool

	mu      sync.Mutex
	nextSeq uint64

	errs    prometheus.Counter
	batches prometheus.Counter
	writes  prometheus.Counter
}

func newWriteQueue(s *Server, batch, capacity int, timeout time.Duration) (*writeQueue, error) {
	q := &writeQueue{s: s, batch: batch, timeout: timeout, ch: make(chan *queued, capacity),
		stop: make(chan struct{}), stopped: make(chan struct{}), nextSeq: uint64(time.Now().UnixNano())}
	q.errs = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "holeycow", Subsystem: "http", Name: "queue_errors_total",
		Help: "Queued write requests that failed (their error is logged)."})
	q.batches = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "holeycow", Subsystem: "http", Name: "queue_batches_total",
		Help: "Batches of queued writes executed."})
	q.writes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "holeycow", Subsystem: "http", Name: "queue_requests_total",
		Help: "Write requests queued (?queue)."})
	for _, c := range []prometheus.Collector{q.errs, q.batches, q.writes} {
		if err := s.reg.Register(c); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// enqueue adds a request and returns its sequence number; it blocks while
// the queue is full, until ctx ends.
func (q *writeQueue) enqueue(ctx context.Context, r *queued) error {
	q.once.Do(func() { go q.run() })
	q.mu.Lock()
	q.nextSeq++
	r.seq = q.nextSeq
	q.mu.Unlock()
	q.sendMu.RLock()
	defer q.sendMu.RUnlock()
	if q.closed {
		return errors.New("httpapi: server closed")
	}
	select {
	case q.ch <- r:
		q.writes.Inc()
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// close stops the flusher after it executed what is queued.
func (q *writeQueue) close() {
	q.closeMu.Do(func() {
		q.sendMu.Lock()
		q.closed = true
		q.sendMu.Unlock()
		close(q.stop)
		// Never started: nothing to wait for; else run closes stopped
		// once it drained the queue.
		q.once.Do(func() { close(q.stopped) })
		<-q.stopped
	})
}

func (q *writeQueue) run() {
	defer close(q.stopped)
	for {
		var first *queued
		select {
		case first = <-q.ch:
		case <-q.stop:
			q.drain()
			return
		}
		b := []*queued{first}
		t := time.NewTimer(q.timeout)
	fill:
		for len(b) < q.batch {
			select {
			case r := <-q.ch:
				b = append(b, r)
			case <-t.C:
				break fill
			case <-q.stop:
				break fill
			}
		}
		t.Stop()
		q.flush(b)
	}
}

// drain executes what is left in the queue, at close.
func (q *writeQueue) drain() {
	for {
		var b []*queued
	take:
		for len(b) < q.batch {
			select {
			case r := <-q.ch:
				b = append(b, r)
			default:
				break take
			}
		}
		if len(b) == 0 {
			return
		}
		q.flush(b)
	}
}

// flush executes one batch as one request; if that fails or a statement
// of it fails, each request runs alone.
func (q *writeQueue) flush(b []*queued) {
	q.batches.Inc()
	ctx, cancel := context.WithTimeout(context.Background(), q.s.cfg.Timeout)
	defer cancel()
	var all []sqlnode.Statement
	for _, r := range b {
		all = append(all, r.stmts...)
	}
	resp, err := q.s.cfg.Backend.Execute(ctx, q.s.writeRequest(all))
	if err == nil && len(resp.Results) == len(all) && !failed(resp.Results) {
		off := 0
		for _, r := range b {
			n := len(r.stmts)
			q.answer(r, queueResult{rs: resp.Results[off : off+n], idx: resp.Index})
			off += n
		}
		return
	}
	if err != nil {
		q.s.log.Debug("httpapi: queued batch failed as a whole; running its requests one by one", "requests", len(b), "err", err)
	}
	for _, r := range b {
		idx, rs, err := q.s.execute(ctx, r.stmts, r.tx)
		q.answer(r, queueResult{rs: rs, idx: idx, err: err})
	}
}

func failed(rs []sqlnode.Result) bool {
	for _, r := range rs {
		if r.Error != "" {
			return true
		}
	}
	return false
}

// answer reports a queued request's outcome: its errors are logged and
// counted, and a waiting client gets it.
func (q *writeQueue) answer(r *queued, res queueResult) {
	if res.err != nil || failed(res.rs) {
		q.errs.Inc()
		msg := ""
		if res.err != nil {
			msg = res.err.Error()
		} else {
			for _, x := range res.rs {
				if x.Error != "" {
					msg = x.Error
					break
				}
			}
		}
		q.s.log.Warn("httpapi: queued write failed", "sequence_number", r.seq, "statements", len(r.stmts), "err", msg)
	}
	if r.done != nil {
		r.done <- res
	}
}

// runQueued serves a ?queue write: on the leader (others forward it) it
// queues the statements and answers at once with the request's sequence
// number and no results; with ?wait it answers once the request's batch
// applied, with its results. SQL that Prepare would refuse gets its 400
// now, before queueing.
func (s *Server) runQueued(ctx context.Context, req dbRequest) (uint64, []sqlnode.Result, bool, error) {
	if lc, ok := s.cfg.Backend.(LeaderChecker); ok {
		if err := lc.IsLeader(); err != nil {
			return 0, nil, false, err
		}
	}
	if _, err := sqlnode.Rewrite(sqlnode.Request{Statements: req.stmts}, sqlnode.Env{}); err != nil {
		return 0, nil, false, err
	}
	r := &queued{stmts: req.stmts, tx: req.opts.transaction}
	if req.opts.wait {
		r.done = make(chan queueResult, 1)
	}
	if err := s.queue.enqueue(ctx, r); err != nil {
		return 0, nil, false, fmt.Errorf("%w: queue: %w", ErrUnavailable, err)
	}
	if r.done == nil {
		return r.seq, []sqlnode.Result{}, true, nil
	}
	select {
	case res := <-r.done:
		if res.err != nil {
			return 0, nil, false, res.err
		}
		return r.seq, res.rs, true, nil
	case <-ctx.Done():
		return 0, nil, false, context.Cause(ctx)
	}
}
