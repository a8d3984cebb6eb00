package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/google/go-cmp/cmp"
)

// withStaging makes the staging tables swap at rows rows and move step
// rows per commit, so that tests see samples across all three tables and
// steps that end inside a session.
func withStaging(rows int64, step int) Option {
	return func(c *config) { c.stageRows, c.minStep, c.maxStep = rows, step, step }
}

// stagedSession is a session the tests write samples to, with the samples
// it must read back.
type stagedSession struct {
	sess charging.Session
	want []charging.MeterSample
}

// writeStaged writes a MeterValues of one sample at ts to ss and adds it
// to ss.want where a read must find it: after the samples of earlier
// timestamps and after those of the same timestamp stored before.
func writeStaged(t testing.TB, s *Store, ss *stagedSession, ts time.Time, n int) {
	t.Helper()
	smp := charging.MeterSample{Timestamp: ts, Values: []charging.SampledValue{{Measurand: charging.MeasurandEnergyImportRegister,
		Unit: "Wh", Value: float64(n), Numeric: true, Raw: strconv.Itoa(n), RawUnit: "Wh"}}}
	m := charging.MeterValues{ChargerID: ss.sess.ChargerID, ConnectorID: 1, TransactionID: &ss.sess.TransactionID,
		Samples: []charging.MeterSample{smp}, ReceivedAt: t0}
	folded, _ := charging.Fold(ss.sess, m)
	if err := s.WriteMeterValues(context.Background(), charging.MeterWrite{MeterValues: m, Seq: ss.sess.Seq,
		Version: ss.sess.MeterVersion, Meter: folded.Meter()}); err != nil {
		t.Fatalf("WriteMeterValues: %v", err)
	}
	ss.sess.SetMeter(folded.Meter())
	ss.sess.MeterVersion++
	i := len(ss.want)
	for i > 0 && ss.want[i-1].Timestamp.After(ts) {
		i--
	}
	ss.want = append(ss.want[:i], append([]charging.MeterSample{smp}, ss.want[i:]...)...)
}

