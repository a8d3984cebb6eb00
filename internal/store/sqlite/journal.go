package sqlite

import (
	"cmp"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// A session's samples are written in two steps (migration 0016). Each
// write transaction appends the samples of all its MeterValues as one row
// of meter_journal; later, a few sessions per commit, the writer copies a
// session's samples still only in the journal into one row of
// meter_segments. Per MeterValues that is a few bytes of a row every
// commit writes anyway, where a row per sample (and its index entry, then
// a second copy when it was moved) cost most of the writer's time (#16).
//
// Rounds: when the journal holds roundSamples samples not in segments, a
// round starts. It covers the journal rows up to the newest one committed
// (upto) and the sessions with samples there; each commit then writes the
// segments of a few of them (about stepFactor times the samples the commit
// journalled, within [minStep, maxStep]). A segment holds all the
// session's samples not in a segment yet, including any journalled since
// the round started, and records the newest journal row it took them from.
// The commit that writes the round's last segments deletes the journal
// rows up to upto: every sample in them is then in a segment.
//
// Reads (Store.SessionSamples) take, in one snapshot, the session's rows
// of meter_samples (written before 0016, or with no session), its
// segments in order, and its samples in the journal rows after its newest
// segment's.
//
// Only the writer goroutine uses the journal. What it keeps in memory
// changes only once a transaction has committed, so a failed one leaves
// it as it was.

// Defaults of the journal: the samples not in segments that start a
// round, and the samples one commit puts into segments (about stepFactor
// times what it journalled, within [minStep, maxStep]).
const (
	defaultRoundSamples = 16384
	stepFactor          = 2
	defaultMinStep      = 64
	defaultMaxStep      = 2048
)

// journal is the writer's state of meter_journal and meter_segments.
type journal struct {
	insert, insertSegment, deleteUpto driver.Stmt
	savepoint, release, undo          driver.Stmt

	roundSamples     int
	minStep, maxStep int

	nextID int64 // id of the next journal row

	// This transaction's journal row: groups of (session, samples), and
	// where each group's samples are in buf.
	buf    []byte
	groups []journalGroup
	staged int // samples in buf

	// Samples in committed journal rows and in no segment, by session;
	// free holds emptied ones for reuse (no more than sessions pending).
	pend        map[int64]*pendingSamples
	pendSamples int
	free        []*pendingSamples
	// seg is where a segment's body is put together (segmentBody).
	seg []byte

	// The round under way (upto 0: none): the sessions whose segments it
	// has still to write, by seq.
	upto int64
	todo []int64

	// What this transaction's step wrote, applied once it commits.
	stepped []int64
	ended   bool // the step deleted the round's journal rows

	nv [3]driver.NamedValue

	// cache is where committed rows are published for reads.
	cache *journalCache

	m meters // the sessions' meters (meterstate.go)
}

// journalGroup is one MeterValues in the transaction's journal row: its
// samples are buf[start:end].
type journalGroup struct {
	seq        int64
	start, end int
	n          int
}

// pendingSamples are a session's journalled samples that are in no
// segment: the journal rows holding them (ascending, each once; the rows
// are in the cache until the round that puts them into segments ends),
// how many there are, and the newest row. Only the rows are kept, not a
// copy of the samples: that copy was 5 MB of the heap of a server taking
// 1 000 chargers' MeterValues back to back (#16).
type pendingSamples struct {
	rows []int64
	n    int
	last int64
}

// Journal rows and segment bodies are binary. A journal row is a sequence
// of groups, one per MeterValues:
//
//	uvarint session seq | uvarint meter length | meter (meterstate.go) | uvarint body length | body
//
// and a body (of a group or of a segment) a sequence of samples:
//
//	byte 0 (no timestamp) or 1 | [varint Unix nanoseconds] | uvarint length | sampled values (package sampled)

// appendJournalSample appends a sample in the body form; values is in
// package sampled's form.
func appendJournalSample(b []byte, ts time.Time, values []byte) ([]byte, error) {
	n, ok, err := nanos(ts)
	switch {
	case err != nil:
		return b, err
	case ok:
		b = append(b, 1)
		b = binary.AppendVarint(b, n)
	default:
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(values)))
	return append(b, values...), nil
}

var errJournal = errors.New("malformed journal or segment")

