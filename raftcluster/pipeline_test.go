package raftcluster

import (
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/require"
)

// pipelinePeer is a Raft peer over TCP (hashicorp/raft's NetworkTransport,
// no RPC timeout) that answers every AppendEntries with answer, or never
// when answer is nil.
func pipelinePeer(t *testing.T, answer func(*raft.AppendEntriesRequest) *raft.AppendEntriesResponse) (addr raft.ServerAddress, got <-chan *raft.AppendEntriesRequest) {
	t.Helper()
	peer, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 0, io.Discard)
	require.NoError(t, err)
	ch := make(chan *raft.AppendEntriesRequest, 64)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); peer.Close() })
	go func() {
		for {
			select {
			case rpc := <-peer.Consumer():
				req, ok := rpc.Command.(*raft.AppendEntriesRequest)
				if !ok {
					rpc.Respond(nil, io.ErrUnexpectedEOF)
					continue
				}
				select {
				case ch <- req:
				default:
				}
				if answer != nil {
					rpc.Respond(answer(req), nil)
				}
			case <-done:
				return
			}
		}
	}()
	return peer.LocalAddr(), ch
}

// senderPipeline opens a contactPipeline from a fresh TCP transport
// (no RPC timeout) to addr.
func senderPipeline(t *testing.T, addr raft.ServerAddress) *contactPipeline {
	t.Helper()
	tr, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 0, io.Discard)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	inner, err := tr.AppendEntriesPipeline("peer", addr)
	require.NoError(t, err)
	p := newContactPipeline(inner, nil)
	t.Cleanup(func() { p.Close() })
	return p
}

func appendReq(term uint64) *raft.AppendEntriesRequest {
	return &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax}, Term: term}
}

// sendAll sends n requests on p and reports each send's error.
func sendAll(p raft.AppendPipeline, n int) <-chan error {
	errs := make(chan error, n)
	go func() {
		for range n {
			_, err := p.AppendEntries(appendReq(1), new(raft.AppendEntriesResponse))
			errs <- err
		}
		close(errs)
	}()
	return errs
}

// TestPipeline_sendAfterFailedResponse: hashicorp/raft's pipelineDecode
// stops reading a pipeline's answers at the first refused one; sends that
// follow must not block (NetworkTransport's pipeline blocks the third
// for ever: its decoder holds an answer no one reads).
func TestPipeline_sendAfterFailedResponse(t *testing.T) {
	addr, _ := pipelinePeer(t, func(req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
		return &raft.AppendEntriesResponse{Term: req.Term, Success: false}
	})
	p := senderPipeline(t, addr)

	// The answer may come before the send returns, which then fails.
	if _, err := p.AppendEntries(appendReq(1), new(raft.AppendEntriesResponse)); err != nil {
		require.ErrorIs(t, err, raft.ErrPipelineShutdown)
	}
	select {
	case f := <-p.Consumer():
		require.NoError(t, f.Error())
		require.False(t, f.Response().Success)
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	// Raft's decoder stops here: no one reads p.Consumer() any more.
	errs := sendAll(p, 5)
	deadline := time.After(10 * time.Second)
	var last error
	for range 5 {
		select {
		case err := <-errs:
			last = err
		case <-deadline:
			t.Fatal("a send after a refused answer blocked")
		}
	}
	require.ErrorIs(t, last, raft.ErrPipelineShutdown)
}

// TestPipeline_stopEndsBlockedSend: a send blocked in a pipeline whose
// peer never answers (and no RPC timeout) returns once the pipeline is
// stopped, as Node.Shutdown does.
func TestPipeline_stopEndsBlockedSend(t *testing.T) {
	addr, got := pipelinePeer(t, nil)
	p := senderPipeline(t, addr)

	_, err := p.AppendEntries(appendReq(1), new(raft.AppendEntriesResponse))
	require.NoError(t, err)
	select {
	case <-got: // the decoder waits for its answer from now on
	case <-time.After(10 * time.Second):
		t.Fatal("the peer got nothing")
	}
	// The next send waits to hand its request to the busy decoder.
	errs := sendAll(p, 2)
	select {
	case err := <-errs:
		t.Fatalf("a send to a silent peer returned (%v): the test sets up nothing", err)
	case <-time.After(100 * time.Millisecond):
	}
	p.stop()
	for range 2 {
		select {
		case err, ok := <-errs:
			if ok {
				require.ErrorIs(t, err, raft.ErrPipelineShutdown)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("stop did not end a blocked send")
		}
	}
}
