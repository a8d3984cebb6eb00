package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
)

const (
	sqlPutDoc = `INSERT INTO docs (kind, id, owner, body, updated) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (kind, id) DO UPDATE SET owner = excluded.owner, body = excluded.body, updated = excluded.updated`
	sqlGetDoc    = `SELECT owner, body, updated FROM docs WHERE kind = $1 AND id = $2`
	sqlDeleteDoc = `DELETE FROM docs WHERE kind = $1 AND id = $2`
)

// PutDoc creates or replaces a document. The body is kept byte for byte.
func (s *Store) PutDoc(ctx context.Context, d charging.Doc) error {
	if d.Kind == "" || d.ID == "" {
		return fmt.Errorf("put document %q/%q: %w: kind and id must not be empty", d.Kind, d.ID, charging.ErrInvalidInput)
	}
	updated, err := encTime(d.Updated)
	if err != nil {
		return fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
	}
	body := d.Body
	if body == nil {
		body = []byte{}
	}
	if _, err := s.pool.Exec(ctx, sqlPutDoc, d.Kind, d.ID, d.Owner, body, updated); err != nil {
		return fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
	}
	return nil
}

// GetDoc returns a document, or ErrNotFound.
func (s *Store) GetDoc(ctx context.Context, kind, id string) (charging.Doc, error) {
	d := charging.Doc{Kind: kind, ID: id}
	var updated *int64
	err := s.pool.QueryRow(ctx, sqlGetDoc, kind, id).Scan(&d.Owner, &d.Body, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		err = charging.ErrNotFound
	}
	if err != nil {
		return charging.Doc{}, fmt.Errorf("get document %s/%s: %w", kind, id, err)
	}
	d.Updated = decTime(updated)
	return d, nil
}

// ListDocs returns a page of the documents of q.Kind, ordered by Updated
// then ID (newest first when q.Newest), and how many match in all. A Limit
// of 0 or less means no limit. The page and the count come from one
// statement, so they agree even while documents are written.
func (s *Store) ListDocs(ctx context.Context, q charging.DocQuery) ([]charging.Doc, int, error) {
	if q.Offset < 0 {
		return nil, 0, fmt.Errorf("list documents %s: %w: offset %d is negative", q.Kind, charging.ErrInvalidInput, q.Offset)
	}
	var te timeEnc
	from, to := te.t(q.From), te.t(q.To)
	if te.err != nil {
		return nil, 0, fmt.Errorf("list documents %s: %w", q.Kind, te.err)
	}
	args := []any{q.Kind}
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var where strings.Builder
	where.WriteString(`kind = $1`)
	if q.Owner != "" {
		where.WriteString(` AND owner = ` + param(q.Owner))
	}
	if from != nil {
		where.WriteString(` AND updated >= ` + param(*from))
	}
	if to != nil {
		// NULL is the zero time, before any bound.
		where.WriteString(` AND (updated < ` + param(*to) + ` OR updated IS NULL)`)
	}
	order := func(t string) string { return t + `.updated ASC NULLS FIRST, ` + t + `.id ASC` }
	cmpAfter := ">"
	if q.Newest {
		order = func(t string) string { return t + `.updated DESC NULLS LAST, ` + t + `.id DESC` }
		cmpAfter = "<"
	}
	// The page's terms: the count's, and the keyset cursor's.
	pageWhere := where.String()
	if q.After != nil {
		if q.After.Updated.IsZero() {
			return nil, 0, fmt.Errorf("list documents %s: %w: a document position needs its updated time", q.Kind, charging.ErrInvalidInput)
		}
		u := te.t(q.After.Updated)
		if te.err != nil {
			return nil, 0, fmt.Errorf("list documents %s: %w", q.Kind, te.err)
		}
		pageWhere += ` AND (updated, id) ` + cmpAfter + ` (` + param(u) + `::bigint, ` + param(q.After.ID) + `::text)`
	}
	var limit *int64
	if q.Limit > 0 {
		n := int64(q.Limit)
		limit = &n
	}
	// The count is one row, so the page is never lost to an offset past
	// the end; LIMIT NULL is no limit.
	sql := `SELECT c.n, d.id, d.owner, d.body, d.updated
	FROM (SELECT count(*) FROM docs WHERE ` + where.String() + `) AS c (n)
	LEFT JOIN LATERAL (
		SELECT id, owner, body, updated FROM docs WHERE ` + pageWhere + `
		ORDER BY ` + order("docs") + ` LIMIT ` + param(limit) + `::bigint OFFSET ` + param(int64(q.Offset)) + `::bigint
	) AS d ON true
	ORDER BY ` + order("d")
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list documents %s: %w", q.Kind, err)
	}
	defer rows.Close()
	var (
		out   []charging.Doc
		total int64
	)
	for rows.Next() {
		var (
			id, owner *string
			body      []byte
			updated   *int64
		)
		if err := rows.Scan(&total, &id, &owner, &body, &updated); err != nil {
			return nil, 0, fmt.Errorf("list documents %s: %w", q.Kind, err)
		}
		if id == nil {
			continue // no document in the page
		}
		out = append(out, charging.Doc{Kind: q.Kind, ID: *id, Owner: *owner, Body: body, Updated: decTime(updated)})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list documents %s: %w", q.Kind, err)
	}
	return out, int(total), nil
}

