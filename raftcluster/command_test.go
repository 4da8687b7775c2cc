package raftcluster

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func sampleCommands() []command {
	return []command{
		{Kind: kindApp, App: []byte("hello")},
		{Kind: kindApp, App: []byte{}},
		{Kind: kindAddMember, ID: "n1", RaftAddr: "127.0.0.1:1", StabilityAddr: "127.0.0.1:2"},
		{Kind: kindRemoveMember, ID: "n1"},
		{Kind: kindSetWriter, ID: "n2", Epoch: 7},
		{Kind: kindExclude, ID: "n3", Epoch: 1 << 40},
		{Kind: kindRejoin, ID: "n3"},
		{Kind: kindReportOverlay, ID: "n4", Bytes: 123456, Index: 99},
		{Kind: kindResetStart, ID: "n4", Epoch: 3},
		{Kind: kindResetDone, ID: "n4"},
		{Kind: kindSetVoter, ID: "n5"},
		{Kind: kindSetNonvoter, ID: "n5"},
	}
}

func TestCommand_encodeDecode_roundTrip(t *testing.T) {
	for _, c := range sampleCommands() {
		b := encodeCommand(c)
		got, err := decodeCommand(b)
		if err != nil {
			t.Fatalf("%s: %v", c.Kind, err)
		}
		if c.Kind == kindApp {
			if !bytes.Equal(got.App, c.App) {
				t.Fatalf("app %q != %q", got.App, c.App)
			}
			continue
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip %+v -> %+v", c, got)
		}
	}
}

func TestCommand_decode_bad(t *testing.T) {
	good := encodeCommand(command{Kind: kindSetWriter, ID: "n2", Epoch: 7})
	long := encodeCommand(command{Kind: kindRemoveMember, ID: string(make([]byte, maxStringLen+1))})
	cases := map[string][]byte{
		"empty":         nil,
		"one byte":      {commandVersion},
		"version":       {9, byte(kindApp)},
		"kind 0":        {commandVersion, 0},
		"kind max":      {commandVersion, byte(kindMax)},
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte(nil), good...), 0),
		"long string":   long,
		"empty ID":      encodeCommand(command{Kind: kindRejoin}),
		"bad varint":    {commandVersion, byte(kindRejoin), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"string length": {commandVersion, byte(kindRejoin), 5, 'a'},
	}
	for name, b := range cases {
		if _, err := decodeCommand(b); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: %v, want ErrBadCommand", name, err)
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, c := range sampleCommands() {
		f.Add(encodeCommand(c))
	}
	f.Add([]byte{})
	f.Add([]byte{commandVersion, byte(kindReportOverlay), 1, 'x', 0x80, 0x00, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error %v does not wrap ErrBadCommand", err)
			}
			return
		}
		// Decoding is stable: what decodes re-encodes to something that
		// decodes to the same command.
		c2, err := decodeCommand(encodeCommand(c))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if c.Kind == kindApp {
			if !bytes.Equal(c.App, c2.App) {
				t.Fatal("app payload changed")
			}
			return
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("%+v != %+v", c, c2)
		}
		// And the state machine takes any decoded command without
		// panicking or breaking its invariants.
		var st State
		for _, pre := range sampleCommands()[2:5] {
			st.apply(1, pre)
		}
		before := st.Clone()
		if _, err := st.apply(2, c); err != nil && !reflect.DeepEqual(before, st) {
			t.Fatalf("rejected %s changed the state", c.Kind)
		}
		if err := st.Check(); err != nil {
			t.Fatalf("after %+v: %v", c, err)
		}
	})
}
