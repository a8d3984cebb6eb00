package security

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// DocKind is the document kind a charger's security record is stored under
// (charging.DocStore, id = charger id), so that both stores keep it with no
// table of its own.
const DocKind = "charger_security"

// MaxProfile is the highest OCPP security profile.
const MaxProfile = 3

// Record is one charger's security settings and what was seen of its
// connections. The password itself is never stored: only its bcrypt hash.
type Record struct {
	ChargerID string `json:"charger_id"`
	// Profile is the OCPP security profile the charger must connect with
	// (0 none, 1 Basic auth, 2 Basic auth over TLS, 3 TLS client
	// certificate).
	Profile int `json:"security_profile"`
	// PasswordHash is the bcrypt hash of the Basic-auth password.
	PasswordHash string `json:"password_hash,omitempty"`
	// PendingHash is the hash of a new password sent to the charger
	// (ChangeConfiguration AuthorizationKey) that it has not yet connected
	// with. Both passwords are accepted until it does; then PendingHash
	// replaces PasswordHash.
	PendingHash  string     `json:"pending_hash,omitempty"`
	PendingSince *time.Time `json:"pending_since,omitempty"`
	// CertSerial and CertNotAfter describe the client certificate last
	// seen or signed for the charger.
	CertSerial   string     `json:"cert_serial,omitempty"`
	CertNotAfter *time.Time `json:"cert_not_after,omitempty"`
	// LastAuthAt, LastAuthRemote and LastAuthProfile describe the last
	// connection that authenticated.
	LastAuthAt      *time.Time `json:"last_auth_at,omitempty"`
	LastAuthRemote  string     `json:"last_auth_remote,omitempty"`
	LastAuthProfile int        `json:"last_auth_profile,omitempty"`
	// FailedAttempts counts refused connection attempts with this
	// charger's id; LastFailureAt and LastFailureRemote describe the last.
	FailedAttempts    int64      `json:"failed_attempts"`
	LastFailureAt     *time.Time `json:"last_failure_at,omitempty"`
	LastFailureRemote string     `json:"last_failure_remote,omitempty"`
	UpdatedAt         time.Time  `json:"updated_at"`
}

// HasPassword reports whether a Basic-auth password is set.
func (r Record) HasPassword() bool { return r.PasswordHash != "" }

// Docs is the part of the store the security records live in.
type Docs interface {
	PutDoc(ctx context.Context, d charging.Doc) error
	GetDoc(ctx context.Context, kind, id string) (charging.Doc, error)
	ListDocs(ctx context.Context, q charging.DocQuery) ([]charging.Doc, int, error)
}

// BatchDocs is what a store that reads and writes many documents in one
// statement adds to Docs (PostgreSQL does): concurrent handshakes' record
// reads are then one query, and the last authentications one write.
type BatchDocs interface {
	charging.DocsGetter
	PutDocs(ctx context.Context, ds []charging.Doc) error
}

// records reads and writes Records in Docs.
type records struct{ docs Docs }

// get returns a charger's record; a charger without one has the zero
// record (profile 0, no password).
func (rs records) get(ctx context.Context, id string) (Record, error) {
	if rs.docs == nil {
		return Record{ChargerID: id}, nil
	}
	d, err := rs.docs.GetDoc(ctx, DocKind, id)
	if errors.Is(err, charging.ErrNotFound) {
		return Record{ChargerID: id}, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("security record of %s: %w", id, err)
	}
	return decodeRecord(id, d.Body)
}

// decodeRecord reads a stored record of charger id.
func decodeRecord(id string, body []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(body, &r); err != nil {
		return Record{}, fmt.Errorf("security record of %s: %w", id, err)
	}
	r.ChargerID = id
	return r, nil
}

func (rs records) put(ctx context.Context, r Record) error {
	if rs.docs == nil {
		return errors.New("this store keeps no security records")
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := rs.docs.PutDoc(ctx, charging.Doc{Kind: DocKind, ID: r.ChargerID, Owner: r.ChargerID, Body: b, Updated: r.UpdatedAt}); err != nil {
		return fmt.Errorf("store security record of %s: %w", r.ChargerID, err)
	}
	return nil
}

func (rs records) list(ctx context.Context) ([]Record, error) {
	if rs.docs == nil {
		return nil, nil
	}
	var out []Record
	for off := 0; ; {
		ds, total, err := rs.docs.ListDocs(ctx, charging.DocQuery{Kind: DocKind, Offset: off, Limit: 500})
		if err != nil {
			return nil, fmt.Errorf("list security records: %w", err)
		}
		for _, d := range ds {
			var r Record
			if json.Unmarshal(d.Body, &r) == nil {
				r.ChargerID = d.ID
				out = append(out, r)
			}
		}
		off += len(ds)
		if len(ds) == 0 || off >= total {
			return out, nil
		}
	}
}
