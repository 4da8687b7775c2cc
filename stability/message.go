package stability

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"

	"github.com/holeycow/holeycow/cow"
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

// Message tags: the first byte of every encoded message.
const (
	tagPreserveRequest  = 0x51
	tagPreserveResponse = 0x52
	tagResetFrame       = 0x53
)

// Code is the outcome carried by a response.
type Code uint8

// Response codes.
const (
	CodeOK         Code = iota // success
	CodeStaleEpoch             // the request's epoch is older than the newest seen (ErrStaleEpoch)
	CodeNotJoined              // the copier has not joined or its lease lapsed; it refuses reads until it resets (ErrNotJoined)
	CodeNotMember              // the requester is not a member (ErrNotMember)
	CodeNotServing             // the receiver does not serve this role (ErrNotServing)
	CodeIdentity               // the claimed sender is not the authenticated one (ErrIdentity)
	CodeFailed                 // any other failure; Detail says what
	codeLimit
)

func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeStaleEpoch:
		return "stale-epoch"
	case CodeNotJoined:
		return "not-joined"
	case CodeNotMember:
		return "not-member"
	case CodeNotServing:
		return "not-serving"
	case CodeIdentity:
		return "identity"
	case CodeFailed:
		return "failed"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Err turns a code and detail into an error wrapping the matching sentinel
// (nil for CodeOK).
func (c Code) Err(detail string) error {
	var base error
	switch c {
	case CodeOK:
		return nil
	case CodeStaleEpoch:
		base = ErrStaleEpoch
	case CodeNotJoined:
		base = ErrNotJoined
	case CodeNotMember:
		base = ErrNotMember
	case CodeNotServing:
		base = ErrNotServing
	case CodeIdentity:
		base = ErrIdentity
	default:
		return fmt.Errorf("stability: remote failure: %s", detail)
	}
	if detail == "" {
		return base
	}
	return fmt.Errorf("%w: %s", base, detail)
}

// PreserveRequest asks a copier to preserve regions (a round), or, with no
// regions, only renews its lease (a heartbeat).
type PreserveRequest struct {
	Epoch    uint64       // the writer's epoch
	Writer   string       // the writer's node ID; must equal its authenticated identity
	Seq      uint64       // per-copier message number, increasing
	AckedSeq uint64       // newest Seq whose acknowledgement the writer has received (0: none)
	Regions  []cow.Region // may be empty
}

// PreserveResponse acknowledges a PreserveRequest (Code == CodeOK) or
// refuses it.
type PreserveResponse struct {
	Epoch  uint64 // the newest epoch the copier has seen
	Seq    uint64 // the request's Seq
	Code   Code
	Detail string
}

// FrameType says what a ResetFrame is.
type FrameType uint8

// Reset handshake frames, in order.
const (
	FrameRequest  FrameType = iota + 1 // copier → writer: please quiesce (Node = copier ID, Epoch = newest seen)
	FrameQuiesced                      // writer → copier: quiesced, synced, stable set forgotten; drop now (Epoch = writer's)
	FrameDropped                       // copier → writer: drop done (Code, Detail)
	FrameDone                          // writer → copier: mutations resumed; Code says whether the reset counts
	frameLimit
)

// ResetFrame is one message of the reset handshake stream.
type ResetFrame struct {
	Type   FrameType
	Epoch  uint64
	Node   string
	Code   Code
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

func validID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: node ID of %d bytes", ErrMalformed, len(id))
	}
	return nil
}

func validRegion(r cow.Region) error {
	if !fs.ValidPath(r.Path) || len(r.Path) > MaxPathLen {
		return fmt.Errorf("%w: region path %q", ErrMalformed, r.Path)
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
	default:
		return fmt.Errorf("%w: region kind %d", ErrMalformed, r.Kind)
	}
	return nil
}

// Validate reports whether m can be encoded and would decode to itself.
func (m *PreserveRequest) Validate() error {
	if err := validID(m.Writer); err != nil {
		return err
	}
	if len(m.Regions) > MaxRegions {
		return fmt.Errorf("%w: %d regions", ErrTooLarge, len(m.Regions))
	}
	for _, r := range m.Regions {
		if err := validRegion(r); err != nil {
			return err
		}
	}
	return nil
}

