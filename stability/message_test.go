package stability

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/holeycow/holeycow/cow"
)

func sampleRequests() []*PreserveRequest {
	return []*PreserveRequest{
		{Epoch: 1, Writer: "w", Seq: 1},
		{Epoch: 7, Writer: "node-a", Seq: 1 << 62, AckedSeq: 1<<62 - 1, Regions: []cow.Region{
			{Kind: cow.KindBlocks, Path: "db/main.db", Off: 4096, Len: 8192},
			{Kind: cow.KindMeta, Path: "db/main.db-journal"},
			{Kind: cow.KindFile, Path: "x"},
			{Kind: cow.KindBlocks, Path: ".", Off: 0, Len: 0},
		}},
	}
}

func TestPreserveRequest_MarshalBinary_roundTrip(t *testing.T) {
	for _, m := range sampleRequests() {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodePreserveRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: got %+v, want %+v", got, m)
		}
		// Every strict prefix is malformed.
		for i := range len(b) {
			if _, err := DecodePreserveRequest(b[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("prefix %d of %d: err %v, want ErrMalformed", i, len(b), err)
			}
		}
		if _, err := DecodePreserveRequest(append(b, 0)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("trailing byte: err %v", err)
		}
	}
}

func TestPreserveRequest_MarshalBinary_invalid(t *testing.T) {
	bad := []*PreserveRequest{
		{Writer: ""},
		{Writer: strings.Repeat("x", MaxIDLen+1)},
		{Writer: "w", Regions: []cow.Region{{Kind: 9, Path: "a"}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindBlocks, Path: "/abs"}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindBlocks, Path: "a", Off: -1}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindMeta, Path: "a", Off: 3}}},
		{Writer: "w", Regions: make([]cow.Region, MaxRegions+1)},
	}
	for i, m := range bad {
		if _, err := m.MarshalBinary(); err == nil {
			t.Errorf("%d: encoded an invalid request", i)
		}
	}
	if _, err := DecodePreserveRequest(make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func TestResetFrame_MarshalBinary_roundTrip(t *testing.T) {
	for _, f := range []*ResetFrame{
		{Type: FrameRequest, Node: "c1", Epoch: 3},
		{Type: FrameQuiesced, Epoch: 9},
		{Type: FrameDropped, Code: CodeFailed, Detail: "boom"},
		{Type: FrameDone, Code: CodeOK},
	} {
		b, err := f.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeResetFrame(b)
		if err != nil || !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip %+v: got %+v, %v", f, got, err)
		}
	}
	if _, err := (&ResetFrame{Type: FrameRequest}).MarshalBinary(); err == nil {
		t.Fatal("request without node encoded")
	}
}

func TestCode_Err_sentinels(t *testing.T) {
	for c, want := range map[Code]error{CodeStaleEpoch: ErrStaleEpoch, CodeNotJoined: ErrNotJoined,
		CodeNotMember: ErrNotMember, CodeNotServing: ErrNotServing, CodeIdentity: ErrIdentity} {
		if err := c.Err("x"); !errors.Is(err, want) {
			t.Errorf("%v: %v does not wrap %v", c, err, want)
		}
	}
	if CodeOK.Err("") != nil || CodeFailed.Err("x") == nil {
		t.Error("ok/failed")
	}
}

// fuzzDecode checks a decoder on arbitrary input: it fails only with a
// typed error, and what it accepts encodes back to bytes that decode to
// the same message.
func fuzzDecode[M interface{ MarshalBinary() ([]byte, error) }](f *testing.F, decode func([]byte) (M, error), seeds []M, extra ...[]byte) {
	for _, m := range seeds {
		b, _ := m.MarshalBinary()
		f.Add(b)
	}
	for _, b := range extra {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		m2, err := decode(b)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding changed the message: %+v vs %+v (%v)", m, m2, err)
		}
	})
}

func FuzzDecodePreserveRequest(f *testing.F) {
	fuzzDecode(f, DecodePreserveRequest, sampleRequests(),
		[]byte{tagPreserveRequest, 1, 1, 'w', 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
}

func FuzzDecodePreserveResponse(f *testing.F) {
	fuzzDecode(f, DecodePreserveResponse, []*PreserveResponse{{}, {Epoch: 5, Seq: 99, Code: CodeStaleEpoch, Detail: "old"}})
}

func FuzzDecodeResetFrame(f *testing.F) {
	fuzzDecode(f, DecodeResetFrame, []*ResetFrame{{Type: FrameRequest, Node: "c"}, {Type: FrameDone, Code: CodeNotMember, Detail: "no"}})
}

func TestHistogram_quantile(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Fatal("empty")
	}
	for i := 1; i <= 1000; i++ {
		h.observe(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got) > 1.15*float64(c.want) {
			t.Errorf("q%v = %v, want within [%v, +15%%]", c.q, got, c.want)
		}
	}
}
