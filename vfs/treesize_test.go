package vfs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/vfs"
)

func TestTreeSize(t *testing.T) {
	m := vfs.NewMem()
	write := func(name string, n int) {
		t.Helper()
		f, err := m.Open(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(make([]byte, n), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.MkdirAll("a/b", 0o700); err != nil {
		t.Fatal(err)
	}
	write("x", 10)
	write("a/y", 100)
	write("a/b/z", 1000)
	for dir, want := range map[string]int64{".": 1110, "a": 1100, "a/b": 1000} {
		if got, err := vfs.TreeSize(m, dir); err != nil || got != want {
			t.Errorf("TreeSize(%q) = %d, %v; want %d", dir, got, err, want)
		}
	}
	deep := strings.TrimSuffix(strings.Repeat("d/", 40), "/")
	if err := m.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := vfs.TreeSize(m, "."); err == nil {
		t.Error("a tree 40 deep: no error")
	}
}
