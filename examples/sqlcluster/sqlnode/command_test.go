package sqlnode

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func TestEncodeRequest_roundTrip(t *testing.T) {
	req := Request{Statements: []Statement{
		{SQL: "INSERT INTO t VALUES(?, ?, ?, ?, ?, :n)", Params: []Param{
			{Value: nil}, {Value: int64(math.MinInt64)}, {Value: math.Inf(-1)}, {Value: "héllo"},
			{Value: []byte{0, 1, 2}}, {Name: "n", Value: int64(42)},
		}},
		{SQL: ""},
		{SQL: "SELECT 1", Params: []Param{{Value: 7}, {Value: true}, {Value: float32(1.5)}, {Value: []byte{}}}},
	}, Limits: ResultLimits{MaxRows: 5, MaxBytes: -1}}
	b, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	want := req
	want.Statements[2].Params = []Param{{Value: int64(7)}, {Value: int64(1)}, {Value: float64(1.5)}, {Value: []byte{}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
	}
	// Zero limits travel as the defaults.
	b, err = EncodeRequest(Request{Statements: []Statement{{SQL: "SELECT 1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := DecodeRequest(b); err != nil || got.Limits != DefaultApplyLimits {
		t.Errorf("zero limits: %+v, %v", got.Limits, err)
	}
}

// TestDecodeRequest_version1: a log entry written before requests carried
// their limits decodes with DefaultApplyLimits.
func TestDecodeRequest_version1(t *testing.T) {
	// Version 1: one statement "SELECT 1", no parameters.
	v1 := []byte{1, 1, 8, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0}
	got, err := DecodeRequest(v1)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{Statements: []Statement{{SQL: "SELECT 1"}}, Limits: DefaultApplyLimits}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestEncodeRequest_errors(t *testing.T) {
	if _, err := EncodeRequest(Request{Statements: []Statement{{SQL: "SELECT ?", Params: []Param{{Value: struct{}{}}}}}}); err == nil {
		t.Error("unsupported type accepted")
	}
	if _, err := EncodeRequest(Request{Statements: []Statement{{SQL: "SELECT \xff"}}}); !errors.Is(err, ErrRejected) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	big := make([]byte, MaxCommandSize)
	if _, err := EncodeRequest(Request{Statements: []Statement{{SQL: "SELECT ?", Params: []Param{{Value: big}}}}}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func TestDecodeRequest_errors(t *testing.T) {
	good, err := EncodeRequest(Request{Statements: []Statement{{SQL: "SELECT ?", Params: []Param{{Value: "x"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":       nil,
		"version":     append([]byte{3}, good[1:]...),
		"trailing":    append(append([]byte{}, good...), 0),
		"huge count":  {1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad kind":    {1, 1, 0, 1, 0, 9},
		"bad utf8":    {1, 1, 1, 0xff, 0},
		"short float": {1, 1, 0, 1, 0, kindFloat, 1, 2},
		"oversized":   make([]byte, MaxCommandSize+1),
	}
	for i := 1; i < len(good); i++ {
		cases["truncated"+string(rune('a'+i))] = good[:i]
	}
	for name, b := range cases {
		if _, err := DecodeRequest(b); !errors.Is(err, ErrBadCommand) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: DecodeRequest = %v, want ErrBadCommand", name, err)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, r := range []Request{
		{},
		{Statements: []Statement{{SQL: "SELECT 1"}}},
		{Statements: []Statement{{SQL: "INSERT INTO t VALUES(?,?,?,?,?)", Params: []Param{
			{Value: nil}, {Value: int64(-3)}, {Value: 2.5}, {Value: "x"}, {Name: ":b", Value: []byte{1}}}}}},
	} {
		b, err := EncodeRequest(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(b)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrBadCommand nor ErrTooLarge", err)
			}
			return
		}
		// Whatever decodes re-encodes, and decodes to the same request.
		b2, err := EncodeRequest(req)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		req2, err := DecodeRequest(b2)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if !reflect.DeepEqual(req, req2) && !hasNaN(req) {
			t.Fatalf("not stable:\n%#v\n%#v", req, req2)
		}
		if len(b2) > len(b)+2 && b[0] == 1 || len(b2) > len(b) && b[0] != 1 { // version 1 gains its limits
			t.Fatalf("re-encoding grew from %d to %d bytes", len(b), len(b2))
		}
	})
}

func hasNaN(r Request) bool {
	for _, s := range r.Statements {
		for _, p := range s.Params {
			if f, ok := p.Value.(float64); ok && f != f {
				return true
			}
		}
	}
	return false
}
