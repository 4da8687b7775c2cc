package cow

import (
	"context"
	"sync"
)

// batcher merges concurrent stabilization requests into few Stabilize
// calls. At most one call is in flight; requests that arrive meanwhile join
// the next batch, which starts as soon as the call in flight returns. Every
// member of a batch gets that batch's result.
//
// Concurrency: safe for concurrent use.
type batcher struct {
	// run makes one batch stable; it is never called concurrently.
	run func(ctx context.Context, regions []Region) error
	// mu guards the batch being collected and the in-flight flag.
	mu struct {
		sync.Mutex
		running bool
		next    *batch
	}
}

type batch struct {
	regions []Region
	seen    map[Region]struct{}
	done    chan struct{}
	err     error
}

// do makes regions stable, batching with concurrent callers. ctx bounds the
// wait; the batch's own call is made with a context detached from any one
// caller, so that one caller giving up does not fail the others.
func (b *batcher) do(ctx context.Context, regions []Region) error {
	b.mu.Lock()
	bt := b.mu.next
	if bt == nil {
		bt = &batch{seen: make(map[Region]struct{}), done: make(chan struct{})}
		b.mu.next = bt
	}
	for _, r := range regions {
		if _, ok := bt.seen[r]; !ok {
			bt.seen[r] = struct{}{}
			bt.regions = append(bt.regions, r)
		}
	}
	if !b.mu.running {
		b.mu.running = true
		b.mu.next = nil
		b.mu.Unlock()
		go b.loop(context.WithoutCancel(ctx), bt)
	} else {
		b.mu.Unlock()
	}
	select {
	case <-bt.done:
		return bt.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loop runs bt, then every batch collected meanwhile, until none is left.
func (b *batcher) loop(ctx context.Context, bt *batch) {
	for {
		bt.err = b.run(ctx, bt.regions)
		close(bt.done)
		b.mu.Lock()
		bt = b.mu.next
		b.mu.next = nil
		if bt == nil {
			b.mu.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
	}
}
