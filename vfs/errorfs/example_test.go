package errorfs_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/holeycow/holeycow/vfs"
	"github.com/holeycow/holeycow/vfs/errorfs"
)

// replace atomically replaces the content of name: after an error at any
// point, name holds either its old content or data, never a mix.
func replace(fsys vfs.FS, name string, data []byte) error {
	tmp := name + ".tmp"
	if err := vfs.WriteFile(fsys, tmp, data, 0o644); err != nil {
		return err
	}
	f, err := fsys.Open(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	return fsys.SyncDir(vfs.Dir(name))
}

// The fault-simulation loop: fail the i-th operation of a workload, for
// i = 0, 1, 2, ... until a run in which nothing failed. After each run,
// check that the failure was reported and that the data is consistent.
func Example() {
	const maxOps = 1000 // bound the loop
	for i := 0; i < maxOps; i++ {
		mem := vfs.NewMem()
		if err := vfs.WriteFile(mem, "config", []byte("old"), 0o644); err != nil {
			panic(err)
		}
		efs := errorfs.WithErrors(mem, errorfs.OnIndex(i))

		err := replace(efs, "config", []byte("new"))

		if efs.Injected() == 0 {
			// Every op has had its turn to fail.
			fmt.Printf("replace takes %d ops; each failure was reported and left old or new content\n", efs.Ops())
			return
		}
		if !errors.Is(err, vfs.ErrInjected) {
			fmt.Printf("op %d failed but replace returned %v\n", i, err)
		}
		got, err := vfs.ReadFile(mem, "config") // check through the inner FS
		if err != nil || (string(got) != "old" && string(got) != "new") {
			fmt.Printf("op %d failed and left %q, %v\n", i, got, err)
		}
	}
	fmt.Println("still failing after", maxOps, "ops")
	// Output:
	// replace takes 8 ops; each failure was reported and left old or new content
}

// Compose injectors: fail 1% of writes and syncs to files under "wal/",
// but only once the test arms the switch.
func Example_compose() {
	sw := errorfs.NewToggle(
		errorfs.PathMatch("wal/*",
			errorfs.When(func(op errorfs.Op) bool { return op.Kind == errorfs.OpWrite || op.Kind == errorfs.OpSync },
				errorfs.Randomly(0.01, 42))))
	efs := errorfs.WithErrors(vfs.NewMem(), sw)
	if err := efs.MkdirAll("wal", 0o755); err != nil {
		panic(err)
	}
	// ... set up with no failures, then:
	sw.Arm()
	failed := 0
	for i := range 1000 {
		if err := vfs.WriteFile(efs, "wal/log", []byte{byte(i)}, 0o644); err != nil {
			failed++
		}
	}
	fmt.Println("some writes failed:", failed > 0 && failed < 100)
	// Output:
	// some writes failed: true
}
