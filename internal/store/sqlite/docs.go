package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/chargebridge/chargebridge/internal/charging"
)

const (
	sqlPutDoc = `INSERT INTO docs (kind, id, owner, body, updated) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (kind, id) DO UPDATE SET owner = excluded.owner, body = excluded.body, updated = excluded.updated`
	// sqlPutDocBody replaces only the body of a document whose owner and
	// updated stay (arguments as sqlPutDoc's): no index entry moves, where
	// the upsert rewrites both of its indexes' entries.
	sqlPutDocBody = `UPDATE docs SET body = ?4 WHERE kind = ?1 AND id = ?2 AND owner IS ?3 AND updated IS ?5`
	sqlDeleteDoc  = `DELETE FROM docs WHERE kind = ? AND id = ?`
	sqlGetDoc     = `SELECT kind, id, owner, body, updated FROM docs WHERE kind = ? AND id = ?`
	sqlGetDocs    = `SELECT kind, id, owner, body, updated FROM docs WHERE kind = ? AND id IN (SELECT value FROM json_each(?))`
)

// sqlListDocs returns the query of a page of q and the query of the count
// of all documents that match it, with their arguments. Only the terms q
// uses are in the text, so that the planner can use docs_owner or
// docs_updated.
func sqlListDocs(q charging.DocQuery) (page, count string, args []any, err error) {
	var where strings.Builder
	var te timeEnc
	where.WriteString(` FROM docs WHERE kind = ?`)
	args = []any{q.Kind}
	if q.Owner != "" {
		where.WriteString(` AND owner = ?`)
		args = append(args, q.Owner)
	}
	if !q.From.IsZero() {
		where.WriteString(` AND updated >= ?`)
		args = append(args, te.t(q.From))
	}
	if !q.To.IsZero() {
		where.WriteString(` AND updated < ?`)
		args = append(args, te.t(q.To))
	}
	if te.err != nil {
		return "", "", nil, te.err
	}
	count = `SELECT count(*)` + where.String()
	order, after := ` ORDER BY updated, id`, ` AND (updated, id) > (?, ?)`
	if q.Newest {
		order, after = ` ORDER BY updated DESC, id DESC`, ` AND (updated, id) < (?, ?)`
	}
	if q.After != nil {
		// The count leaves it out; the page's arguments come after the
		// count's (pageArgs).
		if q.After.Updated.IsZero() {
			return "", "", nil, fmt.Errorf("%w: a document position needs its updated time", charging.ErrInvalidInput)
		}
		where.WriteString(after)
	}
	// LIMIT -1 is no limit.
	page = `SELECT kind, id, owner, body, updated` + where.String() + order + ` LIMIT ? OFFSET ?`
	return page, count, args, nil
}

// pageArgs are the page query's arguments: the count's, then After's, then
// the limit and the offset.
func pageArgs(q charging.DocQuery, args []any, limit int64) ([]any, error) {
	args = slices.Clone(args)
	if q.After != nil {
		u, err := encTime(q.After.Updated)
		if err != nil {
			return nil, err
		}
		args = append(args, u, q.After.ID)
	}
	return append(args, limit, max(q.Offset, 0)), nil
}

// PutDoc creates or replaces a document. Kind and ID must be set.
func (s *Store) PutDoc(ctx context.Context, d charging.Doc) error {
	nv, err := putDocArgs(d)
	if err != nil {
		return err
	}
	err = s.writeOther(ctx, func(w *writer) error { return w.putDoc(nv) })
	if err != nil {
		return fmt.Errorf("put doc %s/%s: %w", d.Kind, d.ID, err)
	}
	return nil
}

// putDoc writes a document from putDocArgs: the body alone when only it
// changed (a state document rewritten at each message, such as 2.0.1's
// transaction state, keeps its owner and updated), else the upsert.
func (w *writer) putDoc(nv []driver.NamedValue) error {
	n, err := w.execArgs(w.lc.putDocBody, nv)
	if err != nil || n > 0 {
		return err
	}
	_, err = w.execArgs(w.lc.putDoc, nv)
	return err
}

