package sharedcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/rpc"
	"sync"
	"syscall"
	"time"

	"github.com/holeycow/holeycow/vfs"
)

// An agent serves a directory of this host to a peer on another host, so
// that Check can run there with this host's view of the shared directory
// beside the peer's own (check-shared -agent / -peer): each operation of
// the peer's remote view is carried out here, through this host's mount.

// wireErrs are the error kinds carried over the wire (by index + 1), so
// that errors.Is keeps working on the peer's side; 0 is no error, and an
// error of no kind here comes back as its message alone.
var wireErrs = []error{
	io.EOF, fs.ErrNotExist, fs.ErrExist, fs.ErrInvalid, fs.ErrPermission, fs.ErrClosed,
	vfs.ErrLocked, vfs.ErrIsDir, vfs.ErrNotDir, vfs.ErrNotEmpty, vfs.ErrReadOnly, vfs.ErrWriteOnly,
	vfs.ErrCorrupt, vfs.ErrTooLarge, syscall.ESTALE,
}

const errOther = -1

// AgentReq is one operation of the peer's view (exported for net/rpc).
type AgentReq struct {
	Op          string
	Name, Name2 string
	Flag        int
	Perm        uint32
	ID          int64 // file or lock handle
	Off, Size   int64
	N           int
	Data        []byte
}

// AgentResp is its outcome (exported for net/rpc).
type AgentResp struct {
	ID      int64
	N       int
	Data    []byte
	Size    int64
	Names   []string
	Info    WireInfo
	ErrKind int
	ErrMsg  string
	// ErrOp and ErrPath are the agent's *fs.PathError's, if any.
	ErrOp, ErrPath string
}

// WireInfo is an fs.FileInfo on the wire.
type WireInfo struct {
	Name    string
	Size    int64
	Mode    uint32
	ModTime time.Time
}

type remoteInfo struct{ w WireInfo }

func (i remoteInfo) Name() string       { return i.w.Name }
func (i remoteInfo) Size() int64        { return i.w.Size }
func (i remoteInfo) Mode() fs.FileMode  { return fs.FileMode(i.w.Mode) }
func (i remoteInfo) ModTime() time.Time { return i.w.ModTime }
func (i remoteInfo) IsDir() bool        { return i.Mode().IsDir() }
func (i remoteInfo) Sys() any           { return nil }

// Agent carries out a peer's operations on fsys. Its method Do is called
// by net/rpc, one call at a time or concurrently (it locks).
type Agent struct {
	fsys  vfs.FS
	mu    sync.Mutex
	next  int64
	files map[int64]vfs.File
	locks map[int64]io.Closer
}

func (a *Agent) put(f vfs.File, l io.Closer) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.next++
	if f != nil {
		a.files[a.next] = f
	} else {
		a.locks[a.next] = l
	}
	return a.next
}

func (a *Agent) file(id int64) (vfs.File, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f, ok := a.files[id]; ok {
		return f, nil
	}
	return nil, fs.ErrClosed
}

// maxData bounds one read or write (Check's are at most 64 KiB).
const maxData = 1 << 20

