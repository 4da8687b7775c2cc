package sqlitevfs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
	"github.com/ncruces/go-sqlite3"
)

// sizedFS is an FS with the block-size methods of *cow.View: the block
// size can change only while the FS is not frozen (a view with content).
type sizedFS struct {
	vfs.FS
	mu     sync.Mutex
	bs     int
	frozen bool
	sets   []int // successful SetBlockSize calls
}

func (s *sizedFS) BlockSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bs
}

func (s *sizedFS) SetBlockSize(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frozen {
		return fmt.Errorf("sizedFS: view has content")
	}
	s.bs = n
	s.sets = append(s.sets, n)
	return nil
}

// TestOpenConn_blockSize checks when the adapter sets a view's block size
// to the database page size, and that it refuses a mismatch it cannot fix.
func TestOpenConn_blockSize(t *testing.T) {
	ctx := context.Background()
	t.Run("new database", func(t *testing.T) {
		s := &sizedFS{FS: vfs.NewMem(), bs: 512}
		name := register(t, s)
		conn := openConn(t, name, "main.db", sqlitevfs.Config{})
		exec(t, conn, "CREATE TABLE t(a)")
		if s.BlockSize() != 4096 {
			t.Fatalf("block size %d, want 4096", s.BlockSize())
		}
	})
	t.Run("WithPageSize", func(t *testing.T) {
		s := &sizedFS{FS: vfs.NewMem(), bs: 4096}
		name := register(t, s, sqlitevfs.WithPageSize(8192))
		conn := openConn(t, name, "main.db", sqlitevfs.Config{PageSize: 8192})
		exec(t, conn, "CREATE TABLE t(a)")
		if s.BlockSize() != 8192 || queryInt(t, conn, "PRAGMA page_size") != 8192 {
			t.Fatalf("block size %d, page size %d, want 8192", s.BlockSize(), queryInt(t, conn, "PRAGMA page_size"))
		}
	})
	t.Run("pragma page_size on an empty database", func(t *testing.T) {
		s := &sizedFS{FS: vfs.NewMem(), bs: 4096}
		name := register(t, s)
		conn := openConn(t, name, "main.db", sqlitevfs.Config{PageSize: 16384})
		exec(t, conn, "CREATE TABLE t(a)")
		if s.BlockSize() != 16384 || queryInt(t, conn, "PRAGMA page_size") != 16384 {
			t.Fatalf("block size %d, want 16384", s.BlockSize())
		}
	})
	t.Run("existing database", func(t *testing.T) {
		mem := vfs.NewMem()
		plain := register(t, mem)
		c := openConn(t, plain, "main.db", sqlitevfs.Config{PageSize: 2048})
		exec(t, c, "CREATE TABLE t(a)")
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}

		s := &sizedFS{FS: mem, bs: 4096}
		name := register(t, s)
		conn := openConn(t, name, "main.db", sqlitevfs.Config{})
		if s.BlockSize() != 2048 {
			t.Fatalf("block size %d, want the header's 2048", s.BlockSize())
		}
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}

		// Frozen at the right size: fine.
		s.frozen = true
		openConn(t, name, "main.db", sqlitevfs.Config{})

		// Frozen at another size: the open fails with a clear error.
		s.bs = 4096
		conn, err := sqlitevfs.OpenConn(ctx, name, "main.db", sqlitevfs.Config{})
		if err == nil {
			conn.Close()
			t.Fatal("open with a frozen mismatched block size succeeded")
		}
		if !errors.Is(err, sqlitevfs.ErrBlockSize) || !errors.Is(err, sqlite3.CANTOPEN) {
			t.Fatalf("open: %v, want CANTOPEN wrapping ErrBlockSize", err)
		}
	})
	t.Run("frozen pragma mismatch", func(t *testing.T) {
		s := &sizedFS{FS: vfs.NewMem(), bs: 4096, frozen: true}
		name := register(t, s)
		conn := openConn(t, name, "main.db", sqlitevfs.Config{})
		err := conn.Exec("PRAGMA page_size=8192")
		if err == nil || !strings.Contains(err.Error(), sqlitevfs.ErrBlockSize.Error()) {
			t.Fatalf("page_size=8192 on a frozen view: %v", err)
		}
		exec(t, conn, "CREATE TABLE t(a)")
		if got := queryInt(t, conn, "PRAGMA page_size"); got != 4096 {
			t.Fatalf("page size %d, want 4096", got)
		}
	})
}