// stagedRows counts a session's rows in meter_samples and in each staging
// table (moved rows of the inactive one included).
func stagedRows(t *testing.T, s *Store, seq int64) (samples, stage0, stage1 int) {
	t.Helper()
	err := s.rdb.QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM meter_samples WHERE session_seq = ?1),
		(SELECT count(*) FROM meter_stage0 WHERE session_seq = ?1), (SELECT count(*) FROM meter_stage1 WHERE session_seq = ?1)`,
		seq).Scan(&samples, &stage0, &stage1)
	if err != nil {
		t.Fatal(err)
	}
	return samples, stage0, stage1
}

// TestStagedSamplesExact reads every session's samples after each write
// while the staging tables swap and move in steps that end inside a
// session: each read has every sample once, in time order and, for equal
// times, in the order stored, whichever tables hold them; and so after a
// restart.
func TestStagedSamplesExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cb.db")
	s := openAt(t, path, withStaging(7, 3))
	sessions := make([]*stagedSession, 3)
	for i, sess := range benchSessionsT(t, s, len(sessions)) {
		sessions[i] = &stagedSession{sess: sess}
	}
	// Timestamps go back and repeat: a read orders by time, then by the
	// order stored, across the tables.
	offsets := []int{0, 0, 5, 3, 3, 9, 1, 9, 9, 2}
	var mixed int
	for n := range 120 {
		ss := sessions[(n*7/5)%len(sessions)]
		writeStaged(t, s, ss, t0.Add(time.Duration(offsets[n%len(offsets)]+n/len(offsets))*time.Second), n)
		for i, ss := range sessions {
			got, err := s.SessionSamples(t.Context(), ss.sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(ss.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
				t.Fatalf("after write %d, session %d (-want +got):\n%s", n, i, d)
			}
			if a, b, c := stagedRows(t, s, ss.sess.Seq); a > 0 && b+c > 0 {
				mixed++
			}
		}
	}
	st := s.Stats()
	if st.Moved == 0 || st.FailedMoves != 0 || mixed == 0 {
		t.Fatalf("staging: %d rows moved, %d failed steps, %d reads of sessions in meter_samples and staged; want moves, no failure, such reads",
			st.Moved, st.FailedMoves, mixed)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, withStaging(7, 3))
	for i, ss := range sessions {
		writeStaged(t, s, ss, t0, 1000+i)
		got, err := s.SessionSamples(t.Context(), ss.sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(ss.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
			t.Errorf("after restart, session %d (-want +got):\n%s", i, d)
		}
	}
}

// benchSessionsT is benchSessions for a test.
func benchSessionsT(t *testing.T, s *Store, n int) []charging.Session {
	t.Helper()
	var out []charging.Session
	for i := range n {
		id := fmt.Sprintf("cp-%04d", i)
		if err := s.CreateCharger(t.Context(), charging.Charger{ID: id, Registered: true, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		sess, _, err := s.StartSession(t.Context(), charging.StartSession{ID: charging.NewID(), StartKey: id, ChargerID: id, ConnectorID: 1,
			IDTag: "TAG", Status: charging.SessionActive, MeterStartWh: 1000, StartedAt: t0, ReceivedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sess)
	}
	return out
}

// TestStagedSamplesKill kills (SIGKILL) a process that writes MeterValues
// while samples are staged and moved, and reads the file it left: every
// sample it was told is stored is there once, in order, and no other.
func TestStagedSamplesKill(t *testing.T) {
	if path := os.Getenv("CHARGEBRIDGE_STAGE_KILL_CHILD"); path != "" {
		stageKillChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "cb.db")
	{
		s := openAt(t, path, withStaging(5, 2))
		benchSessionsT(t, s, 3)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestStagedSamplesKill$", "-test.count", "1")
	cmd.Env = append(os.Environ(), "CHARGEBRIDGE_STAGE_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child prints "ok N" once the write of the N-th sample returned.
	acked := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "ok "); ok {
			acked, _ = strconv.Atoi(n)
			if acked == 300 {
				break
			}
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if acked < 300 {
		t.Fatalf("the child stopped after %d samples", acked)
	}

	s := openAt(t, path, withStaging(5, 2))
	sess, _, err := s.ListSessions(t.Context(), charging.SessionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byValue := map[int]int{}
	for _, ss := range sess {
		samples, err := s.SessionSamples(t.Context(), ss.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := -1
		for _, smp := range samples {
			n := int(smp.Values[0].Value)
			if n%3 != int(ss.Seq-sess[len(sess)-1].Seq) || n <= last {
				t.Errorf("session %d: sample %d after %d; want its own samples in order", ss.Seq, n, last)
			}
			last = n
			byValue[n]++
		}
	}
	for n := 0; n <= acked; n++ {
		if byValue[n] != 1 {
			t.Errorf("sample %d, acknowledged: stored %d times; want 1", n, byValue[n])
		}
	}
	// The child ran ahead of what the pipe had shown: the samples after
	// the acknowledged ones are a run of the next ones, each once.
	for n := acked + 1; n < acked+1+len(byValue); n++ {
		if byValue[n] == 0 && n < len(byValue) {
			t.Errorf("sample %d missing before later ones", n)
		}
	}
	for n, c := range byValue {
		if n < 0 || n >= len(byValue) || c != 1 {
			t.Errorf("sample %d: stored %d times; want each of 0 to %d once", n, c, len(byValue)-1)
		}
	}
	if st := s.Stats(); st.FailedMoves != 0 {
		t.Errorf("%d failed moves after the restart", st.FailedMoves)
	}
}

// stageKillChild writes MeterValues of sample n to session n%3, in time
// order, and prints "ok n" after each, until it is killed.
func stageKillChild(path string) {
	s, err := Open(context.Background(), path, withStaging(5, 2))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	list, _, err := s.ListSessions(context.Background(), charging.SessionFilter{})
	if err != nil {
		fmt.Println("list:", err)
		os.Exit(1)
	}
	sessions := make([]*stagedSession, len(list))
	for i := range list {
		// ListSessions is newest first: sessions[k] has seq first+k.
		sessions[len(list)-1-i] = &stagedSession{sess: list[i]}
	}
	for n := 0; ; n++ {
		writeStaged(failer{}, s, sessions[n%3], t0.Add(time.Duration(n)*time.Second), n)
		fmt.Printf("ok %d\n", n)
	}
}

// failer is the testing.TB of the child: it exits on failure.
type failer struct{ testing.TB }

func (failer) Helper() {}
func (failer) Fatalf(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
	os.Exit(1)
}
