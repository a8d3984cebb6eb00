package security

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// loader coalesces the security record reads of concurrent handshakes
// into one query per batch (BatchDocs.GetDocs, id = ANY on PostgreSQL).
// At a fleet's ramp thousands of handshakes each waited for a pooled
// connection to read one record, chargers gave up (their connect timeout)
// and dialled again, and the reads of those given up were still made.
//
// A read asked for while a batch is in flight waits for the next batch,
// never joins the one already sent: every answer is read from the store
// after it was asked for, so a record changed through the API (on any
// node) is never answered older than a direct read would be. A read whose
// caller has given up by the time its batch is formed is not made.
type loader struct {
	get     func(ctx context.Context, kind string, ids []string) ([]charging.Doc, error)
	timeout time.Duration

	// mu guards queue and running.
	mu      sync.Mutex
	queue   []*loadReq
	running int
	// wg waits for the batch goroutines (Guard.Run's return).
	wg sync.WaitGroup
}

// Batches in flight at once, and the most ids in one.
const (
	loadRunners  = 2
	loadMaxBatch = 512
)

type loadReq struct {
	ctx  context.Context
	id   string
	done chan loadRes // buffered: the batch never waits for a reader
}

type loadRes struct {
	doc   charging.Doc
	found bool
	err   error
}

// load returns a charger's record read in the next batch.
func (l *loader) load(ctx context.Context, id string) (Record, error) {
	req := &loadReq{ctx: ctx, id: id, done: make(chan loadRes, 1)}
	l.mu.Lock()
	l.queue = append(l.queue, req)
	start := l.running < loadRunners
	if start {
		l.running++
		l.wg.Add(1)
	}
	l.mu.Unlock()
	if start {
		go l.run()
	}
	select {
	case res := <-req.done:
		switch {
		case res.err != nil:
			return Record{}, fmt.Errorf("security record of %s: %w", id, res.err)
		case !res.found:
			return Record{ChargerID: id}, nil
		}
		return decodeRecord(id, res.doc.Body)
	case <-ctx.Done():
		return Record{}, fmt.Errorf("security record of %s: %w", id, ctx.Err())
	}
}

// run reads batches until the queue is empty.
func (l *loader) run() {
	defer l.wg.Done()
	for {
		l.mu.Lock()
		var batch []*loadReq
		n := 0
		for n < len(l.queue) && len(batch) < loadMaxBatch {
			if r := l.queue[n]; r.ctx.Err() == nil {
				batch = append(batch, r)
			}
			n++
		}
		l.queue = append(l.queue[:0], l.queue[n:]...)
		if len(batch) == 0 {
			l.running--
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		ids := make([]string, 0, len(batch))
		seen := make(map[string]bool, len(batch))
		for _, r := range batch {
			if !seen[r.id] {
				seen[r.id] = true
				ids = append(ids, r.id)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		docs, err := l.get(ctx, DocKind, ids)
		cancel()
		byID := make(map[string]charging.Doc, len(docs))
		for _, d := range docs {
			byID[d.ID] = d
		}
		for _, r := range batch {
			d, ok := byID[r.id]
			r.done <- loadRes{doc: d, found: ok, err: err}
		}
	}
}
