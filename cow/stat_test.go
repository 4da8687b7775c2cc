package cow

import (
	"os"
	"sync"
	"testing"
)

// TestCopier_Stat_infoIsASnapshot: the FileInfo a copier's Stat returns
// describes the file when Stat ran. It must not follow the overlay's live
// node: later writes would change it under the caller, and a caller that
// reads Size while the engine writes (a reset policy reading the database
// size on another goroutine) would race with the write (go test -race).
func TestCopier_Stat_infoIsASnapshot(t *testing.T) {
	_, _, c := newPair(t)
	h, err := c.Open("db", os.O_RDWR|os.O_CREATE, 0o644)
	must(t, err)
	defer h.Close()
	_, err = h.WriteAt(make([]byte, 100), 0)
	must(t, err)
	fi, err := c.Stat("db")
	must(t, err)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 50 {
			if _, err := h.WriteAt([]byte("x"), int64(1000+i*512)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 50 {
		if got := fi.Size(); got != 100 {
			t.Fatalf("Size of an earlier Stat = %d, want 100", got)
		}
		_ = fi.ModTime()
	}
	wg.Wait()
	if got := fi.Size(); got != 100 {
		t.Fatalf("after later writes, Size of an earlier Stat = %d, want 100", got)
	}
	fi2, err := c.Stat("db")
	must(t, err)
	if want := int64(1000 + 49*512 + 1); fi2.Size() != want {
		t.Fatalf("new Stat: Size %d, want %d", fi2.Size(), want)
	}
}
