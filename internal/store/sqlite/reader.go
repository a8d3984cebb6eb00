package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// reader holds the statements of the read pool, each prepared once and
// reused on every read connection.
type reader struct {
	all []*sql.Stmt

	getCharger, listChargers, listChargersAfter, getTag, listTags *sql.Stmt

	getSession, sessionByTx, activeForTag, sessionSeq *sql.Stmt
	samples, segments, journalRange, journalRow       *sql.Stmt
	// listSessions is indexed by filter: bit 0 status, bit 1 charger.
	listSessions [4]*sql.Stmt

	listEvents *sql.Stmt

	getDoc                             *sql.Stmt
	readEvents, eventsEnd, logPosition *sql.Stmt
	// docQueries are ListDocs' statements, prepared at their first use
	// (by SQL text: a few dozen shapes at most, sqlListDocs). Preparing
	// each time parsed the SQL on every read of the sites' layout.
	docMu      sync.Mutex
	docQueries map[string]*sql.Stmt
	db         *sql.DB
}

// docQuery returns the prepared statement of q, a ListDocs query.
func (r *reader) docQuery(ctx context.Context, q string) (*sql.Stmt, error) {
	r.docMu.Lock()
	defer r.docMu.Unlock()
	if st, ok := r.docQueries[q]; ok {
		return st, nil
	}
	st, err := r.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if r.docQueries == nil {
		r.docQueries = map[string]*sql.Stmt{}
	}
	r.docQueries[q] = st
	return st, nil
}

func newReader(ctx context.Context, db *sql.DB) (*reader, error) {
	r := &reader{db: db}
	var err error
	p := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, q)
		if err != nil {
			err = fmt.Errorf("prepare %q: %w", q, err)
			return nil
		}
		r.all = append(r.all, st)
		return st
	}
	r.getCharger = p(sqlGetCharger)
	r.listChargers = p(sqlListChargers)
	r.listChargersAfter = p(sqlListChargersAfter)
	r.getTag = p(sqlGetTag)
	r.listTags = p(sqlListTags)
	r.getSession = p(sqlGetSession)
	r.sessionByTx = p(sqlSessionByTxCharger)
	r.activeForTag = p(sqlActiveForTag)
	r.sessionSeq = p(sqlSessionSeq)
	r.samples = p(sqlSessionSamples)
	r.segments = p(sqlSegmentsOf)
	r.journalRange = p(sqlJournalRange)
	r.journalRow = p(sqlJournalRow)
	for i := range r.listSessions {
		r.listSessions[i] = p(sqlListSessions(i&1 != 0, i&2 != 0))
	}
	r.listEvents = p(sqlListEvents)
	r.getDoc = p(sqlGetDoc)
	r.readEvents = p(sqlReadEvents)
	r.eventsEnd = p(sqlEventsEnd)
	r.logPosition = p(sqlPosition)
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *reader) close() {
	for _, st := range r.all {
		st.Close()
	}
	r.docMu.Lock()
	defer r.docMu.Unlock()
	for _, st := range r.docQueries {
		st.Close()
	}
}
