package cow

import (
	"slices"
	"testing"
)

func TestStableSet_missing(t *testing.T) {
	const bs = 512
	var s stableSet
	s.reset()
	s.record([]Region{
		{Kind: KindBlocks, Path: "f", Off: 1 * bs, Len: 2 * bs}, // blocks 1, 2
		{Kind: KindBlocks, Path: "f", Off: 5 * bs, Len: bs},     // block 5
		{Kind: KindMeta, Path: "m"},
		{Kind: KindFile, Path: "g"},
	}, bs)
	got := s.missing([]Region{
		{Kind: KindBlocks, Path: "f", Off: 0, Len: 7 * bs},       // 0, 3-4, 6 missing
		{Kind: KindBlocks, Path: "f", Off: 3 * bs, Len: bs},      // asked above already
		{Kind: KindMeta, Path: "m"},                              // stable
		{Kind: KindMeta, Path: "g"},                              // the file covers it
		{Kind: KindBlocks, Path: "g", Off: 9 * bs, Len: bs},      // so too
		{Kind: KindFile, Path: "m"},                              // meta does not cover the file
		{Kind: KindMeta, Path: "n"}, {Kind: KindMeta, Path: "n"}, // once
	}, bs)
	want := []Region{
		{Kind: KindBlocks, Path: "f", Off: 0, Len: bs},
		{Kind: KindBlocks, Path: "f", Off: 3 * bs, Len: 2 * bs},
		{Kind: KindBlocks, Path: "f", Off: 6 * bs, Len: bs},
		{Kind: KindFile, Path: "m"},
		{Kind: KindMeta, Path: "n"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("missing =\n%v\nwant\n%v", got, want)
	}
	if s.n != 5 {
		t.Fatalf("n = %d, want 5 (3 blocks, a meta, a file)", s.n)
	}
	s.record([]Region{{Kind: KindFile, Path: "f"}}, bs)
	if s.n != 3 {
		t.Fatalf("n = %d after the file covered its blocks, want 3", s.n)
	}
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteRegions_table(t *testing.T) {
	const bs = 512
	for _, tc := range []struct {
		name         string
		off, n, size int64
		want         []Region
	}{
		{"inside", 100, 10, 2000, []Region{{Kind: KindBlocks, Path: "f", Off: 0, Len: bs}}},
		{"straddling blocks", 500, 30, 2000, []Region{{Kind: KindBlocks, Path: "f", Off: 0, Len: 2 * bs}}},
		{"past EOF", 3000, 10, 1000, []Region{{Kind: KindMeta, Path: "f", Off: 0, Len: 0}, {Kind: KindBlocks, Path: "f", Off: bs, Len: bs}}},
		{"past aligned EOF", 3000, 10, 1024, []Region{{Kind: KindMeta, Path: "f", Off: 0, Len: 0}}},
		{"across EOF", 900, 300, 1000, []Region{{Kind: KindBlocks, Path: "f", Off: bs, Len: bs}, {Kind: KindMeta, Path: "f", Off: 0, Len: 0}}},
	} {
		if got := writeRegions("f", tc.off, tc.n, tc.size, bs); !slices.Equal(got, tc.want) {
			t.Errorf("%s: writeRegions = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name    string
		size, n int64
		want    []Region
	}{
		{"same", 1000, 1000, nil},
		{"to zero", 1000, 0, []Region{{Kind: KindFile, Path: "f", Off: 0, Len: 0}}},
		{"grow", 1000, 5000, []Region{{Kind: KindMeta, Path: "f", Off: 0, Len: 0}, {Kind: KindBlocks, Path: "f", Off: bs, Len: bs}}},
		{"shrink", 2000, 600, []Region{{Kind: KindMeta, Path: "f", Off: 0, Len: 0}, {Kind: KindBlocks, Path: "f", Off: bs, Len: 3 * bs}}},
	} {
		if got := truncateRegions("f", tc.size, tc.n, bs); !slices.Equal(got, tc.want) {
			t.Errorf("%s: truncateRegions = %v, want %v", tc.name, got, tc.want)
		}
	}
}