// Do carries out one operation.
func (a *Agent) Do(q AgentReq, r *AgentResp) error {
	var err error
	switch q.Op {
	case "open":
		var f vfs.File
		if f, err = a.fsys.Open(q.Name, q.Flag, fs.FileMode(q.Perm)); err == nil {
			r.ID = a.put(f, nil)
		}
	case "readat", "writeat", "truncate", "sync", "size", "close":
		var f vfs.File
		if f, err = a.file(q.ID); err != nil {
			break
		}
		switch q.Op {
		case "readat":
			if q.N < 0 || q.N > maxData {
				err = fs.ErrInvalid
				break
			}
			r.Data = make([]byte, q.N)
			r.N, err = f.ReadAt(r.Data, q.Off)
			r.Data = r.Data[:r.N]
		case "writeat":
			if len(q.Data) > maxData {
				err = fs.ErrInvalid
				break
			}
			r.N, err = f.WriteAt(q.Data, q.Off)
		case "truncate":
			err = f.Truncate(q.Size)
		case "sync":
			err = f.Sync()
		case "size":
			r.Size, err = f.Size()
		case "close":
			a.mu.Lock()
			delete(a.files, q.ID)
			a.mu.Unlock()
			err = f.Close()
		}
	case "remove":
		err = a.fsys.Remove(q.Name)
	case "rename":
		err = a.fsys.Rename(q.Name, q.Name2)
	case "stat":
		var fi fs.FileInfo
		if fi, err = a.fsys.Stat(q.Name); err == nil {
			r.Info = WireInfo{Name: fi.Name(), Size: fi.Size(), Mode: uint32(fi.Mode()), ModTime: fi.ModTime()}
		}
	case "list":
		r.Names, err = a.fsys.List(q.Name)
	case "mkdirall":
		err = a.fsys.MkdirAll(q.Name, fs.FileMode(q.Perm))
	case "syncdir":
		err = a.fsys.SyncDir(q.Name)
	case "lock":
		var l io.Closer
		if l, err = a.fsys.Lock(q.Name); err == nil {
			r.ID = a.put(nil, l)
		}
	case "unlock":
		a.mu.Lock()
		l, ok := a.locks[q.ID]
		delete(a.locks, q.ID)
		a.mu.Unlock()
		if !ok {
			err = fs.ErrClosed
			break
		}
		err = l.Close()
	default:
		err = fmt.Errorf("sharedcheck: agent: unknown operation %q", q.Op)
	}
	if err != nil {
		r.ErrKind, r.ErrMsg = errOther, err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			r.ErrOp, r.ErrPath, r.ErrMsg = pe.Op, pe.Path, pe.Err.Error()
		}
		for i, w := range wireErrs {
			if errors.Is(err, w) {
				r.ErrKind = i + 1
				break
			}
		}
	}
	return nil
}

// closeAll closes what the peer left open.
func (a *Agent) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, f := range a.files {
		f.Close()
		delete(a.files, id)
	}
	for id, l := range a.locks {
		l.Close()
		delete(a.locks, id)
	}
}

// ServeAgent serves fsys to the first peer that connects through ln, until
// that peer closes its connection or ctx is done, then closes what the
// peer left open and returns. It serves one peer only: anyone who reaches
// ln first can read and write under fsys, so bind ln to an address only
// the peer reaches, and run the agent only for the check.
func ServeAgent(ctx context.Context, ln net.Listener, fsys vfs.FS) error {
	accepted := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			ln.Close()
		case <-accepted:
		}
	}()
	conn, err := ln.Accept()
	close(accepted)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("sharedcheck: agent: no peer: %w", ctx.Err())
		}
		return fmt.Errorf("sharedcheck: agent: %w", err)
	}
	ln.Close()
	a := &Agent{fsys: fsys, files: map[int64]vfs.File{}, locks: map[int64]io.Closer{}}
	defer a.closeAll()
	srv := rpc.NewServer()
	if err := srv.RegisterName("Agent", a); err != nil {
		conn.Close()
		return fmt.Errorf("sharedcheck: agent: %w", err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			conn.Close()
		case <-done:
		}
	}()
	srv.ServeConn(conn) // returns when the connection closes
	close(done)
	return nil
}

// RemoteFS is the directory an agent serves, as a vfs.FS of the peer:
// every operation is carried out by the agent on its host. Close ends the
// session (the agent then exits). Safe for concurrent use.
type RemoteFS struct {
	c    *rpc.Client
	addr string
}

var _ vfs.FS = (*RemoteFS)(nil)

// DialAgent connects to the agent at addr (within ctx's deadline).
func DialAgent(ctx context.Context, addr string) (*RemoteFS, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sharedcheck: agent %s: %w", addr, err)
	}
	return &RemoteFS{c: rpc.NewClient(conn), addr: addr}, nil
}

// Close ends the session.
func (r *RemoteFS) Close() error { return r.c.Close() }