// DeleteDoc removes a document; ErrNotFound when there is none.
func (s *Store) DeleteDoc(ctx context.Context, kind, id string) error {
	tag, err := s.pool.Exec(ctx, sqlDeleteDoc, kind, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = charging.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete document %s/%s: %w", kind, id, err)
	}
	return nil
}

const (
	sqlGetDocs = `SELECT id, owner, body, updated FROM docs WHERE kind = $1 AND id = ANY($2::text[])`
	sqlPutDocs = `INSERT INTO docs (kind, id, owner, body, updated)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[])
	ON CONFLICT (kind, id) DO UPDATE SET owner = excluded.owner, body = excluded.body, updated = excluded.updated`
)

// GetDocs returns the documents of one kind among ids, in one statement
// (ids without a document are left out): many readers waiting for one
// document each cost one query, not one each. It runs on the main pool on
// purpose: the handshakes that wait for it are then paced by the store
// (on a pool of its own they were not, and at the 100 000-charger ramp
// the registrations after the handshake swamped the main pool, timed out
// and made every charger reconnect: BENCHMARKS.md).
func (s *Store) GetDocs(ctx context.Context, kind string, ids []string) ([]charging.Doc, error) {
	rows, err := s.pool.Query(ctx, sqlGetDocs, kind, ids)
	if err != nil {
		return nil, fmt.Errorf("get %d documents %s: %w", len(ids), kind, err)
	}
	defer rows.Close()
	var out []charging.Doc
	for rows.Next() {
		d := charging.Doc{Kind: kind}
		var updated *int64
		if err := rows.Scan(&d.ID, &d.Owner, &d.Body, &updated); err != nil {
			return nil, fmt.Errorf("get %d documents %s: %w", len(ids), kind, err)
		}
		d.Updated = decTime(updated)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get %d documents %s: %w", len(ids), kind, err)
	}
	return out, nil
}

// PutDocs creates or replaces documents in one statement, as PutDoc does
// each. A (kind, id) may appear only once.
func (s *Store) PutDocs(ctx context.Context, ds []charging.Doc) error {
	if len(ds) == 0 {
		return nil
	}
	kinds, ids, owners := make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds))
	bodies, updated := make([][]byte, len(ds)), make([]*int64, len(ds))
	for i, d := range ds {
		if d.Kind == "" || d.ID == "" {
			return fmt.Errorf("put document %q/%q: %w: kind and id must not be empty", d.Kind, d.ID, charging.ErrInvalidInput)
		}
		u, err := encTime(d.Updated)
		if err != nil {
			return fmt.Errorf("put document %s/%s: %w", d.Kind, d.ID, err)
		}
		kinds[i], ids[i], owners[i], bodies[i], updated[i] = d.Kind, d.ID, d.Owner, d.Body, u
		if bodies[i] == nil {
			bodies[i] = []byte{}
		}
	}
	if _, err := s.pool.Exec(ctx, sqlPutDocs, kinds, ids, owners, bodies, updated); err != nil {
		return fmt.Errorf("put %d documents: %w", len(ds), err)
	}
	return nil
}
