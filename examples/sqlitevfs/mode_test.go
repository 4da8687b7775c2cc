package sqlitevfs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/holeycow/holeycow/examples/sqlitevfs"
	"github.com/holeycow/holeycow/vfs"
)

// TestOpen_createsPrivateFiles: the database and its journal are created
// readable by their owner only (issue 16: main.db was created 0644).
func TestOpen_createsPrivateFiles(t *testing.T) {
	dir := t.TempDir()
	name := register(t, vfs.OS(dir))
	conn := openConn(t, name, "main.db", sqlitevfs.Config{})
	exec(t, conn, "CREATE TABLE t(x); BEGIN; INSERT INTO t VALUES(1)")
	for _, f := range []string{"main.db", "main.db-journal"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			t.Errorf("%s created with mode %v, want no access for group and others", f, m)
		}
	}
	exec(t, conn, "COMMIT")
}
