package cow_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/vfs"
)

// A writer and a copier over one shared FS. The copier keeps seeing the
// shared state as it joined, plus its own writes; the writer's changes
// reach shared storage only after the copier preserved what they replace.
func Example() {
	shared := vfs.NewMem()
	_ = vfs.WriteFile(shared, "db", []byte("v1"), 0o644)

	copier, _ := cow.NewCopier(shared, cow.Options{})
	writer, _ := cow.NewWriter(shared, cow.NewDirect(copier), cow.Options{})

	_ = vfs.WriteFile(writer, "db", []byte("v2 from the writer"), 0o644)
	_ = vfs.WriteFile(copier, "own", []byte("the copier's own file"), 0o644)

	fromWriter, _ := vfs.ReadFile(writer, "db")
	fromCopier, _ := vfs.ReadFile(copier, "db")
	onShared, _ := vfs.ReadFile(shared, "db")
	_, err := shared.Stat("own")
	fmt.Printf("writer: %s\ncopier: %s\nshared: %s\nown file on shared: %v\n",
		fromWriter, fromCopier, onShared, !errors.Is(err, fs.ErrNotExist))
	fmt.Printf("stabilize calls: %d\n", writer.Stats().StabilizeCalls)
	// Output:
	// writer: v2 from the writer
	// copier: v1
	// shared: v2 from the writer
	// own file on shared: false
	// stabilize calls: 1
}

// Reset drops a copier's overlay through the writer's handshake: the
// copier then sees shared storage as it is now.
func ExampleView_Reset() {
	shared := vfs.NewMem()
	_ = vfs.WriteFile(shared, "db", []byte("v1"), 0o644)
	copier, _ := cow.NewCopier(shared, cow.Options{})
	writer, _ := cow.NewWriter(shared, cow.NewDirect(copier), cow.Options{})
	_ = vfs.WriteFile(writer, "db", []byte("v2"), 0o644)

	before, _ := vfs.ReadFile(copier, "db")
	_ = copier.Reset(context.Background(), writer)
	after, _ := vfs.ReadFile(copier, "db")
	fmt.Printf("%s -> %s\n", before, after)
	// Output:
	// v1 -> v2
}
