package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/vfs"
)

// dbName is the database file in every node's FS.
const dbName = "main.db"

// dbConfig is the one SQLite configuration every figure uses, baseline and
// holeycow alike: sqlitevfs's defaults (TRUNCATE journal,
// synchronous=FULL, NORMAL locking).
var dbConfig = sqlitevfs.Config{}

var vfsSeq atomic.Int64

// register registers fsys under a fresh sqlitevfs name; the env
// unregisters it.
func (e *env) register(fsys vfs.FS) (string, error) {
	name := fmt.Sprintf("bench%d", vfsSeq.Add(1))
	if err := sqlitevfs.Register(name, fsys); err != nil {
		return "", err
	}
	e.defer_(func() error { return sqlitevfs.Unregister(name) })
	return name, nil
}

// registerOnce registers fsys under a fresh name, for a caller that
// unregisters it itself (a goroutine that must not touch the env).
func registerOnce(fsys vfs.FS) (string, error) {
	name := fmt.Sprintf("bench%d", vfsSeq.Add(1))
	return name, sqlitevfs.Register(name, fsys)
}

func unregister(name string) error { return sqlitevfs.Unregister(name) }

// osFS is vfs.OS as a vfs.FS.
func osFS(dir string) vfs.FS { return vfs.OS(dir) }

// kvDB is one SQLite connection on the table t(id INTEGER PRIMARY KEY, v
// BLOB), with its statements prepared.
//
// Concurrency: not safe for concurrent use (one *sqlite3.Conn).
type kvDB struct {
	conn                 *sqlite3.Conn
	upd, ins, sel, maxID *sqlite3.Stmt
	vfsName              string
}

const kvSchema = "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)"

