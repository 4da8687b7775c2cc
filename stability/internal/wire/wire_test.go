package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/holeycow/holeycow/cow"
)

// Stand-ins for stability.Code and stability.FrameType (the values of the
// constants used here).
type (
	code      uint8
	frameType uint8
	response  = PreserveResponse[code]
	frame     = ResetFrame[frameType, code]
)

const (
	codeOK         code = 0
	codeStaleEpoch code = 1
	codeNotMember  code = 3
	codeFailed     code = 6

	frameRequest  frameType = FrameRequest
	frameQuiesced frameType = 2
	frameDropped  frameType = 3
	frameDone     frameType = 4
)

func sampleRequests() []*PreserveRequest {
	return []*PreserveRequest{
		{Epoch: 1, Writer: "w", Seq: 1},
		{Epoch: 7, Writer: "node-a", Seq: 1 << 62, AckedSeq: 1<<62 - 1, Regions: []cow.Region{
			{Kind: cow.KindBlocks, Path: "db/main.db", Off: 4096, Len: 8192},
			{Kind: cow.KindMeta, Path: "db/main.db-journal"},
			{Kind: cow.KindFile, Path: "x"},
			{Kind: cow.KindHold, Path: "db/000012.sst", Off: 7},
			{Kind: cow.KindRelease, Path: cow.HeldPath(3), Off: 3},
			{Kind: cow.KindMove, Path: "db/000004.log", To: "db/000009.log"},
			{Kind: cow.KindBlocks, Path: ".", Off: 0, Len: 0},
		}},
	}
}

func TestPreserveRequest_Marshal_roundTrip(t *testing.T) {
	for _, m := range sampleRequests() {
		b, err := m.Marshal()
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

func TestPreserveRequest_Marshal_invalid(t *testing.T) {
	bad := []*PreserveRequest{
		{Writer: ""},
		{Writer: strings.Repeat("x", MaxIDLen+1)},
		{Writer: "w", Regions: []cow.Region{{Kind: 9, Path: "a"}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindBlocks, Path: "/abs"}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindBlocks, Path: "a", Off: -1}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindMeta, Path: "a", Off: 3}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindMeta, Path: "a", To: "b"}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindMove, Path: "a"}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindMove, Path: "a", To: "a"}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindMove, Path: "a", To: "/b"}}},
		{Writer: "w", Regions: []cow.Region{{Kind: cow.KindMove, Path: "a", To: "b", Off: 1}}},
		{Writer: "w", Regions: make([]cow.Region, MaxRegions+1)},
	}
	for i, m := range bad {
		if _, err := m.Marshal(); err == nil {
			t.Errorf("%d: encoded an invalid request", i)
		}
	}
	if _, err := DecodePreserveRequest(make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func TestResetFrame_Marshal_roundTrip(t *testing.T) {
	for _, f := range []*frame{
		{Type: frameRequest, Node: "c1", Epoch: 3},
		{Type: frameQuiesced, Epoch: 9},
		{Type: frameDropped, Code: codeFailed, Detail: "boom"},
		{Type: frameDone, Code: codeOK},
	} {
		b, err := f.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeResetFrame[frameType, code](b)
		if err != nil || !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip %+v: got %+v, %v", f, got, err)
		}
	}
	if _, err := (&frame{Type: frameRequest}).Marshal(); err == nil {
		t.Fatal("request without node encoded")
	}
}

// fuzzDecode checks a decoder on arbitrary input: it fails only with a
// typed error, and what it accepts encodes back to bytes that decode to
// the same message.
func fuzzDecode[M interface{ Marshal() ([]byte, error) }](f *testing.F, decode func([]byte) (M, error), seeds []M, extra ...[]byte) {
	for _, m := range seeds {
		b, _ := m.Marshal()
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
		b, err := m.Marshal()
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
		[]byte{TagPreserveRequest, 1, 1, 'w', 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
}

func FuzzDecodePreserveResponse(f *testing.F) {
	fuzzDecode(f, DecodePreserveResponse[code], []*response{{}, {Epoch: 5, Seq: 99, Code: codeStaleEpoch, Detail: "old"}})
}

func FuzzDecodeResetFrame(f *testing.F) {
	fuzzDecode(f, DecodeResetFrame[frameType, code], []*frame{{Type: frameRequest, Node: "c"}, {Type: frameDone, Code: codeNotMember, Detail: "no"}})
}
