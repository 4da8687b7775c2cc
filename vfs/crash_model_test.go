package vfs_test

import (
	"os"
	"testing"

	"pgregory.net/rapid"

	"github.com/holeycow/holeycow/vfs"
)

// crashMachine runs random operations on a MemFS and checks its crash
// clones against what must survive: at KeepUnsynced 1 everything, at 0
// exactly the state of the last full sync (when nothing was synced
// partially since), and at any probability a consistent FS.
type crashMachine struct {
	m       *vfs.MemFS
	files   []vfs.File
	durable map[string]string // the state at the last syncAll
	partial bool              // something was synced since, not all
}

var crashNames = []string{"a", "b", "d", "d/a", "d/b", "d/e", "d/e/a", "e"}

func (c *crashMachine) name(t *rapid.T, label string) string {
	return rapid.SampledFrom(crashNames).Draw(t, label)
}

func (c *crashMachine) file(t *rapid.T) vfs.File {
	if len(c.files) == 0 {
		t.Skip("no file")
	}
	return c.files[rapid.IntRange(0, len(c.files)-1).Draw(t, "file")]
}

func (c *crashMachine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"open": func(t *rapid.T) {
			flag := rapid.SampledFrom([]int{os.O_RDWR, os.O_RDWR | os.O_CREATE, os.O_RDWR | os.O_CREATE | os.O_TRUNC}).Draw(t, "flag")
			if f, err := c.m.Open(c.name(t, "name"), flag, 0o644); err == nil {
				c.files = append(c.files, f)
			}
		},
		"write": func(t *rapid.T) {
			f := c.file(t)
			data := rapid.SliceOfN(rapid.ByteRange('a', 'z'), 1, 8).Draw(t, "data")
			_, _ = f.WriteAt(data, rapid.Int64Range(0, 20).Draw(t, "off"))
		},
		"truncate": func(t *rapid.T) {
			_ = c.file(t).Truncate(rapid.Int64Range(0, 20).Draw(t, "size"))
		},
		"close": func(t *rapid.T) {
			_ = c.file(t).Close()
		},
		"remove": func(t *rapid.T) {
			_ = c.m.Remove(c.name(t, "name"))
		},
		"removeall": func(t *rapid.T) {
			_ = c.m.RemoveAll(c.name(t, "name"))
		},
		"rename": func(t *rapid.T) {
			_ = c.m.Rename(c.name(t, "from"), c.name(t, "to"))
		},
		"mkdirall": func(t *rapid.T) {
			_ = c.m.MkdirAll(c.name(t, "name"), 0o755)
		},
		"syncfile": func(t *rapid.T) {
			if c.file(t).Sync() == nil {
				c.partial = true
			}
		},
		"syncdir": func(t *rapid.T) {
			if c.m.SyncDir(rapid.SampledFrom([]string{".", "d", "d/e"}).Draw(t, "dir")) == nil {
				c.partial = true
			}
		},
		"syncall": func(t *rapid.T) {
			syncAll(t, c.m)
			c.durable, c.partial = snapshot(t, c.m), false
		},
		"": func(t *rapid.T) {
			if err := c.m.Check(); err != nil {
				t.Fatal(err)
			}
			current := snapshot(t, c.m)
			if d := diffSnapshots(snapshot(t, c.m.CrashClone(vfs.CrashOptions{KeepUnsynced: 1})), current); d != "" {
				t.Fatalf("KeepUnsynced 1 lost changes:%s", d)
			}
			if !c.partial {
				if d := diffSnapshots(snapshot(t, c.m.CrashClone(vfs.CrashOptions{KeepUnsynced: 0})), c.durable); d != "" {
					t.Fatalf("KeepUnsynced 0 differs from the last full sync:%s", d)
				}
			}
			opts := vfs.CrashOptions{
				Seed:         rapid.Int64().Draw(t, "seed"),
				KeepUnsynced: rapid.Float64Range(0, 1).Draw(t, "p"),
			}
			a := c.m.CrashClone(opts)
			if err := a.Check(); err != nil {
				t.Fatalf("crash clone %+v: %v", opts, err)
			}
			if d := diffSnapshots(snapshot(t, a), snapshot(t, c.m.CrashClone(opts))); d != "" {
				t.Fatalf("two crash clones %+v differ:%s", opts, d)
			}
		},
	}
}

// TestMemFS_CrashClone_model checks crash clones after random histories.
// Rerun a failure with the -rapid.seed it prints.
func TestMemFS_CrashClone_model(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := &crashMachine{m: vfs.NewMem(), durable: map[string]string{}}
		defer func() {
			for _, f := range c.files {
				f.Close()
			}
		}()
		t.Repeat(c.actions())
	})
}
