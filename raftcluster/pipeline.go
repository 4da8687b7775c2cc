package raftcluster

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// contactPipeline wraps the raft.AppendPipeline of a member's transport so
// that a pipeline whose answers no one reads any more cannot block its
// sender.
//
// hashicorp/raft's pipelineDecode stops reading a pipeline's answers at
// the first one that failed or was refused (not Success, or a newer term:
// a member that refuses, a member that never answers and times out).
// The replication goroutine may still send one or two more requests
// before it notices; NetworkTransport's pipeline then blocks the sender
// for ever (its decoder waits to hand over an answer that no one reads,
// and the sender waits to hand its request to that decoder), and
// raft.Shutdown waits for the sender. contactPipeline closes the inner
// pipeline at the first failed or refused answer, before Raft sees it, so
// that a blocked send returns an error and later sends fail at once; the
// replication goroutine then falls back to ordinary replication. stop
// (Node.Shutdown) closes it as well.
//
// Concurrency: AppendEntries and Consumer are called by Raft's replication
// goroutines as for any raft.AppendPipeline; Close and stop may be called
// concurrently with them and with each other.
type contactPipeline struct {
	inner raft.AppendPipeline
	out   chan raft.AppendFuture
	done  chan struct{} // closed by Close
	// failed is closed at the first failed or refused answer, or by stop.
	failed     chan struct{}
	failOnce   sync.Once
	closeOnce  sync.Once
	forwarding sync.WaitGroup
	untrack    func() // removes the pipeline from its transport's set
}

// errPipelineStopped is returned by a send on a contactPipeline that
// failed or was stopped.
var errPipelineStopped = fmt.Errorf("raftcluster: %w", raft.ErrPipelineShutdown)

func newContactPipeline(inner raft.AppendPipeline, untrack func()) *contactPipeline {
	p := &contactPipeline{inner: inner, out: make(chan raft.AppendFuture),
		done: make(chan struct{}), failed: make(chan struct{}), untrack: untrack}
	p.forwarding.Add(1)
	go p.forward()
	return p
}

// forward hands the inner pipeline's answers on to Raft, closing the
// inner pipeline first at the first failed or refused one.
func (p *contactPipeline) forward() {
	defer p.forwarding.Done()
	in := p.inner.Consumer()
	for {
		select {
		case f := <-in:
			if endsPipeline(f) {
				p.fail()
			}
			select {
			case p.out <- f:
			case <-p.done:
				return
			}
		case <-p.done:
			return
		}
	}
}

// endsPipeline reports whether f, an answered future, ends the pipeline for
// hashicorp/raft's pipelineDecode: an error, a refusal, or a newer term.
func endsPipeline(f raft.AppendFuture) bool {
	if f.Error() != nil {
		return true
	}
	req, resp := f.Request(), f.Response()
	return resp == nil || !resp.Success || (req != nil && resp.Term > req.Term)
}

// fail closes the inner pipeline: a send blocked in it returns an error,
// and later sends fail at once.
func (p *contactPipeline) fail() {
	p.failOnce.Do(func() {
		close(p.failed)
		p.inner.Close()
	})
}

// stop is fail, for Node.Shutdown.
func (p *contactPipeline) stop() { p.fail() }

// AppendEntries implements raft.AppendPipeline.
func (p *contactPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	select {
	case <-p.failed:
		return nil, errPipelineStopped
	default:
	}
	f, err := p.inner.AppendEntries(args, resp)
	select {
	case <-p.failed:
		// Failed or stopped while sending: the inner pipeline may have
		// taken the request or not; Raft stops the pipeline either way.
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errPipelineStopped, err)
		}
		return nil, errPipelineStopped
	default:
	}
	return f, err
}

// Consumer implements raft.AppendPipeline.
func (p *contactPipeline) Consumer() <-chan raft.AppendFuture { return p.out }

// Close implements raft.AppendPipeline.
func (p *contactPipeline) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.failOnce.Do(func() { close(p.failed) })
		err = p.inner.Close()
		close(p.done)
		p.forwarding.Wait()
		if p.untrack != nil {
			p.untrack()
		}
	})
	return err
}
