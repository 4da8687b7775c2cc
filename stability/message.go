package stability

import (
	"fmt"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/stability/internal/wire"
)

// maxRegions bounds the regions in one PreserveRequest (wire.MaxRegions);
// the Coordinator and the links split larger batches over several messages.
const maxRegions = wire.MaxRegions

// maxRegionBytes bounds the bytes the regions of one PreserveRequest take
// (regionBytes), under wire.MaxMessageSize with room for the header: a
// batch of long paths is split too.
const maxRegionBytes = wire.MaxMessageSize - 64<<10

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
	codeLimit                  // = wire.CodeLimit (TestWireLimits)
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
	frameLimit                         // = wire.FrameLimit (TestWireLimits)
)

// ResetFrame is one message of the reset handshake stream.
type ResetFrame struct {
	Type   FrameType
	Epoch  uint64
	Node   string
	Code   Code
	Detail string
}

// The wire forms of the messages (package wire encodes them); a message
// converts to its wire form and back without copying.
type (
	wireResponse = wire.PreserveResponse[Code]
	wireFrame    = wire.ResetFrame[FrameType, Code]
)

// truncDetail bounds an error text for the wire.
func truncDetail(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > wire.MaxDetailLen {
		s = s[:wire.MaxDetailLen]
	}
	return s
}
