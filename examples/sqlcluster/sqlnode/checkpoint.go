package sqlnode

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ncruces/go-sqlite3"
)

// Background checkpoints (WAL mode without ExclusiveLocking, unless
// Options.CheckpointInApply).
//
// SQLite's wal_autocheckpoint runs the checkpoint inside the commit that
// takes the WAL past the threshold, on the committing connection: that
// commit (the apply of one log entry) then copies the whole WAL into the
// database and syncs both. Here a WAL hook on the apply connection only
// notes the WAL's size and, past the threshold, wakes a goroutine that
// checkpoints (PASSIVE) on a connection of its own, while the applier goes
// on. A PASSIVE checkpoint copies only the frames committed before it
// started, and the WAL restarts from its beginning only when a commit
// finds every frame copied; under steady load that rarely happens, and the
// WAL would grow. So when frames remain after the first pass, a second
// pass runs while holding the apply lock: it copies only what was
// committed during the first (its syncs are small), and the next commit
// restarts the WAL.
//
// Durability is unchanged: a checkpoint syncs the WAL before it writes the
// database and the database after (synchronous=NORMAL), on whichever
// connection, and a crash in the middle leaves the WAL to replay; what the
// log may be compacted up to is still what Flush returns.

// checkpointer is the background checkpointer of one Node.
//
// Concurrency: kick is called by the apply connection's WAL hook (under
// the apply lock); run is called by the goroutine (or, in tests with
// manual set, by the test's goroutine), never by two at once; stopWait by
// Close.
type checkpointer struct {
	threshold int           // WAL pages at which a commit wakes it
	backlog   int           // WAL pages at which the commit checkpoints itself
	kicked    chan struct{} // cap 1
	stop      chan struct{}
	wg        sync.WaitGroup
	manual    bool // tests: no goroutine; checkpointDue runs it

	conn *sqlite3.Conn // opened on first use; owned by run

	// runs counts checkpoints, locked those that needed the second
	// pass under the apply lock, failures those that failed, inline the
	// commits that checkpointed themselves (backlog).
	runs, locked, failures, inline atomic.Int64
}

func newCheckpointer(threshold int, manual bool) *checkpointer {
	return &checkpointer{threshold: threshold, backlog: backlogFactor * threshold, kicked: make(chan struct{}, 1), stop: make(chan struct{}), manual: manual}
}

// backlogFactor bounds the WAL at that many times the threshold: past it
// the commit checkpoints in the hook itself, as SQLite's autocheckpoint
// would. The goroutine keeps up on a quiet machine; under load it fell
// behind, the WAL on shared storage grew to several MiB, and every copier
// preserved and re-checkpointed it: in the cluster's reset-policy test,
// overlays reached 0.8 of the database and copiers reset one after another
// (42 resets for 120 updates), against 0.4 and 20 with checkpoints in
// apply.
const backlogFactor = 4

// hook is the apply connection's WAL hook.
func (c *checkpointer) hook(conn *sqlite3.Conn, _ string, pages int) error {
	if pages >= c.backlog {
		// The goroutine is behind: this commit checkpoints, bounding
		// the WAL. A failure (busy: the goroutine is checkpointing) is
		// left to the goroutine and the next commit.
		c.inline.Add(1)
		conn.WALCheckpoint("main", sqlite3.CHECKPOINT_PASSIVE)
		return nil
	}
	if pages >= c.threshold {
		select {
		case c.kicked <- struct{}{}:
		default:
		}
	}
	return nil
}

// start starts the goroutine (not in manual mode).
func (n *Node) startCheckpointer() {
	c := n.ckpt
	if c == nil || c.manual {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-c.stop:
				return
			case <-c.kicked:
			}
			n.checkpoint()
		}
	}()
}

// checkpointDue runs a checkpoint if the WAL hook asked for one (manual
// mode: tests call it where the goroutine would run).
func (n *Node) checkpointDue() {
	select {
	case <-n.ckpt.kicked:
		n.checkpoint()
	default:
	}
}

// checkpoint runs one background checkpoint (see above). A failure is
// logged and counted; the next commit past the threshold tries again.
func (n *Node) checkpoint() {
	c := n.ckpt
	err := n.checkpointPasses()
	c.runs.Add(1)
	if err != nil {
		c.failures.Add(1)
		n.opts.Logger.Info("sqlnode: background checkpoint failed", "path", n.opts.Path, "err", err)
	}
}

func (n *Node) checkpointPasses() error {
	c := n.ckpt
	if c.conn == nil {
		conn, err := sqlite3.OpenFlags(n.uri, sqlite3.OPEN_READWRITE|sqlite3.OPEN_URI|sqlite3.OPEN_EXRESCODE)
		if err != nil {
			return fmt.Errorf("sqlnode: open the checkpoint connection: %w", err)
		}
		// It never closes last (Close closes it before the apply
		// connection), but should it, it must not checkpoint then.
		_, err = conn.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true)
		if err == nil {
			// The checkpoint's syncs follow the connection's setting.
			err = conn.Exec("PRAGMA synchronous=" + n.opts.Synchronous)
		}
		if err == nil {
			err = conn.BusyTimeout(busyTimeout)
		}
		if err != nil {
			conn.Close()
			return fmt.Errorf("sqlnode: open the checkpoint connection: %w", err)
		}
		c.conn = conn
	}
	storageCause(c.conn) // forget what failed before
	nLog, nCkpt, err := c.conn.WALCheckpoint("main", sqlite3.CHECKPOINT_PASSIVE)
	if err != nil {
		cause, _ := storageCause(c.conn)
		return withCause(err, cause)
	}
	if nCkpt >= nLog {
		return nil
	}
	// Frames committed during the first pass: copy them with the applier
	// held, so that the next commit can restart the WAL.
	c.locked.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.conn == nil {
		return nil // closing
	}
	if _, _, err := c.conn.WALCheckpoint("main", sqlite3.CHECKPOINT_PASSIVE); err != nil {
		cause, _ := storageCause(c.conn)
		return withCause(err, cause)
	}
	return nil
}

// stopCheckpointer stops the goroutine and closes its connection (Close,
// before the apply connection closes).
func (n *Node) stopCheckpointer() error {
	c := n.ckpt
	if c == nil {
		return nil
	}
	close(c.stop)
	c.wg.Wait()
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// CheckpointStats counts background checkpoints: Runs, those whose
// second pass ran under the apply lock (Locked), those that failed
// (Failures), and the commits that checkpointed themselves because the
// WAL passed backlogFactor times the threshold (Inline). All zero when
// checkpoints run in apply.
type CheckpointStats struct {
	Runs, Locked, Failures, Inline int64
}

// CheckpointStats returns the background checkpointer's counters.
func (n *Node) CheckpointStats() CheckpointStats {
	if n.ckpt == nil {
		return CheckpointStats{}
	}
	return CheckpointStats{Runs: n.ckpt.runs.Load(), Locked: n.ckpt.locked.Load(), Failures: n.ckpt.failures.Load(), Inline: n.ckpt.inline.Load()}
}
