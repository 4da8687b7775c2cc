package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"

	"github.com/holeycow/holeycow/cow"
)

// Sentinel errors, re-exported by package stability.
var (
	// ErrMalformed reports a message that does not decode.
	ErrMalformed = errors.New("stability: malformed message")
	// ErrTooLarge reports a message over MaxMessageSize.
	ErrTooLarge = errors.New("stability: message too large")
)

// Wire limits. A message over a limit fails to encode or decode with an error
// wrapping ErrTooLarge or ErrMalformed; it never panics or allocates beyond
// the limits.
const (
	// MaxMessageSize bounds an encoded message; the gRPC transport sets its
	// MaxRecvMsgSize and MaxSendMsgSize to it.
	MaxMessageSize = 4 << 20
	// MaxRegions bounds the regions in one PreserveRequest. The Coordinator
	// splits larger batches over several messages.
	MaxRegions = 16 << 10
	// MaxIDLen bounds a node ID.
	MaxIDLen = 255
	// MaxPathLen bounds a region's path.
	MaxPathLen = 4096
	// MaxDetailLen bounds an error detail string.
	MaxDetailLen = 1024
)

// Enumeration bounds of stability.Code and stability.FrameType.
const (
	CodeLimit    = 7 // codes are 0 .. CodeLimit-1
	FrameRequest = 1 // the reset frame that must name its node
	FrameLimit   = 5 // frame types are 1 .. FrameLimit-1
)

// Message tags: the first byte of every encoded message.
const (
	TagPreserveRequest  = 0x51
	TagPreserveResponse = 0x52
	TagResetFrame       = 0x53
)

// PreserveRequest mirrors stability.PreserveRequest.
type PreserveRequest struct {
	Epoch    uint64
	Writer   string
	Seq      uint64
	AckedSeq uint64
	Regions  []cow.Region
}

// PreserveResponse mirrors stability.PreserveResponse; C is stability.Code.
type PreserveResponse[C ~uint8] struct {
	Epoch  uint64
	Seq    uint64
	Code   C
	Detail string
}

// ResetFrame mirrors stability.ResetFrame; F is stability.FrameType and C
// stability.Code.
type ResetFrame[F, C ~uint8] struct {
	Type   F
	Epoch  uint64
	Node   string
	Code   C
	Detail string
}

// encoder appends to a byte slice.
type encoder struct{ b []byte }

func (e *encoder) u8(v uint8)    { e.b = append(e.b, v) }
func (e *encoder) uvar(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) str(s string)  { e.uvar(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) svar(v int64)  { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) check() error {
	if len(e.b) > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(e.b))
	}
	return nil
}

// decoder consumes a byte slice; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) u8() uint8 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvar() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) svar() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str(max int) string {
	n := d.uvar()
	if d.err != nil {
		return ""
	}
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail("string of %d bytes", n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

func start(data []byte, tag byte) (*decoder, error) {
	if len(data) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	d := &decoder{b: data}
	if t := d.u8(); d.err == nil && t != tag {
		d.fail("tag %#x, want %#x", t, tag)
	}
	return d, d.err
}

// ValidID reports whether id can travel as a node ID.
func ValidID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: node ID of %d bytes", ErrMalformed, len(id))
	}
	return nil
}

// ValidRegion reports whether r can travel in a PreserveRequest.
func ValidRegion(r cow.Region) error {
	if !fs.ValidPath(r.Path) || len(r.Path) > MaxPathLen {
		return fmt.Errorf("%w: region path %q", ErrMalformed, r.Path)
	}
	if r.To != "" && r.Kind != cow.KindMove {
		return fmt.Errorf("%w: region %v has a destination", ErrMalformed, r)
	}
	switch r.Kind {
	case cow.KindBlocks:
		if r.Off < 0 || r.Len < 0 || r.Off > math.MaxInt64-r.Len {
			return fmt.Errorf("%w: region %v", ErrMalformed, r)
		}
	case cow.KindMeta, cow.KindFile:
		if r.Off != 0 || r.Len != 0 {
			return fmt.Errorf("%w: region %v has an offset", ErrMalformed, r)
		}
	case cow.KindHold, cow.KindRelease:
		if r.Off <= 0 || r.Len != 0 {
			return fmt.Errorf("%w: region %v", ErrMalformed, r)
		}
	case cow.KindMove:
		if r.Off != 0 || r.Len != 0 || !fs.ValidPath(r.To) || len(r.To) > MaxPathLen || r.To == r.Path {
			return fmt.Errorf("%w: region %v", ErrMalformed, r)
		}
	default:
		return fmt.Errorf("%w: region kind %d", ErrMalformed, r.Kind)
	}
	return nil
}

// Validate reports whether m can be encoded and would decode to itself.
func (m *PreserveRequest) Validate() error {
	if err := ValidID(m.Writer); err != nil {
		return err
	}
	if len(m.Regions) > MaxRegions {
		return fmt.Errorf("%w: %d regions", ErrTooLarge, len(m.Regions))
	}
	for _, r := range m.Regions {
		if err := ValidRegion(r); err != nil {
			return err
		}
	}
	return nil
}

