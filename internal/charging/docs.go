package charging

import (
	"context"
	"errors"
	"time"
)

// DocStore keeps documents the adapters own and the core does not
// interpret field by field: the command log, local authorization lists,
// charging profiles, OCPI parties and tokens, tariffs, Beckn orders. A
// document is a JSON body under a kind and an id, optionally owned by a
// charger (or a peer) so it can be listed per owner.
type DocStore interface {
	// PutDoc creates or replaces a document.
	PutDoc(ctx context.Context, d Doc) error
	// GetDoc returns a document, or ErrNotFound.
	GetDoc(ctx context.Context, kind, id string) (Doc, error)
	// ListDocs returns documents of a kind, ordered by Updated then ID
	// (newest first when q.Newest), and how many match in all.
	ListDocs(ctx context.Context, q DocQuery) ([]Doc, int, error)
	// DeleteDoc removes a document; ErrNotFound when there is none.
	DeleteDoc(ctx context.Context, kind, id string) error
}

// DocsGetter is a DocStore that reads many documents of one kind in one
// statement (both stores are): a pass over the fleet (the OCPI Locations
// sync) then costs a statement per page, not one per charger.
type DocsGetter interface {
	// GetDocs returns the documents of kind among ids (ids without a
	// document are left out), in no particular order.
	GetDocs(ctx context.Context, kind string, ids []string) ([]Doc, error)
}

// GetDocs returns the documents of kind whose ids are given and exist, by
// id: in one statement when the store is a DocsGetter, otherwise one read
// each.
func GetDocs(ctx context.Context, s DocStore, kind string, ids []string) (map[string]Doc, error) {
	out := make(map[string]Doc, len(ids))
	if g, ok := s.(DocsGetter); ok {
		if len(ids) == 0 {
			return out, nil
		}
		ds, err := g.GetDocs(ctx, kind, ids)
		for _, d := range ds {
			out[d.ID] = d
		}
		return out, err
	}
	for _, id := range ids {
		d, err := s.GetDoc(ctx, kind, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = d
	}
	return out, nil
}

// Doc is one stored document.
type Doc struct {
	Kind    string
	ID      string
	Owner   string
	Body    []byte
	Updated time.Time
}

// DocQuery selects documents.
type DocQuery struct {
	Kind string
	// Owner, when set, keeps only documents of that owner.
	Owner string
	// From (inclusive) and To (exclusive), when set, bound Updated.
	From, To time.Time
	// After, when set, starts the page after that document in the
	// query's order (a keyset cursor: the last document of the page
	// before), so a page deep in a long list costs what the first does;
	// Offset then counts from there. The total is still of every
	// document the other terms match.
	After  *DocPosition
	Offset int
	Limit  int
	Newest bool
}

// DocPosition is a document's place in a list: the order is Updated, then
// ID. Updated must be set (a document without one sorts first and cannot
// be a cursor).
type DocPosition struct {
	Updated time.Time
	ID      string
}

// Position is the place of d in a list of documents.
func (d Doc) Position() DocPosition { return DocPosition{Updated: d.Updated, ID: d.ID} }

// Document kinds the core writes.
const (
	DocCommand         = "command"
	DocLocalList       = "local_list"
	DocChargingProfile = "charging_profile"
	DocAvailability    = "availability"
)

// CommandRecord is one entry of a charger's command log: who asked, what
// was sent, what came back and when.
type CommandRecord struct {
	ID          string    `json:"id"`
	ChargerID   string    `json:"charger_id"`
	Action      string    `json:"action"`
	RequestedBy string    `json:"requested_by"`
	Request     RawJSON   `json:"request"`
	Response    RawJSON   `json:"response,omitempty"`
	Outcome     string    `json:"outcome"`
	Error       string    `json:"error,omitempty"`
	ErrorCode   string    `json:"error_code,omitempty"`
	SentAt      time.Time `json:"sent_at"`
	AnsweredAt  time.Time `json:"answered_at,omitzero"`
	DurationMS  float64   `json:"duration_ms"`
}

// RawJSON is a JSON value kept verbatim (the core does not read it).
type RawJSON []byte

// MarshalJSON writes the value as is (null when empty).
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON keeps a copy of the value.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}
