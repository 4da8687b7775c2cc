package vfs

import (
	"os"
	"strings"
	"testing"
)

// TestMemFS_Check_broken breaks one invariant of a MemFS at a time and
// checks that Check reports it.
func TestMemFS_Check_broken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(m *MemFS)
		want    string
	}{
		{"entry without a change", func(m *MemFS) {
			m.mu.root.entries["ghost"] = newMemFile(0o644)
		}, "do not give its entries"},
		{"content without a write", func(m *MemFS) {
			n := m.mu.root.entries["f"]
			n.data.buf = append(n.data.buf, 'x')
		}, "do not give its content"},
		{"node under two names", func(m *MemFS) {
			d := m.mu.root.entries["d"]
			m.change(nsChange{dir: m.mu.root, name: "d2", node: d})
		}, "are the same node"},
		{"pending out of order", func(m *MemFS) {
			p := m.mu.pending
			p[0], p[len(p)-1] = p[len(p)-1], p[0]
		}, "seq"},
		{"stale last change", func(m *MemFS) {
			m.mu.root.last["nothing"] = m.mu.pending[0]
		}, "stale last change"},
		{"pending byte count", func(m *MemFS) {
			m.mu.root.entries["f"].data.pendLen++
		}, "pending bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMem()
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(m.MkdirAll("d", 0o755))
			f, err := m.Open("f", os.O_RDWR|os.O_CREATE, 0o644)
			must(err)
			_, err = f.WriteAt([]byte("abc"), 0)
			must(err)
			must(f.Close())
			must(m.Check())
			tc.corrupt(m)
			err = m.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check() = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestMemFS_SyncDir_compacts checks that the log of pending namespace
// changes does not keep changes in directories that no crash can bring
// back.
func TestMemFS_SyncDir_compacts(t *testing.T) {
	m := NewMem()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		must(m.MkdirAll("tmp/sub", 0o755))
		f, err := m.Open("tmp/sub/f", os.O_RDWR|os.O_CREATE, 0o644)
		must(err)
		must(f.Close())
		must(m.Rename("tmp/sub/f", "tmp/sub/g"))
		must(m.RemoveAll("tmp"))
		must(m.SyncDir("."))
	}
	if n := len(m.mu.pending); n != 0 {
		t.Errorf("%d namespace changes pending after syncing the root, want 0", n)
	}
	must(m.Check())
}