// do runs q on the agent; op and name make the error's PathError.
func (r *RemoteFS) do(q AgentReq) (AgentResp, error) {
	var resp AgentResp
	if err := r.c.Call("Agent.Do", q, &resp); err != nil {
		return resp, &fs.PathError{Op: q.Op, Path: q.Name, Err: fmt.Errorf("sharedcheck: agent %s: %w", r.addr, err)}
	}
	if resp.ErrKind == 0 {
		return resp, nil
	}
	if resp.ErrKind == 1 {
		return resp, io.EOF
	}
	inner := fmt.Errorf("sharedcheck: agent %s: %s", r.addr, resp.ErrMsg)
	if k := resp.ErrKind - 1; k >= 0 && k < len(wireErrs) {
		inner = fmt.Errorf("%w (agent %s: %s)", wireErrs[k], r.addr, resp.ErrMsg)
	}
	op, path := q.Op, q.Name
	if resp.ErrOp != "" {
		op, path = resp.ErrOp, resp.ErrPath
	}
	return resp, &fs.PathError{Op: op, Path: path, Err: inner}
}

func (r *RemoteFS) Open(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	resp, err := r.do(AgentReq{Op: "open", Name: name, Flag: flag, Perm: uint32(perm)})
	if err != nil {
		return nil, err
	}
	return &remoteFile{r: r, id: resp.ID, name: name}, nil
}

func (r *RemoteFS) Remove(name string) error {
	_, err := r.do(AgentReq{Op: "remove", Name: name})
	return err
}

func (r *RemoteFS) Rename(oldname, newname string) error {
	_, err := r.do(AgentReq{Op: "rename", Name: oldname, Name2: newname})
	return err
}

func (r *RemoteFS) Stat(name string) (fs.FileInfo, error) {
	resp, err := r.do(AgentReq{Op: "stat", Name: name})
	if err != nil {
		return nil, err
	}
	return remoteInfo{resp.Info}, nil
}

func (r *RemoteFS) List(dir string) ([]string, error) {
	resp, err := r.do(AgentReq{Op: "list", Name: dir})
	return resp.Names, err
}

func (r *RemoteFS) MkdirAll(dir string, perm fs.FileMode) error {
	_, err := r.do(AgentReq{Op: "mkdirall", Name: dir, Perm: uint32(perm)})
	return err
}

func (r *RemoteFS) SyncDir(dir string) error {
	_, err := r.do(AgentReq{Op: "syncdir", Name: dir})
	return err
}

func (r *RemoteFS) Lock(name string) (io.Closer, error) {
	resp, err := r.do(AgentReq{Op: "lock", Name: name})
	if err != nil {
		return nil, err
	}
	return &remoteLock{r: r, id: resp.ID, name: name}, nil
}

type remoteLock struct {
	r    *RemoteFS
	id   int64
	name string
}

func (l *remoteLock) Close() error {
	_, err := l.r.do(AgentReq{Op: "unlock", Name: l.name, ID: l.id})
	return err
}

// remoteFile is a file open on the agent.
type remoteFile struct {
	r    *RemoteFS
	id   int64
	name string
}

func (f *remoteFile) Name() string { return f.name }

func (f *remoteFile) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > maxData {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: fs.ErrInvalid}
	}
	resp, err := f.r.do(AgentReq{Op: "readat", Name: f.name, ID: f.id, Off: off, N: len(p)})
	n := copy(p, resp.Data)
	return n, err
}

func (f *remoteFile) WriteAt(p []byte, off int64) (int, error) {
	if len(p) > maxData {
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: fs.ErrInvalid}
	}
	resp, err := f.r.do(AgentReq{Op: "writeat", Name: f.name, ID: f.id, Off: off, Data: p})
	return resp.N, err
}

func (f *remoteFile) Truncate(size int64) error {
	_, err := f.r.do(AgentReq{Op: "truncate", Name: f.name, ID: f.id, Size: size})
	return err
}

func (f *remoteFile) Sync() error {
	_, err := f.r.do(AgentReq{Op: "sync", Name: f.name, ID: f.id})
	return err
}

func (f *remoteFile) Size() (int64, error) {
	resp, err := f.r.do(AgentReq{Op: "size", Name: f.name, ID: f.id})
	return resp.Size, err
}

func (f *remoteFile) Close() error {
	_, err := f.r.do(AgentReq{Op: "close", Name: f.name, ID: f.id})
	return err
}
