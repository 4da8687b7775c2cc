package vfs

import (
	"io"
	"io/fs"
	"time"
)

// memFile is an open MemFS file: a handle on an inode, whatever becomes of
// the names that point to it.
//
// Concurrency: every method is safe for concurrent use; see File.
type memFile struct {
	fs   *MemFS
	node *memNode
	handle
}

var (
	_ File       = (*memFile)(nil)
	_ DataSyncer = (*memFile)(nil)
)

// dataOp is a change of a file's content not yet made durable by Sync: a
// write of data at off, or a truncation to size off.
type dataOp struct {
	seq   uint64
	off   int64
	data  []byte // the bytes written, owned by the dataOp; nil for a truncation
	trunc bool
}

// apply returns buf with op applied. buf's spare capacity may be reused.
func (op *dataOp) apply(buf []byte) []byte {
	if op.trunc {
		return resize(buf, op.off)
	}
	if end := op.off + int64(len(op.data)); end > int64(len(buf)) {
		buf = resize(buf, end)
	}
	copy(buf[op.off:], op.data)
	return buf
}

// resize returns buf with length n; bytes beyond the old length are zero.
func resize(buf []byte, n int64) []byte {
	old := int64(len(buf))
	if n <= old {
		return buf[:n]
	}
	if n <= int64(cap(buf)) {
		buf = buf[:n]
		clear(buf[old:])
		return buf
	}
	c := 2 * int64(cap(buf))
	if c < n {
		c = n
	}
	if c > MemMaxFileSize {
		c = MemMaxFileSize
	}
	nb := make([]byte, n, c)
	copy(nb, buf)
	return nb
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.readAt(off); err != nil {
		return 0, err
	}
	f.fs.stats.reads.Add(1)
	if len(p) == 0 {
		return 0, nil
	}
	d := &f.node.data
	d.RLock()
	var n int
	if off < int64(len(d.buf)) {
		n = copy(p, d.buf[off:])
	}
	d.RUnlock()
	f.fs.stats.bytesRead.Add(int64(n))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.resize("write", off); err != nil {
		return 0, err
	}
	if off > MemMaxFileSize-int64(len(p)) {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: ErrTooLarge}
	}
	f.fs.stats.writes.Add(1)
	if len(p) == 0 {
		return 0, nil
	}
	op := dataOp{off: off, data: append([]byte(nil), p...)}
	d := &f.node.data
	d.Lock()
	op.seq = f.fs.seq.Add(1)
	d.buf = op.apply(d.buf)
	d.pending = append(d.pending, op)
	d.pendLen += int64(len(p))
	d.modTime = time.Now()
	d.Unlock()
	f.fs.stats.bytesWritten.Add(int64(len(p)))
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	if err := f.resize("truncate", size); err != nil {
		return err
	}
	if size > MemMaxFileSize {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: ErrTooLarge}
	}
	f.node.data.Lock()
	f.node.truncate(f.fs.seq.Add(1), size)
	f.node.data.Unlock()
	return nil
}

// truncate sets n's size with seq as the change's number. The caller holds
// n.data's lock.
func (n *memNode) truncate(seq uint64, size int64) {
	op := dataOp{seq: seq, off: size, trunc: true}
	n.data.buf = op.apply(n.data.buf)
	n.data.pending = append(n.data.pending, op)
	n.data.modTime = time.Now()
}

func (f *memFile) Sync() error {
	if err := f.check("sync"); err != nil {
		return err
	}
	f.fs.stats.syncs.Add(1)
	f.node.sync()
	return nil
}

// SyncData implements DataSyncer. In memory it is the same as Sync.
func (f *memFile) SyncData() error {
	if err := f.check("syncdata"); err != nil {
		return err
	}
	f.fs.stats.syncs.Add(1)
	f.node.sync()
	return nil
}

// sync makes n's current content durable.
func (n *memNode) sync() {
	d := &n.data
	d.Lock()
	defer d.Unlock()
	if len(d.pending) == 0 {
		return
	}
	if d.pendLen > int64(len(d.buf)) {
		// Copying the content is cheaper than replaying the writes.
		d.synced = append(d.synced[:0], d.buf...)
	} else {
		for i := range d.pending {
			d.synced = d.pending[i].apply(d.synced)
		}
	}
	d.pending, d.pendLen = nil, 0
}

func (f *memFile) Size() (int64, error) {
	if err := f.check("size"); err != nil {
		return 0, err
	}
	f.node.data.RLock()
	n := int64(len(f.node.data.buf))
	f.node.data.RUnlock()
	return n, nil
}

func (f *memFile) Close() error {
	if err := f.close(); err != nil {
		return err
	}
	return nil
}