// putDocArgs checks d and encodes it as the arguments of sqlPutDoc, in
// the caller's goroutine (PutDoc, and WriteMeterValues with a Doc).
func putDocArgs(d charging.Doc) ([]driver.NamedValue, error) {
	if d.Kind == "" || d.ID == "" {
		return nil, fmt.Errorf("put doc %s/%s: %w: kind and id must be set", d.Kind, d.ID, charging.ErrInvalidInput)
	}
	updated, err := encTime(d.Updated)
	if err != nil {
		return nil, fmt.Errorf("put doc %s/%s: %w", d.Kind, d.ID, err)
	}
	var body any // NULL for a nil body
	if d.Body != nil {
		body = d.Body
	}
	return appendArgs(make([]driver.NamedValue, 0, 5), []any{d.Kind, d.ID, d.Owner, body, updated})
}

// GetDoc returns a document, or ErrNotFound.
func (s *Store) GetDoc(ctx context.Context, kind, id string) (charging.Doc, error) {
	d, err := scanDoc(s.r.getDoc.QueryRowContext(ctx, kind, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = charging.ErrNotFound
	}
	if err != nil {
		return charging.Doc{}, fmt.Errorf("get doc %s/%s: %w", kind, id, err)
	}
	return d, nil
}

// GetDocs returns the documents of kind among ids (ids without a document
// are left out), in one statement: the ids travel as one JSON array.
func (s *Store) GetDocs(ctx context.Context, kind string, ids []string) ([]charging.Doc, error) {
	var out []charging.Doc
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("get docs %s: %w", kind, err)
	}
	rows, err := s.rdb.QueryContext(ctx, sqlGetDocs, kind, string(list))
	if err != nil {
		return nil, fmt.Errorf("get docs %s: %w", kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, fmt.Errorf("get docs %s: %w", kind, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get docs %s: %w", kind, err)
	}
	return out, nil
}

// ListDocs returns the documents of q.Kind ordered by Updated then ID
// (newest first when q.Newest), skipping q.Offset and at most q.Limit of
// them (all when Limit is 0 or less), and how many match in all. The page
// and the count are read in one transaction, so they agree.
func (s *Store) ListDocs(ctx context.Context, q charging.DocQuery) ([]charging.Doc, int, error) {
	page, count, args, err := sqlListDocs(q)
	if err != nil {
		return nil, 0, fmt.Errorf("list docs %s: %w", q.Kind, err)
	}
	limit := int64(q.Limit)
	if limit <= 0 {
		limit = -1
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("list docs %s: %w", q.Kind, err)
	}
	defer tx.Rollback()
	countSt, err := s.r.docQuery(ctx, count)
	if err != nil {
		return nil, 0, fmt.Errorf("list docs %s: %w", q.Kind, err)
	}
	var total int
	if err := tx.StmtContext(ctx, countSt).QueryRowContext(ctx, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list docs %s: %w", q.Kind, err)
	}
	var out []charging.Doc
	if total > q.Offset || q.After != nil {
		pa, err := pageArgs(q, args, limit)
		if err != nil {
			return nil, 0, fmt.Errorf("list docs %s: %w", q.Kind, err)
		}
		pageSt, err := s.r.docQuery(ctx, page)
		if err != nil {
			return nil, 0, fmt.Errorf("list docs %s: %w", q.Kind, err)
		}
		rows, err := tx.StmtContext(ctx, pageSt).QueryContext(ctx, pa...)
		if err != nil {
			return nil, 0, fmt.Errorf("list docs %s: %w", q.Kind, err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDoc(rows)
			if err != nil {
				return nil, 0, fmt.Errorf("list docs %s: %w", q.Kind, err)
			}
			out = append(out, d)
		}
		if err := rows.Err(); err != nil {
			return nil, 0, fmt.Errorf("list docs %s: %w", q.Kind, err)
		}
	}
	return out, total, nil
}

// DeleteDoc removes a document; ErrNotFound when there is none.
func (s *Store) DeleteDoc(ctx context.Context, kind, id string) error {
	err := s.writeOther(ctx, func(w *writer) error {
		n, err := w.exec(w.lc.deleteDoc, kind, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return charging.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete doc %s/%s: %w", kind, id, err)
	}
	return nil
}

func scanDoc(sc scanner) (charging.Doc, error) {
	var d charging.Doc
	var updated sql.NullInt64
	if err := sc.Scan(&d.Kind, &d.ID, &d.Owner, &d.Body, &updated); err != nil {
		return charging.Doc{}, err
	}
	d.Updated = decTime(updated)
	return d, nil
}
