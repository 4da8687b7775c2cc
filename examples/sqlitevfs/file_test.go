package sqlitevfs

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/holeycow/holeycow/vfs"
	"github.com/ncruces/go-sqlite3"
	sqlvfs "github.com/ncruces/go-sqlite3/vfs"
)

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"main.db":         "main.db",
		"/main.db":        "main.db",
		"///a/b.db":       "a/b.db",
		"a//b/./c.db":     "a/b/c.db",
		"a/../b.db":       "b.db",
		"main.db-journal": "main.db-journal",
	} {
		if got, err := cleanName("open", in); err != nil || got != want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/", ".", "..", "../a", "a/../../b", "/.."} {
		if got, err := cleanName("open", in); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("cleanName(%q) = %q, %v; want fs.ErrInvalid", in, got, err)
		}
	}
}

// TestFile_DeviceCharacteristics checks the capabilities reported to
// SQLite: POWERSAFE_OVERWRITE unless the registration or the psow URI
// parameter turns it off, and nothing else.
func TestFile_DeviceCharacteristics(t *testing.T) {
	for _, tc := range []struct {
		opts []Option
		uri  string
		want sqlvfs.DeviceCharacteristic
	}{
		{nil, "", sqlvfs.IOCAP_POWERSAFE_OVERWRITE},
		{nil, "&psow=0", 0},
		{[]Option{WithPowersafeOverwrite(false)}, "", 0},
		{[]Option{WithPowersafeOverwrite(false)}, "&psow=1", sqlvfs.IOCAP_POWERSAFE_OVERWRITE},
	} {
		name := "devchar-test"
		if err := Register(name, vfs.NewMem(), tc.opts...); err != nil {
			t.Fatal(err)
		}
		conn, err := sqlite3.Open("file:main.db?vfs=" + name + tc.uri)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Exec("CREATE TABLE t(a)"); err != nil {
			t.Fatal(err)
		}
		f := unwrapFile(conn.Filename("main").DatabaseFile())
		if f == nil {
			t.Fatal("main database file is not the adapter's")
		}
		if got := f.DeviceCharacteristics(); got != tc.want {
			t.Errorf("opts %d, uri %q: DeviceCharacteristics %#x, want %#x", len(tc.opts), tc.uri, got, tc.want)
		}
		if got := f.SectorSize(); got != 4096 {
			t.Errorf("SectorSize %d", got)
		}
		if got := f.LockState(); got != sqlvfs.LOCK_NONE {
			t.Errorf("LockState %v between transactions", got)
		}
		if err := conn.Close(); err != nil {
			t.Fatal(err)
		}
		if err := Check(name); err != nil {
			t.Fatal(err)
		}
		if err := Unregister(name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHeaderPageSize(t *testing.T) {
	mem := vfs.NewMem()
	hdr := func(b16, b17 byte) []byte {
		h := make([]byte, 100)
		copy(h, "SQLite format 3\x00")
		h[16], h[17] = b16, b17
		return h
	}
	for _, tc := range []struct {
		data []byte
		want int
	}{
		{nil, 0},
		{[]byte("SQLite format 3\x00\x10"), 0}, // too short
		{hdr(0x10, 0x00), 4096},
		{hdr(0x02, 0x00), 512},
		{hdr(0x00, 0x01), 65536},
		{hdr(0x03, 0x00), 0}, // not a power of two
		{append([]byte("not sqlite at all"), hdr(0x10, 0)...), 0},
	} {
		if err := vfs.WriteFile(mem, "db", tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := mem.Open("db", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := headerPageSize(f); got != tc.want {
			t.Errorf("header %x: page size %d, want %d", tc.data[:min(len(tc.data), 18)], got, tc.want)
		}
		f.Close()
	}
}
