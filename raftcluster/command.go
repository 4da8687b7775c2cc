package raftcluster

import (
	"encoding/binary"
	"fmt"
)

// Commands on the Raft log. Every entry of type raft.LogCommand that this
// package writes is one encoded command:
//
//	byte 0    format version (commandVersion)
//	byte 1    kind
//	kindApp:  the application's bytes, to the end of the entry
//	others:   fields in a fixed order per kind; strings as uvarint length
//	          then bytes, integers as uvarints
//
// Decoding is strict: an unknown version or kind, a string longer than
// maxStringLen, an application payload longer than MaxAppCommandSize, a
// truncated field or trailing bytes are all ErrBadCommand. Bad input never
// panics (FuzzDecodeCommand).

const (
	commandVersion = 1
	// maxStringLen bounds member IDs and addresses.
	maxStringLen = 1024
	// MaxAppCommandSize bounds an application command (16 MiB).
	MaxAppCommandSize = 16 << 20
)

type cmdKind uint8

const (
	kindApp           cmdKind = iota + 1 // payload
	kindAddMember                        // id, raftAddr, stabilityAddr
	kindRemoveMember                     // id
	kindSetWriter                        // id, epoch
	kindExclude                          // id, epoch
	kindRejoin                           // id, index of the Exclude it answers
	kindReportOverlay                    // id, bytes, appliedIndex
	kindResetStart                       // id, epoch
	kindResetDone                        // id, index of the ResetStart it answers
	kindSetVoter                         // id
	kindSetNonvoter                      // id
	// Requests between members, never on the log (the state refuses them).
	kindCheckMember // id: is id a member? (leader only)
	kindPing        // id of the sender: answered by any member
	kindCommitIndex // id of the sender: the leader's commit index (leader only)
	kindMax
)

func (k cmdKind) String() string {
	switch k {
	case kindApp:
		return "App"
	case kindAddMember:
		return "AddMember"
	case kindRemoveMember:
		return "RemoveMember"
	case kindSetWriter:
		return "SetWriter"
	case kindExclude:
		return "Exclude"
	case kindRejoin:
		return "Rejoin"
	case kindReportOverlay:
		return "ReportOverlay"
	case kindResetStart:
		return "ResetStart"
	case kindResetDone:
		return "ResetDone"
	case kindSetVoter:
		return "SetVoter"
	case kindSetNonvoter:
		return "SetNonvoter"
	case kindCheckMember:
		return "CheckMember"
	case kindPing:
		return "Ping"
	case kindCommitIndex:
		return "CommitIndex"
	}
	return fmt.Sprintf("cmdKind(%d)", uint8(k))
}

// command is the decoded form of every kind; fields not used by a kind are
// zero.
type command struct {
	Kind          cmdKind
	ID            string
	RaftAddr      string
	StabilityAddr string
	Epoch         uint64
	Bytes         uint64
	Index         uint64
	App           []byte
}

func encodeApp(cmd []byte) []byte {
	b := make([]byte, 0, 2+len(cmd))
	b = append(b, commandVersion, byte(kindApp))
	return append(b, cmd...)
}

func encodeCommand(c command) []byte {
	if c.Kind == kindApp {
		return encodeApp(c.App)
	}
	b := []byte{commandVersion, byte(c.Kind)}
	putStr := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	putU := func(v uint64) { b = binary.AppendUvarint(b, v) }
	putStr(c.ID)
	switch c.Kind {
	case kindAddMember:
		putStr(c.RaftAddr)
		putStr(c.StabilityAddr)
	case kindSetWriter, kindExclude, kindResetStart:
		putU(c.Epoch)
	case kindReportOverlay:
		putU(c.Bytes)
		putU(c.Index)
	case kindRejoin, kindResetDone:
		putU(c.Index)
	}
	return b
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadCommand, what)
	}
}

func (d *decoder) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.u()
	if d.err != nil {
		return ""
	}
	if n > maxStringLen {
		d.fail("string too long")
		return ""
	}
	if uint64(len(d.b)) < n {
		d.fail("truncated string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// decodeCommand decodes one log entry. The App payload aliases b.
func decodeCommand(b []byte) (command, error) {
	if len(b) < 2 {
		return command{}, fmt.Errorf("%w: too short (%d bytes)", ErrBadCommand, len(b))
	}
	if b[0] != commandVersion {
		return command{}, fmt.Errorf("%w: unknown version %d", ErrBadCommand, b[0])
	}
	k := cmdKind(b[1])
	if k == 0 || k >= kindMax {
		return command{}, fmt.Errorf("%w: unknown kind %d", ErrBadCommand, b[1])
	}
	c := command{Kind: k}
	if k == kindApp {
		if len(b)-2 > MaxAppCommandSize {
			return command{}, fmt.Errorf("%w: application command of %d bytes exceeds %d", ErrBadCommand, len(b)-2, MaxAppCommandSize)
		}
		c.App = b[2:]
		return c, nil
	}
	d := decoder{b: b[2:]}
	c.ID = d.str()
	switch k {
	case kindAddMember:
		c.RaftAddr = d.str()
		c.StabilityAddr = d.str()
	case kindSetWriter, kindExclude, kindResetStart:
		c.Epoch = d.u()
	case kindReportOverlay:
		c.Bytes = d.u()
		c.Index = d.u()
	case kindRejoin, kindResetDone:
		c.Index = d.u()
	}
	if d.err != nil {
		return command{}, d.err
	}
	if len(d.b) != 0 {
		return command{}, fmt.Errorf("%w: %d trailing bytes", ErrBadCommand, len(d.b))
	}
	if c.ID == "" {
		return command{}, fmt.Errorf("%w: %s with empty member ID", ErrBadCommand, k)
	}
	return c, nil
}
