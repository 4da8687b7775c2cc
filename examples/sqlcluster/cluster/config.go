package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/holeycow/holeycow/raftcluster"
)

// Level is a read consistency level.
type Level int

const (
	// LevelNone reads this node's database as it is: fastest, possibly
	// stale.
	LevelNone Level = iota
	// LevelWeak asks the leader for its commit index (one small request
	// over the Raft port, no quorum round; none on the leader), waits
	// until this node has applied it, then reads here. It sees every
	// write that the node believing it leads had acknowledged when it
	// answered, so every write acknowledged before the read began but
	// those of a successor that a deposed leader does not know of yet.
	// Through the HTTP API (httpapi.CanForward), a follower that cannot
	// serve it soon (database not ready, more than WeakReadMaxLag entries
	// behind, or not caught up within WeakReadMaxWait) returns a
	// *raftcluster.NotLeaderError instead, and the API forwards the read
	// to the leader; called directly, it waits.
	LevelWeak
	// LevelLinearizable asks the leader for a read index (it confirms its
	// leadership with a quorum), waits until this node has applied it,
	// then reads here. It sees every write acknowledged before it began.
	LevelLinearizable
)

var levelNames = [...]string{"none", "weak", "linearizable"}

func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return levelNames[l]
}

// Config configures a Node.
type Config struct {
	// ID names the member: unique, stable.
	ID string
	// Transport carries Raft (raftcluster.NewTLSTransport). The node owns
	// it and closes it.
	Transport raftcluster.Transport
	// DataDir holds the Raft log, stable store and snapshots; ignored
	// when Stores is set. One of the two is required.
	DataDir string
	Stores  *raftcluster.Stores
	// LogStore picks the Raft log store in DataDir: raft-wal (the
	// default) or raft-boltdb (see raftcluster.Config.LogStore).
	LogStore raftcluster.LogStoreKind
	// JournalMode and Synchronous of the shared SQLite database (see
	// sqlnode.Options and the package doc): "WAL" with "NORMAL" by
	// default, the Raft log being the per-commit durability point;
	// "TRUNCATE" with "FULL" syncs every commit of the database. In WAL
	// mode every view checkpoints at a quarter of ResetThreshold (at most
	// SQLite's 1000 pages), which keeps copier overlays small.
	JournalMode, Synchronous string
	// IndexDir is a node-local directory (never on shared storage) for
	// the WAL index of the member's view; default DataDir/sqlite-index,
	// or a temporary directory removed by Close when DataDir is empty.
	// Index files left by an earlier process are removed at New.
	IndexDir string
	// Storage makes the member's storage (Networked, or
	// localcluster.InProcess for members of one process).
	Storage StorageFunc
	// DBName is the database file on shared storage (default "main.db").
	DBName string
	// Timeouts for Raft and the writer lease (zero: LANTimeouts).
	Timeouts raftcluster.Timeouts
	// ResetThreshold and ResetFraction bound copier overlays: a copier
	// whose overlay reaches max(ResetThreshold, ResetFraction × the
	// database's size) is reset (garbage collection), one copier at a
	// time (the cluster's single reset slot); reads on it wait meanwhile.
	// Zero values mean DefaultResetThreshold and DefaultResetFraction; a
	// negative ResetFraction resets at ResetThreshold alone.
	ResetThreshold int64
	ResetFraction  float64
	// CopierMode is how a copier follows the writer (see CopierMode):
	// CopierReplay (the default) or CopierRefresh. Members may differ.
	CopierMode CopierMode
	// RefreshLag bounds how far a copier in refresh mode lags behind the
	// log: once an entry it has not applied is this old, it refreshes
	// (default DefaultRefreshLag). Reads at LevelWeak and
	// LevelLinearizable refresh on demand whatever it is.
	RefreshLag time.Duration
	// DurableInterval is how often the writer records in the log how far
	// the shared database is durable (which bounds log compaction on
	// every node); default 1s.
	DurableInterval time.Duration
	// SnapshotThreshold and TrailingLogs tune Raft snapshots (see
	// raftcluster.Config).
	SnapshotThreshold, TrailingLogs uint64
	// LeaderReadIndex, if set, obtains a read index from the leader for a
	// linearizable read on a follower (an RPC in a real deployment; the
	// in-process cluster calls the leader directly). Without it a
	// linearizable read on a follower returns a *raftcluster.NotLeaderError.
	LeaderReadIndex func(ctx context.Context, leaderID string) (uint64, error)
	// APIAddr is this node's HTTP API base URL, reported by the
	// httpapi.Backend methods; APIAddrOf maps other members' IDs to
	// theirs (nil: unknown).
	APIAddr   string
	APIAddrOf func(id string) string
	// MaxSteps bounds each write request's work in SQLite VM steps
	// (sqlnode.Options.MaxSteps): a request that runs longer fails, as its
	// result, alike on every member, and the leader refuses read-only
	// statements that would, before they enter the log. Give every member
	// the same value. 0 means sqlnode.DefaultMaxSteps; negative, no bound.
	MaxSteps int64
	// Logger (nil discards).
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.ID == "" {
		return fmt.Errorf("cluster: Config.ID is empty")
	}
	if c.Transport == nil {
		return fmt.Errorf("cluster: Config.Transport is nil")
	}
	if c.Storage == nil {
		return fmt.Errorf("cluster: Config.Storage is nil")
	}
	if c.Stores == nil && c.DataDir == "" {
		return fmt.Errorf("cluster: Config.DataDir or Config.Stores is required")
	}
	if c.DBName == "" {
		c.DBName = "main.db"
	}
	if c.JournalMode == "" {
		c.JournalMode = "WAL"
	}
	if c.IndexDir == "" && c.DataDir != "" {
		c.IndexDir = filepath.Join(c.DataDir, "sqlite-index")
	}
	if c.Timeouts == (raftcluster.Timeouts{}) {
		c.Timeouts = raftcluster.LANTimeouts()
	}
	if c.ResetThreshold <= 0 {
		c.ResetThreshold = DefaultResetThreshold
	}
	if c.ResetFraction == 0 {
		c.ResetFraction = DefaultResetFraction
	}
	if err := c.fillRefresh(); err != nil {
		return err
	}
	if c.DurableInterval <= 0 {
		c.DurableInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
