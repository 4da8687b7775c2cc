package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/holeycow/holeycow/examples/sqlcluster/httpapi"
	"github.com/holeycow/holeycow/examples/sqlcluster/sqlnode"
	"github.com/holeycow/holeycow/raftcluster"
)

// Backend adapts a Node to httpapi.Backend, so that an HTTP server can
// serve it. Requests that need the leader get an *httpapi.NotLeaderError
// with the leader's API address (Config.APIAddrOf), which the server
// forwards to.
//
// Concurrency: safe for concurrent use.
type Backend struct{ n *Node }

var _ httpapi.Backend = (*Backend)(nil)

// Backend returns the node's httpapi.Backend.
func (n *Node) Backend() *Backend { return &Backend{n: n} }

func (b *Backend) apiAddrOf(id string) string {
	if id == b.n.id {
		return b.n.cfg.APIAddr
	}
	if b.n.cfg.APIAddrOf == nil || id == "" {
		return ""
	}
	return b.n.cfg.APIAddrOf(id)
}

// mapErr turns this package's and raftcluster's errors into httpapi's.
func (b *Backend) mapErr(err error) error {
	var nl *raftcluster.NotLeaderError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nl):
		return &httpapi.NotLeaderError{LeaderHTTP: b.apiAddrOf(nl.LeaderID)}
	case errors.Is(err, ErrClosed), errors.Is(err, ErrNotReady), errors.Is(err, ErrLeaderUnreachable), errors.Is(err, raftcluster.ErrShutdown),
		errors.Is(err, raftcluster.ErrFenced):
		// A fencing refusal is what it is, with its reason: 503, not an
		// I/O error.
		return fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
	case errors.Is(err, ErrBadLevel):
		return fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	case errors.Is(err, raftcluster.ErrOutcomeUnknown):
		// Leadership lost while the entry was in flight (a lapsed leader
		// lease): the client gets that, not "internal error".
		return fmt.Errorf("%w: %w", httpapi.ErrOutcomeUnknown, err)
	}
	return err
}

// Execute implements httpapi.Backend.
func (b *Backend) Execute(ctx context.Context, req sqlnode.Request) (sqlnode.Response, error) {
	r, err := b.n.Execute(ctx, req)
	return r, b.mapErr(err)
}

// Query implements httpapi.Backend: every level reads this node's
// database, after waiting as the level needs (see Level and
// httpapi.Level). Strong reads are linearizable reads; auto is none on a
// non-voter and weak on a voter; a freshness bound (httpapi.FreshnessFrom)
// applies to none.
func (b *Backend) Query(ctx context.Context, level httpapi.Level, stmts []sqlnode.Statement) ([]sqlnode.Result, error) {
	l, err := b.level(ctx, level)
	if err != nil {
		return nil, err
	}
	rs, err := b.n.Query(ctx, l, stmts)
	return rs, b.mapErr(err)
}

// level maps an httpapi level to this package's, and checks a freshness
// bound.
func (b *Backend) level(ctx context.Context, level httpapi.Level) (Level, error) {
	if level == httpapi.LevelAuto {
		level = httpapi.LevelWeak
		if m, ok := b.n.raft.State().Member(b.n.id); ok && m.Suffrage != raftcluster.Voter {
			level = httpapi.LevelNone
		}
	}
	switch level {
	case httpapi.LevelNone:
		return LevelNone, b.n.checkFresh(httpapi.FreshnessFrom(ctx))
	case httpapi.LevelWeak:
		return LevelWeak, nil
	case httpapi.LevelLinearizable, httpapi.LevelStrong:
		return LevelLinearizable, nil
	}
	return 0, fmt.Errorf("%w: level %d", httpapi.ErrBadRequest, int(level))
}

// BackupTo implements httpapi.Backuper: a consistent copy of this node's
// database after waiting as a read at level would (auto and freshness
// as for Query).
func (b *Backend) BackupTo(ctx context.Context, level httpapi.Level, path string) error {
	l, err := b.level(ctx, level)
	if err != nil {
		return err
	}
	return b.mapErr(b.n.BackupTo(ctx, l, path))
}

// Status implements httpapi.Backend.
func (b *Backend) Status(ctx context.Context) (httpapi.Status, error) {
	n := b.n
	lid, laddr := n.raft.Leader()
	state := "Follower"
	if n.raft.IsLeader() {
		state = "Leader"
	}
	if n.closed() {
		state = "Shutdown"
	}
	st := n.Stats()
	cs := n.raft.State()
	return httpapi.Status{
		NodeID: n.id, RaftAddr: n.raft.RaftAddr(), LeaderID: lid, LeaderRaftAddr: laddr, State: state,
		Term: cs.Epoch, CommitIndex: n.raft.CommitIndex(), AppliedIndex: st.AppliedIndex,
		Extra: map[string]any{
			"writer": cs.Writer, "epoch": cs.Epoch, "db_index": st.DBIndex, "durable_index": st.Durable,
			"overlay_bytes": st.OverlayBytes, "resets": st.Resets, "ready": st.Ready,
			"apply": applyStatus(st.Apply),
		},
	}, nil
}

