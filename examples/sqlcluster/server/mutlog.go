package server

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// Mutation is one line of a -mutation-log file: a mutation of shared
// storage, recorded before it is attempted.
type Mutation struct {
	Time  time.Time `json:"time"`
	Epoch uint64    `json:"epoch"` // the node's writer epoch then (0: not the writer)
	Op    string    `json:"op"`    // write, truncate, create, remove, rename, mkdir
	Path  string    `json:"path"`
	Off   int64     `json:"off,omitempty"`
	Len   int64     `json:"len,omitempty"`
	To    string    `json:"to,omitempty"` // rename target
}

// mutationLog appends Mutations to a file, one JSON line each, written
// with one write call before the mutation is attempted, so a mutation that
// reaches storage is always in the log first.
//
// Concurrency: safe for concurrent use; mu serializes appends.
type mutationLog struct {
	epoch func() uint64
	mu    struct {
		sync.Mutex
		f *os.File
	}
}

func openMutationLog(path string, epoch func() uint64) (*mutationLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server: -mutation-log: %w", err)
	}
	l := &mutationLog{epoch: epoch}
	l.mu.f = f
	return l, nil
}

func (l *mutationLog) record(m Mutation) {
	m.Time, m.Epoch = time.Now(), l.epoch()
	b, _ := json.Marshal(m)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.f != nil {
		l.mu.f.Write(append(b, '\n'))
	}
}

func (l *mutationLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.mu.f
	l.mu.f = nil
	if f == nil {
		return nil
	}
	return f.Close()
}

// loggingFS is a vfs.FS that records every mutation in a mutationLog
// before passing it to the inner FS.
//
// Concurrency: as safe as the inner FS.
type loggingFS struct {
	vfs.FS
	log *mutationLog
}

var _ vfs.FS = (*loggingFS)(nil)

// withMutationLog wraps inner so that every mutation is logged first.
func withMutationLog(inner vfs.FS, l *mutationLog) *loggingFS {
	return &loggingFS{FS: inner, log: l}
}

func (l *loggingFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		l.log.record(Mutation{Op: "create", Path: name})
	}
	f, err := l.FS.Open(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &loggingFile{File: f, log: l.log}, nil
}

func (l *loggingFS) Remove(name string) error {
	l.log.record(Mutation{Op: "remove", Path: name})
	return l.FS.Remove(name)
}

func (l *loggingFS) RemoveAll(name string) error {
	l.log.record(Mutation{Op: "removeall", Path: name})
	return vfs.RemoveAll(l.FS, name)
}

func (l *loggingFS) Rename(oldname, newname string) error {
	l.log.record(Mutation{Op: "rename", Path: oldname, To: newname})
	return l.FS.Rename(oldname, newname)
}

func (l *loggingFS) MkdirAll(dir string, perm fs.FileMode) error {
	l.log.record(Mutation{Op: "mkdir", Path: dir})
	return l.FS.MkdirAll(dir, perm)
}

// loggingFile logs writes and truncations; it passes SyncData through.
type loggingFile struct {
	vfs.File
	log *mutationLog
}

var _ vfs.DataSyncer = (*loggingFile)(nil)

func (f *loggingFile) WriteAt(p []byte, off int64) (int, error) {
	f.log.record(Mutation{Op: "write", Path: f.Name(), Off: off, Len: int64(len(p))})
	return f.File.WriteAt(p, off)
}

func (f *loggingFile) Truncate(size int64) error {
	f.log.record(Mutation{Op: "truncate", Path: f.Name(), Off: size})
	return f.File.Truncate(size)
}

func (f *loggingFile) SyncData() error { return vfs.SyncData(f.File) }

// ReadMutations parses a -mutation-log file.
func ReadMutations(r io.Reader) ([]Mutation, error) {
	dec := json.NewDecoder(r)
	var out []Mutation
	for {
		var m Mutation
		if err := dec.Decode(&m); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("server: mutation log entry %d: %w", len(out)+1, err)
		}
		out = append(out, m)
	}
}
