package security

import (
	"context"
	"fmt"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/coalesce"
)

// loader coalesces the security record reads of concurrent handshakes
// into one query per batch (BatchDocs.GetDocs, id = ANY on PostgreSQL).
// At a fleet's ramp thousands of handshakes each waited for a pooled
// connection to read one record, chargers gave up (their connect timeout)
// and dialled again, and the reads of those given up were still made. A
// read is never answered older than a direct read would be (a record the
// API changed on any node is seen): see coalesce.Batcher.
type loader struct {
	b coalesce.Batcher[string, loadRes]
}

type loadRes struct {
	doc   charging.Doc
	found bool
}

func newLoader(get func(ctx context.Context, kind string, ids []string) ([]charging.Doc, error)) *loader {
	return &loader{b: coalesce.Batcher[string, loadRes]{
		Timeout: 10 * time.Second, Runners: 2, Max: 512,
		Do: func(ctx context.Context, ids []string) ([]loadRes, error) {
			docs, err := get(ctx, DocKind, ids)
			if err != nil {
				return nil, err
			}
			byID := make(map[string]charging.Doc, len(docs))
			for _, d := range docs {
				byID[d.ID] = d
			}
			out := make([]loadRes, len(ids))
			for i, id := range ids {
				out[i].doc, out[i].found = byID[id]
			}
			return out, nil
		},
	}}
}

// load returns a charger's record read in the next batch.
func (l *loader) load(ctx context.Context, id string) (Record, error) {
	res, err := l.b.Call(ctx, id)
	switch {
	case err != nil:
		return Record{}, fmt.Errorf("security record of %s: %w", id, err)
	case !res.found:
		return Record{ChargerID: id}, nil
	}
	return decodeRecord(id, res.doc.Body)
}