// probeTimeout bounds the probe of a member that this node does not
// observe, for Nodes.
const probeTimeout = 2 * time.Second

// Nodes implements httpapi.Backend. Reachable is what this node observed:
// on the leader, an answer to its heartbeats within the heartbeat timeout
// (raftcluster.Contact, Time the heartbeat's round trip); on a follower,
// the same for the leader, and for every other member a probe over the
// Raft port now (Time its round trip), as a follower hears from the
// leader only. Error says why a member is not reachable.
func (b *Backend) Nodes(ctx context.Context) ([]httpapi.NodeInfo, error) {
	lid, _ := b.n.raft.Leader()
	contacts := b.n.raft.Contacts()
	members := b.n.raft.State().Members
	out := make([]httpapi.NodeInfo, len(members))
	now := time.Now()
	var wg sync.WaitGroup
	for i, m := range members {
		out[i] = httpapi.NodeInfo{ID: m.ID, APIAddr: b.apiAddrOf(m.ID), Addr: m.RaftAddr,
			Voter: m.Suffrage == raftcluster.Voter, Leader: m.ID == lid}
		c := contacts[m.ID]
		if !c.Observed {
			wg.Add(1)
			go func(ni *httpapi.NodeInfo) {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, probeTimeout)
				defer cancel()
				rtt, err := b.n.raft.Ping(pctx, ni.Addr)
				ni.Reachable, ni.Time = err == nil, rtt.Seconds()
				if err != nil {
					ni.Error = err.Error()
				}
			}(&out[i])
			continue
		}
		out[i].Reachable, out[i].Time = c.Reachable, c.RTT.Seconds()
		switch {
		case c.Reachable:
		case c.Last.IsZero():
			out[i].Error = "no contact yet"
		default:
			out[i].Error = fmt.Sprintf("no contact for %v", now.Sub(c.Last).Round(time.Millisecond))
		}
	}
	wg.Wait()
	return out, nil
}

// IsLeader implements httpapi.LeaderChecker (queued writes are queued on
// the leader).
func (b *Backend) IsLeader() error {
	if b.n.raft.IsLeader() {
		return nil
	}
	id, _ := b.n.raft.Leader()
	return &httpapi.NotLeaderError{LeaderHTTP: b.apiAddrOf(id)}
}

// Ready implements httpapi.Backend.
func (b *Backend) Ready(ctx context.Context) error { return b.ReadyWith(ctx, httpapi.ReadyOptions{}) }

// ReadyWith implements httpapi.ReadyWither: NoLeader skips the check for
// a known leader; Sync then waits until this node applied the leader's
// commit index (as for a weak read).
func (b *Backend) ReadyWith(ctx context.Context, o httpapi.ReadyOptions) error {
	if b.n.closed() {
		return fmt.Errorf("%w: %w", httpapi.ErrUnavailable, ErrClosed)
	}
	if id, _ := b.n.raft.Leader(); id == "" && !o.NoLeader {
		return fmt.Errorf("%w: no leader known", httpapi.ErrUnavailable)
	}
	if o.Sync {
		idx, err := b.n.leaderCommitIndex(ctx)
		if err == nil {
			err = b.n.raft.WaitApplied(ctx, idx)
		}
		if err != nil {
			return fmt.Errorf("%w: sync with the leader: %w", httpapi.ErrUnavailable, err)
		}
	}
	if !b.n.eng.ready() {
		if err := b.n.eng.health.notReady(); err != nil {
			return fmt.Errorf("%w: %w", httpapi.ErrUnavailable, err)
		}
		return fmt.Errorf("%w: %w (opening or catching up)", httpapi.ErrUnavailable, ErrNotReady)
	}
	return nil
}

// Join implements httpapi.Backend (leader only).
func (b *Backend) Join(ctx context.Context, req httpapi.JoinRequest) error {
	if !req.IsVoter() {
		return fmt.Errorf("%w: members join as non-voters and are promoted by the leader; voter=false is not supported", errors.ErrUnsupported)
	}
	return b.mapErr(b.n.raft.Join(ctx, req.ID, req.Addr, ""))
}

// Remove implements httpapi.Backend (leader only).
func (b *Backend) Remove(ctx context.Context, id string) error {
	if _, ok := b.n.raft.State().Member(id); !ok {
		return fmt.Errorf("%w: no member %q", httpapi.ErrNotFound, id)
	}
	return b.mapErr(b.n.raft.Remove(ctx, id))
}

// applyStatus is the "apply" section of /status: "ok", or why applying
// fails here.
func applyStatus(h ApplyHealth) map[string]any {
	m := map[string]any{"state": "ok", "hand_overs": h.HandOvers}
	if h.Failing {
		m["state"] = "failing"
		m["kind"] = string(h.Kind)
		m["reason"] = h.Kind.describe()
		m["error"] = h.Error
		m["since"] = h.Since.UTC().Format(time.RFC3339Nano)
		m["attempts"] = h.Consecutive
		// A full disk is every writer's: say that handing over would not
		// help, rather than move leadership around.
		m["writer_change_helps"] = h.Kind == FailureIO
	}
	return m
}