// decodeJournalBody appends the samples of a body to out, each with the
// key it sorts by.
func decodeJournalBody(out []keyedSample, body []byte, src, row int64) ([]keyedSample, error) {
	for pos := 0; len(body) > 0; pos++ {
		var ts time.Time
		var hasTS bool
		switch body[0] {
		case 0:
			body = body[1:]
		case 1:
			n, k := binary.Varint(body[1:])
			if k <= 0 {
				return out, fmt.Errorf("%w: timestamp", errJournal)
			}
			ts, hasTS, body = time.Unix(0, n).UTC(), true, body[1+k:]
		default:
			return out, fmt.Errorf("%w: sample flag %d", errJournal, body[0])
		}
		l, k := binary.Uvarint(body)
		if k <= 0 || l > uint64(len(body)-k) {
			return out, fmt.Errorf("%w: sampled values length", errJournal)
		}
		vs, err := decodeBinaryValues(body[k : k+int(l)])
		if err != nil {
			return out, fmt.Errorf("%w: %w", errJournal, err)
		}
		body = body[k+int(l):]
		out = append(out, keyedSample{MeterSample: charging.MeterSample{Timestamp: ts, Values: vs},
			hasTS: hasTS, src: src, row: row, pos: int64(pos)})
	}
	return out, nil
}

// journalGroups calls fn with each group's session and where its meter
// record and its body are in a journal row, until fn returns false.
func journalGroups(row []byte, fn func(seq int64, meter, body span) bool) error {
	pos := 0
	next := func(what string) (span, error) {
		l, k := binary.Uvarint(row[pos:])
		if k <= 0 || l > uint64(len(row)-pos-k) {
			return span{}, fmt.Errorf("%w: %s length", errJournal, what)
		}
		sp := span{pos + k, pos + k + int(l)}
		pos = sp.end
		return sp, nil
	}
	for pos < len(row) {
		seq, k := binary.Uvarint(row[pos:])
		if k <= 0 {
			return fmt.Errorf("%w: session", errJournal)
		}
		pos += k
		meter, err := next("meter")
		if err != nil {
			return err
		}
		body, err := next("group")
		if err != nil {
			return err
		}
		if !fn(int64(seq), meter, body) {
			return nil
		}
	}
	return nil
}

// span is where a part is in a journal row.
type span struct{ start, end int }

// keyedSample is a sample read back with where it was stored: src 0
// meter_samples, 1 a segment, 2 the journal; row the row's id (a
// segment's upto); pos its place in the row. Samples sort by time (none
// first), then in the order stored.
type keyedSample struct {
	charging.MeterSample
	hasTS         bool
	src, row, pos int64
}

func sortSamples(ks []keyedSample) []charging.MeterSample {
	slices.SortStableFunc(ks, func(a, b keyedSample) int {
		switch {
		case a.hasTS != b.hasTS:
			if a.hasTS {
				return 1
			}
			return -1
		case !a.Timestamp.Equal(b.Timestamp):
			return a.Timestamp.Compare(b.Timestamp)
		}
		return cmp.Or(cmp.Compare(a.src, b.src), cmp.Compare(a.row, b.row), cmp.Compare(a.pos, b.pos))
	})
	if len(ks) == 0 {
		return nil
	}
	out := make([]charging.MeterSample, len(ks))
	for i := range ks {
		out[i] = ks[i].MeterSample
	}
	return out
}

const (
	sqlJournalInsert  = `INSERT INTO meter_journal (id, body) VALUES (?1, ?2)`
	sqlSegmentInsert  = `INSERT INTO meter_segments (session_seq, upto, body) VALUES (?1, ?2, ?3)`
	sqlJournalDelete  = `DELETE FROM meter_journal WHERE id <= ?1`
	sqlSegmentsOf     = `SELECT upto, body FROM meter_segments WHERE session_seq = ?1 ORDER BY upto`
	sqlJournalRange   = `SELECT (SELECT min(id) FROM meter_journal), (SELECT max(id) FROM meter_journal)`
	sqlJournalRow     = `SELECT body FROM meter_journal WHERE id = ?1`
	sqlSessionSamples = `SELECT ts, vals, vbin FROM meter_samples WHERE session_seq = ?1 ORDER BY id`
)

func (j *journal) prepare(p func(string) driver.Stmt) {
	j.m.prepare(p)
	j.insert = p(sqlJournalInsert)
	j.insertSegment = p(sqlSegmentInsert)
	j.deleteUpto = p(sqlJournalDelete)
	j.savepoint = p("SAVEPOINT journal")
	j.release = p("RELEASE journal")
	j.undo = p("ROLLBACK TO journal")
}