// Marshal encodes m.
func (m *PreserveRequest) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	e := encoder{b: make([]byte, 0, 32+len(m.Regions)*24)}
	e.u8(TagPreserveRequest)
	e.uvar(m.Epoch)
	e.str(m.Writer)
	e.uvar(m.Seq)
	e.uvar(m.AckedSeq)
	e.uvar(uint64(len(m.Regions)))
	for _, r := range m.Regions {
		e.u8(uint8(r.Kind))
		e.str(r.Path)
		switch r.Kind {
		case cow.KindBlocks:
			e.svar(r.Off)
			e.svar(r.Len)
		case cow.KindHold, cow.KindRelease:
			e.svar(r.Off) // the held file's number
		case cow.KindMove:
			e.str(r.To)
		}
	}
	return e.b, e.check()
}

// DecodePreserveRequest decodes a PreserveRequest. Any malformed input gets
// an error wrapping ErrMalformed or ErrTooLarge.
func DecodePreserveRequest(data []byte) (*PreserveRequest, error) {
	d, err := start(data, TagPreserveRequest)
	if err != nil {
		return nil, err
	}
	m := &PreserveRequest{}
	m.Epoch = d.uvar()
	m.Writer = d.str(MaxIDLen)
	m.Seq = d.uvar()
	m.AckedSeq = d.uvar()
	n := d.uvar()
	// Each region takes at least two bytes, which bounds the allocation.
	if d.err == nil && (n > MaxRegions || n > uint64(len(d.b))/2) {
		d.fail("%d regions", n)
	}
	if d.err != nil {
		return nil, d.err
	}
	if n > 0 {
		m.Regions = make([]cow.Region, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		r := cow.Region{Kind: cow.RegionKind(d.u8())}
		r.Path = d.str(MaxPathLen)
		switch r.Kind {
		case cow.KindBlocks:
			r.Off = d.svar()
			r.Len = d.svar()
		case cow.KindHold, cow.KindRelease:
			r.Off = d.svar()
		case cow.KindMove:
			r.To = d.str(MaxPathLen)
		}
		m.Regions = append(m.Regions, r)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Marshal encodes m.
func (m *PreserveResponse[C]) Marshal() ([]byte, error) {
	if m.Code >= CodeLimit || len(m.Detail) > MaxDetailLen {
		return nil, fmt.Errorf("%w: response code %d, detail of %d bytes", ErrMalformed, m.Code, len(m.Detail))
	}
	e := encoder{}
	e.u8(TagPreserveResponse)
	e.uvar(m.Epoch)
	e.uvar(m.Seq)
	e.u8(uint8(m.Code))
	e.str(m.Detail)
	return e.b, e.check()
}

// DecodePreserveResponse decodes a PreserveResponse.
func DecodePreserveResponse[C ~uint8](data []byte) (*PreserveResponse[C], error) {
	d, err := start(data, TagPreserveResponse)
	if err != nil {
		return nil, err
	}
	m := &PreserveResponse[C]{}
	m.Epoch = d.uvar()
	m.Seq = d.uvar()
	m.Code = C(d.u8())
	m.Detail = d.str(MaxDetailLen)
	if err := d.done(); err != nil {
		return nil, err
	}
	if m.Code >= CodeLimit {
		return nil, fmt.Errorf("%w: response code %d", ErrMalformed, m.Code)
	}
	return m, nil
}

// Validate reports whether f can be encoded and would decode to itself.
func (f *ResetFrame[F, C]) Validate() error {
	if f.Type == 0 || f.Type >= FrameLimit || f.Code >= CodeLimit || len(f.Detail) > MaxDetailLen {
		return fmt.Errorf("%w: reset frame type %d code %d", ErrMalformed, f.Type, f.Code)
	}
	if f.Type == FrameRequest {
		return ValidID(f.Node)
	}
	if len(f.Node) > MaxIDLen {
		return fmt.Errorf("%w: node ID of %d bytes", ErrMalformed, len(f.Node))
	}
	return nil
}

// Marshal encodes f.
func (f *ResetFrame[F, C]) Marshal() ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	e := encoder{}
	e.u8(TagResetFrame)
	e.u8(uint8(f.Type))
	e.uvar(f.Epoch)
	e.str(f.Node)
	e.u8(uint8(f.Code))
	e.str(f.Detail)
	return e.b, e.check()
}

// DecodeResetFrame decodes a ResetFrame.
func DecodeResetFrame[F, C ~uint8](data []byte) (*ResetFrame[F, C], error) {
	d, err := start(data, TagResetFrame)
	if err != nil {
		return nil, err
	}
	f := &ResetFrame[F, C]{}
	f.Type = F(d.u8())
	f.Epoch = d.uvar()
	f.Node = d.str(MaxIDLen)
	f.Code = C(d.u8())
	f.Detail = d.str(MaxDetailLen)
	if err := d.done(); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}
