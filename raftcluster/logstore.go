package raftcluster

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
)

// LogStoreKind names the Raft log store of a node that keeps its state in
// Config.DataDir.
type LogStoreKind string

const (
	// LogStoreWAL (the default) keeps the log in hashicorp/raft-wal
	// segment files under DataDir/wal: an append writes the entries and
	// one fdatasync, about what it stores.
	LogStoreWAL LogStoreKind = "wal"
	// LogStoreBolt keeps the log in the BoltDB file DataDir/raft.db
	// beside the stable store (raft-boltdb/v2, on bbolt): every append
	// rewrites B+tree pages and the freelist, several times the bytes
	// stored.
	LogStoreBolt LogStoreKind = "bolt"
)

// File names in DataDir.
const (
	boltFile = "raft.db" // stable store (term, vote), and the log with LogStoreBolt
	walDir   = "wal"     // raft-wal's segments and meta DB, with LogStoreWAL
)

// ParseLogStoreKind returns the kind named s ("" is the default,
// LogStoreWAL), or an error wrapping ErrInvalidConfig.
func ParseLogStoreKind(s string) (LogStoreKind, error) {
	switch k := LogStoreKind(s); k {
	case "", LogStoreWAL:
		return LogStoreWAL, nil
	case LogStoreBolt:
		return k, nil
	}
	return "", fmt.Errorf("%w: unknown log store %q (want %q or %q)", ErrInvalidConfig, s, LogStoreWAL, LogStoreBolt)
}

// openDiskStores opens the stores of a node in dir: raft-boltdb's stable
// store in raft.db, the log store of kind, and file snapshots. It returns
// the closers of what it opened, to be closed last to first. A DataDir
// that holds a log of the other kind is refused with an *fs.PathError
// wrapping ErrLogStoreMismatch: opening it with the other kind would start
// the node with an empty log beside its stored term.
func openDiskStores(dir string, kind LogStoreKind, logger *slog.Logger) (_ *Stores, closers []io.Closer, err error) {
	defer func() {
		if err != nil {
			closeAll(closers)
			closers = nil
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("raftcluster: data dir: %w", err)
	}
	wdir := filepath.Join(dir, walDir)
	_, werr := os.Stat(wdir)
	hasWAL := werr == nil
	if werr != nil && !errors.Is(werr, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("raftcluster: data dir: %w", werr)
	}
	if kind == LogStoreBolt && hasWAL {
		return nil, nil, &fs.PathError{Op: "open bolt log store", Path: wdir, Err: ErrLogStoreMismatch}
	}
	bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, boltFile)})
	if err != nil {
		return nil, nil, fmt.Errorf("raftcluster: open %s: %w", boltFile, err)
	}
	closers = append(closers, bs)
	var log raft.LogStore = bs
	if kind == LogStoreWAL {
		if !hasWAL {
			last, err := bs.LastIndex()
			if err != nil {
				return nil, closers, fmt.Errorf("raftcluster: open %s: %w", boltFile, err)
			}
			if last > 0 {
				return nil, closers, &fs.PathError{Op: "open wal log store", Path: filepath.Join(dir, boltFile), Err: ErrLogStoreMismatch}
			}
			if err := os.Mkdir(wdir, 0o700); err != nil {
				return nil, closers, fmt.Errorf("raftcluster: data dir: %w", err)
			}
		}
		// raft-wal's Close leaves its meta DB (a bbolt file, locked with
		// flock) open: bring our own and close it after the WAL, so that
		// the same process can open the directory again.
		meta := &metadb.BoltMetaDB{}
		closers = append(closers, meta)
		w, err := raftwal.Open(wdir, raftwal.WithLogger(newHCLog(logger, "wal")), raftwal.WithMetaStore(meta), raftwal.WithSegmentSize(WALSegmentSize),
			raftwal.WithSegmentFiler(segment.NewFiler(wdir, newWALVFS())))
		if err != nil {
			return nil, closers, fmt.Errorf("raftcluster: open %s: %w", walDir, err)
		}
		closers = append(closers, w)
		log = headedWAL{w}
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, newHCLog(logger, "snapshots"))
	if err != nil {
		return nil, closers, fmt.Errorf("raftcluster: snapshot store: %w", err)
	}
	return &Stores{Log: log, Stable: bs, Snap: snaps}, closers, nil
}

// WALSegmentSize is the size of each raft-wal segment file, which raft-wal
// preallocates on disk. Its default, 64 MiB, made the log store the largest
// thing on a node's disk (201 MB of 206 MB across three nodes after a
// 16 MiB load): with eager compaction the log holds a short tail, so
// segments only need to hold a few hundred entries. It is a soft limit: a
// segment is sealed after the append that passes it, so larger entries
// still fit. Segments that compaction leaves wholly behind are deleted.
const WALSegmentSize = 1 << 20

// closeAll closes cs last to first.
func closeAll(cs []io.Closer) {
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].Close()
	}
}