// loadJournal reads the journal's rows at start and keeps, by session, the
// samples that are in no segment.
func (w *writer) loadJournal(roundSamples, minStep, maxStep int) error {
	j := &w.jr
	j.roundSamples, j.minStep, j.maxStep = roundSamples, minStep, maxStep
	j.pend = map[int64]*pendingSamples{}
	j.upto, j.todo = 0, nil
	j.cache.mu.Lock()
	j.cache.rows = map[int64]*cachedRow{}
	j.cache.mu.Unlock()
	// Ids must keep growing past every segment's upto: reads take a
	// session's journal rows after its newest segment's. A round may have
	// emptied the journal (rowids then start over at 1), so the segments
	// are asked then: a scan of their index, at a start that finds the
	// journal empty only.
	if err := w.queryRowSQL(`SELECT coalesce((SELECT max(id) FROM meter_journal), (SELECT max(upto) FROM meter_segments), 0) + 1`).Scan(&j.nextID); err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	rows, err := w.dc.(driver.QueryerContext).QueryContext(w.ctx, `SELECT id, body FROM meter_journal ORDER BY id`, nil)
	if err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	type jrow struct {
		id   int64
		body []byte
	}
	var all []jrow
	dest := make([]driver.Value, 2)
	for {
		err := rows.Next(dest)
		if isEOF(err) {
			break
		}
		if err != nil {
			rows.Close()
			return fmt.Errorf("read journal: %w", err)
		}
		body, _ := dest[1].([]byte)
		all = append(all, jrow{dest[0].(int64), slices.Clone(body)})
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	segmented := map[int64]int64{}    // session: its newest segment's upto
	newest := map[int64]meterRecord{} // session: its newest meter journalled
	for _, r := range all {
		var ferr error
		err := journalGroups(r.body, func(seq int64, meter, body span) bool {
			upto, ok := segmented[seq]
			if !ok {
				if ferr = w.queryRowSQL(fmt.Sprintf(`SELECT coalesce(max(upto), 0) FROM meter_segments WHERE session_seq = %d`, seq)).Scan(&upto); ferr != nil {
					return false
				}
				segmented[seq] = upto
			}
			if r.id > upto {
				j.addPendingN(seq, countSamples(r.body[body.start:body.end]), r.id)
			}
			rec, err := decodeMeterRecord(r.body[meter.start:meter.end])
			if err != nil {
				ferr = err
				return false
			}
			if rec.version > newest[seq].version {
				newest[seq] = rec
			}
			return true
		})
		if err = errors.Join(err, ferr); err != nil {
			return fmt.Errorf("read journal row %d: %w", r.id, err)
		}
		// Pending samples are read from the cache when their segments
		// are written.
		cr, err := parseCachedRow(r.body)
		if err != nil {
			return fmt.Errorf("read journal row %d: %w", r.id, err)
		}
		j.cache.put(r.id, cr)
	}
	return w.recoverMeters(newest)
}

// recoverMeters writes to session_meter the meters journalled after the
// version it holds: the process stopped before it wrote them.
func (w *writer) recoverMeters(newest map[int64]meterRecord) error {
	if len(newest) == 0 {
		return nil
	}
	if err := w.run(w.begin); err != nil {
		return fmt.Errorf("recover meters: %w", err)
	}
	for seq, rec := range newest {
		var version int64
		err := w.queryRow(w.jr.m.version, seq).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err == nil && rec.version > version {
			w.jr.m.nv = rec.args(w.jr.m.nv[:0], seq)
			_, err = w.execArgs(w.jr.m.flush, w.jr.m.nv)
		}
		if err != nil {
			_ = w.run(w.rollback)
			return fmt.Errorf("recover meter of session %d: %w", seq, err)
		}
	}
	if err := w.run(w.commit); err != nil {
		_ = w.run(w.rollback)
		return fmt.Errorf("recover meters: %w", err)
	}
	return nil
}

// countSamples counts the samples of a body the writer built (so well
// formed).
func countSamples(body []byte) int {
	n := 0
	for len(body) > 0 {
		k := 1
		if body[0] == 1 {
			_, m := binary.Varint(body[1:])
			k += m
		}
		l, m := binary.Uvarint(body[k:])
		body = body[k+m+int(l):]
		n++
	}
	return n
}

// begin starts a transaction's journal row.
func (j *journal) begin() {
	j.buf, j.groups, j.staged = j.buf[:0], j.groups[:0], 0
	j.stepped, j.ended = j.stepped[:0], false
	j.m.begin()
}

// add journals a MeterValues of session seq in this transaction: its
// meter (rec, at version) and its samples (body, n samples).
func (j *journal) add(seq, version int64, rec, body []byte, n int) {
	j.m.fold(seq, version, rec)
	j.buf = binary.AppendUvarint(j.buf, uint64(seq))
	j.buf = binary.AppendUvarint(j.buf, uint64(len(rec)))
	j.buf = append(j.buf, rec...)
	j.buf = binary.AppendUvarint(j.buf, uint64(len(body)))
	start := len(j.buf)
	j.buf = append(j.buf, body...)
	j.groups = append(j.groups, journalGroup{seq: seq, start: start, end: len(j.buf), n: n})
	j.staged += n
}

// flush writes this transaction's journal row, if it has samples, and
// the round's next segments. A failed step (stepErr) is undone and the
// transaction commits without it; fatal dooms the transaction. n is the
// samples put into segments.
func (w *writer) flushJournal() (n int, stepErr, fatal error) {
	j := &w.jr
	if len(j.groups) > 0 {
		j.nv[0] = driver.NamedValue{Ordinal: 1, Value: j.nextID}
		j.nv[1] = driver.NamedValue{Ordinal: 2, Value: j.buf}
		if _, err := w.execArgs(j.insert, j.nv[:2]); err != nil {
			return 0, nil, fmt.Errorf("journal samples: %w", err)
		}
	}
	if j.upto == 0 && j.pendSamples >= j.roundSamples {
		j.upto = j.nextID - 1
		j.todo = j.todo[:0]
		for seq := range j.pend {
			j.todo = append(j.todo, seq)
		}
		j.m.overlay.sweep(time.Now())
		// Descending: the step takes from the end, so in seq order.
		slices.SortFunc(j.todo, func(a, b int64) int { return cmp.Compare(b, a) })
	}
	if j.upto == 0 {
		return 0, nil, nil
	}
	if err := w.run(j.savepoint); err != nil {
		return 0, nil, fmt.Errorf("journal savepoint: %w", err)
	}
	flushed := len(j.m.flushed)
	n, stepErr = w.segmentStep()
	if stepErr != nil {
		n, j.stepped, j.ended, j.m.flushed = 0, j.stepped[:0], false, j.m.flushed[:flushed]
		if err := w.run(j.undo); err != nil {
			return 0, stepErr, fmt.Errorf("roll back to journal savepoint after %v: %w", stepErr, err)
		}
	}
	if err := w.run(j.release); err != nil {
		return 0, stepErr, fmt.Errorf("release journal savepoint: %w", err)
	}
	return n, stepErr, nil
}

// segmentStep writes the segments of the round's next sessions, and ends
// the round when none is left.
func (w *writer) segmentStep() (int, error) {
	j := &w.jr
	budget := min(max(stepFactor*j.staged, j.minStep), j.maxStep)
	n := 0
	for i := len(j.todo) - 1; i >= 0 && n < budget; i-- {
		seq := j.todo[i]
		p := j.pend[seq]
		if err := w.flushMeter(seq); err != nil {
			return 0, err
		}
		if p.n > 0 {
			body, err := j.segmentBody(seq, p)
			if err != nil {
				return 0, err
			}
			j.nv[0] = driver.NamedValue{Ordinal: 1, Value: seq}
			j.nv[1] = driver.NamedValue{Ordinal: 2, Value: p.last}
			j.nv[2] = driver.NamedValue{Ordinal: 3, Value: body}
			if _, err := w.execArgs(j.insertSegment, j.nv[:3]); err != nil {
				return 0, fmt.Errorf("segment of session %d: %w", seq, err)
			}
		}
		j.stepped = append(j.stepped, seq)
		n += p.n
	}
	if len(j.stepped) == len(j.todo) {
		j.nv[0] = driver.NamedValue{Ordinal: 1, Value: j.upto}
		if _, err := w.execArgs(j.deleteUpto, j.nv[:1]); err != nil {
			return 0, fmt.Errorf("delete journal rows up to %d: %w", j.upto, err)
		}
		j.ended = true
	}
	return n, nil
}

// segmentBody puts together the body of session seq's segment: its
// pending samples, from the cached journal rows, in order.
func (j *journal) segmentBody(seq int64, p *pendingSamples) ([]byte, error) {
	j.seg = j.seg[:0]
	for _, id := range p.rows {
		r := j.cache.get(id)
		if r == nil {
			return nil, fmt.Errorf("segment of session %d: journal row %d is not in memory", seq, id)
		}
		j.seg = r.appendOf(j.seg, seq)
	}
	return j.seg, nil
}

// committed applies the transaction to the journal's state once it has
// committed: the sessions whose segments it wrote have no pending samples,
// and its own journal row's samples are pending.
func (j *journal) committed(now time.Time) {
	for _, seq := range j.stepped {
		p := j.pend[seq]
		j.pendSamples -= p.n
		delete(j.pend, seq)
		// Its slice serves the next session that journals samples.
		*p = pendingSamples{rows: p.rows[:0]}
		j.free = append(j.free, p)
	}
	j.todo = j.todo[:len(j.todo)-len(j.stepped)]
	if j.ended {
		j.cache.drop(j.upto)
		j.upto, j.todo = 0, j.todo[:0]
	}
	if len(j.groups) > 0 {
		j.cache.put(j.nextID, newCachedRow(slices.Clone(j.buf), j.groups))
		for _, g := range j.groups {
			j.addPendingN(g.seq, g.n, j.nextID)
		}
		j.nextID++
	}
	j.m.committed(now)
	j.begin()
}

// addPendingN adds n samples of session seq, in journal row row, to its
// pending ones.
func (j *journal) addPendingN(seq int64, n int, row int64) {
	p := j.pend[seq]
	if p == nil {
		if k := len(j.free); k > 0 {
			p, j.free = j.free[k-1], j.free[:k-1]
		} else {
			p = &pendingSamples{}
		}
		j.pend[seq] = p
	}
	if k := len(p.rows); k == 0 || p.rows[k-1] != row {
		p.rows = append(p.rows, row)
	}
	p.n += n
	p.last = row
	j.pendSamples += n
}

// journalCache holds committed journal rows, indexed by session, so that
// reads of a session's samples need not copy and scan every row. The
// writer puts each row it commits; a read that misses (a row written
// before the process started) reads the row and puts it. Rows never
// change once committed, so the cache is never stale; the writer drops
// the rows a round deleted, and rows at or below that id are not put
// again by reads of an older snapshot.
type journalCache struct {
	mu      sync.RWMutex
	rows    map[int64]*cachedRow
	dropped int64
}

// cachedRow is a journal row and its groups, by session.
type cachedRow struct {
	body   []byte
	groups []journalGroup // by seq, then in the row's order
}

func newCachedRow(body []byte, groups []journalGroup) *cachedRow {
	gs := slices.Clone(groups)
	slices.SortStableFunc(gs, func(a, b journalGroup) int { return cmp.Compare(a.seq, b.seq) })
	return &cachedRow{body: body, groups: gs}
}

// parseCachedRow indexes a journal row read from the database.
func parseCachedRow(body []byte) (*cachedRow, error) {
	var groups []journalGroup
	err := journalGroups(body, func(seq int64, _, b span) bool {
		groups = append(groups, journalGroup{seq: seq, start: b.start, end: b.end})
		return true
	})
	if err != nil {
		return nil, err
	}
	return newCachedRow(body, groups), nil
}

func (c *journalCache) get(id int64) *cachedRow {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rows[id]
}

func (c *journalCache) put(id int64, r *cachedRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id > c.dropped {
		c.rows[id] = r
	}
}

// drop forgets the rows up to id, which a round deleted.
func (c *journalCache) drop(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.rows {
		if k <= id {
			delete(c.rows, k)
		}
	}
	c.dropped = max(c.dropped, id)
}

// groupsOf returns the row's groups of session seq, in order.
func (r *cachedRow) groupsOf(seq int64) []journalGroup {
	i, _ := slices.BinarySearchFunc(r.groups, seq, func(g journalGroup, seq int64) int { return cmp.Compare(g.seq, seq) })
	k := i
	for k < len(r.groups) && r.groups[k].seq == seq {
		k++
	}
	return r.groups[i:k]
}

// appendOf appends the samples of the row's groups of session seq to b.
func (r *cachedRow) appendOf(b []byte, seq int64) []byte {
	for _, g := range r.groupsOf(seq) {
		b = append(b, r.body[g.start:g.end]...)
	}
	return b
}

// of calls fn with each of the row's groups of session seq, in order.
func (r *cachedRow) of(seq int64, fn func(body []byte) error) error {
	for _, g := range r.groupsOf(seq) {
		if err := fn(r.body[g.start:g.end]); err != nil {
			return err
		}
	}
	return nil
}