// MarshalBinary encodes m.
func (m *PreserveRequest) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	e := encoder{b: make([]byte, 0, 32+len(m.Regions)*24)}
	e.u8(tagPreserveRequest)
	e.uvar(m.Epoch)
	e.str(m.Writer)
	e.uvar(m.Seq)
	e.uvar(m.AckedSeq)
	e.uvar(uint64(len(m.Regions)))
	for _, r := range m.Regions {
		e.u8(uint8(r.Kind))
		e.str(r.Path)
		if r.Kind == cow.KindBlocks {
			e.svar(r.Off)
			e.svar(r.Len)
		}
	}
	return e.b, e.check()
}

// DecodePreserveRequest decodes a PreserveRequest. Any malformed input gets
// an error wrapping ErrMalformed or ErrTooLarge.
func DecodePreserveRequest(data []byte) (*PreserveRequest, error) {
	d, err := start(data, tagPreserveRequest)
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
		if r.Kind == cow.KindBlocks {
			r.Off = d.svar()
			r.Len = d.svar()
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

// MarshalBinary encodes m.
func (m *PreserveResponse) MarshalBinary() ([]byte, error) {
	if m.Code >= codeLimit || len(m.Detail) > MaxDetailLen {
		return nil, fmt.Errorf("%w: response code %d, detail of %d bytes", ErrMalformed, m.Code, len(m.Detail))
	}
	e := encoder{}
	e.u8(tagPreserveResponse)
	e.uvar(m.Epoch)
	e.uvar(m.Seq)
	e.u8(uint8(m.Code))
	e.str(m.Detail)
	return e.b, e.check()
}

// DecodePreserveResponse decodes a PreserveResponse.
func DecodePreserveResponse(data []byte) (*PreserveResponse, error) {
	d, err := start(data, tagPreserveResponse)
	if err != nil {
		return nil, err
	}
	m := &PreserveResponse{}
	m.Epoch = d.uvar()
	m.Seq = d.uvar()
	m.Code = Code(d.u8())
	m.Detail = d.str(MaxDetailLen)
	if err := d.done(); err != nil {
		return nil, err
	}
	if m.Code >= codeLimit {
		return nil, fmt.Errorf("%w: response code %d", ErrMalformed, m.Code)
	}
	return m, nil
}

// Validate reports whether f can be encoded and would decode to itself.
func (f *ResetFrame) Validate() error {
	if f.Type == 0 || f.Type >= frameLimit || f.Code >= codeLimit || len(f.Detail) > MaxDetailLen {
		return fmt.Errorf("%w: reset frame type %d code %d", ErrMalformed, f.Type, f.Code)
	}
	if f.Type == FrameRequest {
		return validID(f.Node)
	}
	if len(f.Node) > MaxIDLen {
		return fmt.Errorf("%w: node ID of %d bytes", ErrMalformed, len(f.Node))
	}
	return nil
}

// MarshalBinary encodes f.
func (f *ResetFrame) MarshalBinary() ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	e := encoder{}
	e.u8(tagResetFrame)
	e.u8(uint8(f.Type))
	e.uvar(f.Epoch)
	e.str(f.Node)
	e.u8(uint8(f.Code))
	e.str(f.Detail)
	return e.b, e.check()
}

// DecodeResetFrame decodes a ResetFrame.
func DecodeResetFrame(data []byte) (*ResetFrame, error) {
	d, err := start(data, tagResetFrame)
	if err != nil {
		return nil, err
	}
	f := &ResetFrame{}
	f.Type = FrameType(d.u8())
	f.Epoch = d.uvar()
	f.Node = d.str(MaxIDLen)
	f.Code = Code(d.u8())
	f.Detail = d.str(MaxDetailLen)
	if err := d.done(); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// truncDetail bounds an error text for the wire.
func truncDetail(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > MaxDetailLen {
		s = s[:MaxDetailLen]
	}
	return s
}