// openKV opens the database on vfsName, creating the table if needed.
func openKV(ctx context.Context, vfsName string) (*kvDB, error) {
	conn, err := sqlitevfs.OpenConn(ctx, vfsName, dbName, dbConfig)
	if err != nil {
		return nil, err
	}
	k := &kvDB{conn: conn, vfsName: vfsName}
	if err := k.prepare(); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

func (k *kvDB) prepare() error {
	if err := k.conn.Exec(kvSchema); err != nil {
		return err
	}
	var err error
	prep := func(sql string) *sqlite3.Stmt {
		if err != nil {
			return nil
		}
		var s *sqlite3.Stmt
		s, _, err = k.conn.Prepare(sql)
		return s
	}
	k.upd = prep("UPDATE t SET v = ? WHERE id = ?")
	k.ins = prep("INSERT INTO t(id, v) VALUES (?, ?)")
	k.sel = prep("SELECT v FROM t WHERE id = ?")
	return err
}

// Close closes the statements and the connection.
func (k *kvDB) Close() error {
	if k == nil || k.conn == nil {
		return nil
	}
	for _, s := range []*sqlite3.Stmt{k.upd, k.ins, k.sel} {
		if s != nil {
			s.Close()
		}
	}
	err := k.conn.Close()
	k.conn = nil
	return err
}

func (k *kvDB) update(id int64, v []byte) error {
	k.upd.BindBlob(1, v)
	k.upd.BindInt64(2, id)
	return k.upd.Exec()
}

func (k *kvDB) insert(id int64, v []byte) error {
	k.ins.BindInt64(1, id)
	k.ins.BindBlob(2, v)
	return k.ins.Exec()
}

// get reads row id; it fails if the row is missing.
func (k *kvDB) get(id int64) (int, error) {
	defer k.sel.Reset()
	k.sel.BindInt64(1, id)
	if !k.sel.Step() {
		if err := k.sel.Err(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("bench: row %d missing", id)
	}
	return len(k.sel.ColumnRawBlob(0)), nil
}

// digest hashes the table's content in rowid order, to check that the
// copiers hold what the writer holds.
func (k *kvDB) digest() ([32]byte, int, error) {
	s, _, err := k.conn.Prepare("SELECT id, v FROM t ORDER BY id")
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer s.Close()
	h := sha256.New()
	n := 0
	for s.Step() {
		fmt.Fprintf(h, "%d:", s.ColumnInt64(0))
		h.Write(s.ColumnRawBlob(1))
		n++
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, s.Err()
}

// op is one single-row transaction of the key-value workload.
type op struct {
	insert bool
	id     int64
	v      []byte
}

// run applies ops, one autocommit transaction each.
func (k *kvDB) run(ops []op) error {
	for _, o := range ops {
		var err error
		if o.insert {
			err = k.insert(o.id, o.v)
		} else {
			err = k.update(o.id, o.v)
		}
		if err != nil {
			return fmt.Errorf("bench: %s on %s: %w", map[bool]string{true: "insert", false: "update"}[o.insert], k.vfsName, err)
		}
	}
	return nil
}

// plainNode is the baseline: SQLite through sqlitevfs over vfs.OS, with
// every write and sync counted.
//
// Concurrency: its kvDB is not safe for concurrent use; the counter is.
type plainNode struct {
	dir   string
	count *ioCounter
	db    *kvDB
}

// newPlain opens a plain node on dir (which may hold a database already).
func (e *env) newPlain(dir string) (*plainNode, error) {
	fsys, cnt := withCounting(vfs.OS(dir))
	name, err := e.register(fsys)
	if err != nil {
		return nil, err
	}
	db, err := openKV(e.ctx, name)
	if err != nil {
		return nil, err
	}
	e.defer_(db.Close)
	return &plainNode{dir: dir, count: cnt, db: db}, nil
}

// hcNode is one member of a holeycow group: a cow view, its SQLite
// connection, and its stability endpoint (a gRPC server with mutual TLS
// on 127.0.0.1).
//
// Concurrency: the view, Responder and server are safe for concurrent
// use; db is not.
type hcNode struct {
	id      string
	addr    string
	view    *cow.View
	vfsName string
	db      *kvDB
	mux     *stability.Mux
	srv     *stability.GRPCServer
	tr      *stability.GRPCTransport
	resp    *stability.Responder // copiers only
}

// hcGroup is a writer and its copiers over one shared directory, wired as
// a real deployment would be, except that all of them live in this
// process: the writer's stabilizer is a stability.Coordinator reaching the
// copiers' Responders over loopback gRPC with mutual TLS.
//
// Concurrency: used from one goroutine, except applyCopiers, which runs
// each copier's engine on its own goroutine.
type hcGroup struct {
	e       *env
	dir     string
	count   *ioCounter // writes and syncs reaching shared storage
	shared  vfs.FS
	writer  *hcNode
	coord   *stability.Coordinator
	copiers []*hcNode
}

// endpoint starts node id's gRPC server and transport.
func (e *env) endpoint(id string) (*hcNode, error) {
	cert, err := e.ca.NodeCert(id)
	if err != nil {
		return nil, err
	}
	cfg := stability.GRPCConfig{ID: id, Cert: cert, CA: e.ca.Pool}
	n := &hcNode{id: id, mux: &stability.Mux{}}
	n.tr, err = stability.NewGRPCTransport(cfg)
	if err != nil {
		return nil, err
	}
	n.srv, err = stability.NewGRPCServer(cfg, n.mux)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	n.addr = lis.Addr().String()
	go n.srv.Serve(lis)
	e.defer_(func() error { n.srv.Stop(); return nil })
	return n, nil
}

// newHCGroup builds a group with ncopiers copiers over dir (which may
// already hold a database), joins the copiers and opens SQLite on every
// view.
func (e *env) newHCGroup(dir string, ncopiers int) (*hcGroup, error) {
	g, err := e.newHCGroupOn(vfs.OS(dir), ncopiers)
	if g != nil {
		g.dir = dir
	}
	return g, err
}

// newHCGroupOn is newHCGroup over any shared FS.
func (e *env) newHCGroupOn(shared vfs.FS, ncopiers int) (*hcGroup, error) {
	g, err := e.newHCViews(shared, ncopiers)
	if err != nil {
		return nil, err
	}
	for _, n := range append([]*hcNode{g.writer}, g.copiers...) {
		if n.vfsName, err = e.register(n.view); err != nil {
			return nil, err
		}
		if n.db, err = openKV(e.ctx, n.vfsName); err != nil {
			return nil, err
		}
	}
	e.defer_(g.closeDBs)
	return g, nil
}

// newHCViews builds a group's views and stability endpoints over shared
// and joins the copiers, with no engine on any view (the caller opens
// its own; db stays nil).
func (e *env) newHCViews(shared vfs.FS, ncopiers int) (*hcGroup, error) {
	return e.newHCViewsWith(shared, ncopiers, cow.Options{})
}

// newHCViewsWith is newHCViews with opts for every view (opts.Store nil:
// each copier keeps its overlay in memory).
func (e *env) newHCViewsWith(shared vfs.FS, ncopiers int, opts cow.Options) (*hcGroup, error) {
	g := &hcGroup{e: e}
	g.shared, g.count = withCounting(shared)
	w, err := e.endpoint("w")
	if err != nil {
		return nil, err
	}
	g.writer = w
	g.coord, err = stability.NewCoordinator(stability.Config{ID: "w", Transport: w.tr})
	if err != nil {
		return nil, err
	}
	e.defer_(g.coord.Close)
	w.view, err = cow.NewWriter(g.shared, g.coord, opts)
	if err != nil {
		return nil, err
	}
	g.coord.SetWriter(w.view)
	w.mux.SetCoordinator(g.coord)
	var peers []stability.Peer
	for i := range ncopiers {
		c, err := e.endpoint(fmt.Sprintf("c%d", i+1))
		if err != nil {
			return nil, err
		}
		c.view, err = cow.NewCopier(g.shared, opts)
		if err != nil {
			return nil, err
		}
		c.resp, err = stability.NewResponder(stability.ResponderConfig{ID: c.id, View: c.view, Transport: c.tr})
		if err != nil {
			return nil, err
		}
		e.defer_(c.resp.Close)
		c.mux.SetResponder(c.resp)
		g.copiers = append(g.copiers, c)
		peers = append(peers, stability.Peer{ID: c.id, Addr: c.addr})
	}
	if err := g.coord.SetCopiers(1, 1, peers); err != nil {
		return nil, err
	}
	if err := g.joinCopiers(); err != nil {
		return nil, err
	}
	return g, nil
}

// joinCopiers runs every copier's reset handshake with the writer: each
// then sees shared storage as it is now, and the writer forgets its
// stable set.
func (g *hcGroup) joinCopiers() error {
	for _, c := range g.copiers {
		if err := c.resp.Join(g.e.ctx, g.writerPeer()); err != nil {
			return fmt.Errorf("bench: copier %s join: %w", c.id, err)
		}
	}
	return nil
}

func (g *hcGroup) writerPeer() stability.Peer {
	return stability.Peer{ID: g.writer.id, Addr: g.writer.addr}
}

// closeDBs closes every node's SQLite connection (copiers first).
func (g *hcGroup) closeDBs() error {
	var errs []error
	for _, n := range append(append([]*hcNode{}, g.copiers...), g.writer) {
		errs = append(errs, n.db.Close())
	}
	return errors.Join(errs...)
}

// rejoin garbage-collects every copier the way a deployment does: close
// its engine, reset through the writer's handshake (dropping the overlay;
// the writer forgets its stable set), reopen the engine.
func (g *hcGroup) rejoin() error {
	for _, c := range g.copiers {
		if err := c.db.Close(); err != nil {
			return err
		}
		if err := c.resp.Join(g.e.ctx, g.writerPeer()); err != nil {
			return fmt.Errorf("bench: copier %s rejoin: %w", c.id, err)
		}
		db, err := openKV(g.e.ctx, c.vfsName)
		if err != nil {
			return err
		}
		c.db = db
	}
	return nil
}

// applyCopiers applies ops on every copier, as the replicated engine
// would, each copier on its own goroutine.
func (g *hcGroup) applyCopiers(ops []op) error {
	errc := make(chan error, len(g.copiers))
	for _, c := range g.copiers {
		go func() { errc <- c.db.run(ops) }()
	}
	var errs []error
	for range g.copiers {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// checkSame verifies that every copier's table equals the writer's.
func (g *hcGroup) checkSame() error {
	want, n, err := g.writer.db.digest()
	if err != nil {
		return err
	}
	for _, c := range g.copiers {
		got, m, err := c.db.digest()
		if err != nil {
			return fmt.Errorf("bench: copier %s digest: %w", c.id, err)
		}
		if got != want || m != n {
			return fmt.Errorf("bench: copier %s diverged from the writer (%d rows vs %d)", c.id, m, n)
		}
	}
	return nil
}

// overlayBytes sums the copiers' overlay sizes.
func (g *hcGroup) overlayBytes() int64 {
	var s int64
	for _, c := range g.copiers {
		s += c.view.Stats().OverlayBytes
	}
	return s
}

// copyFile copies a file (the template database) to dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// value returns a 100-byte value from r.
func value(r interface{ Uint64() uint64 }) []byte {
	v := make([]byte, 100)
	for i := 0; i < len(v); i += 8 {
		x := r.Uint64()
		for j := 0; j < 8 && i+j < len(v); j++ {
			v[i+j] = byte(x >> (8 * j))
		}
	}
	return v
}

// withTimeout is a context for one bounded step of a figure.
func (e *env) withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, d)
}
