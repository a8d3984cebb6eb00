package charging_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestReservationLifecycle(t *testing.T) {
	c := newCore(t, charging.Config{AcceptUnknownTags: true})
	ctx := context.Background()
	c.charger(t, "cp-1")
	exp := t0.Add(30 * time.Minute)
	res, err := c.svc.ReservationAccepted(ctx, charging.Reservation{ChargerID: "cp-1", ConnectorID: 2, ReservationID: 42, IDTag: "DRIVER", ExpiresAt: exp})
	if err != nil {
		t.Fatalf("ReservationAccepted: %v", err)
	}
	stored := c.session(t, res.ID)
	if stored.Status != charging.SessionReserved || stored.ReservationID == nil || *stored.ReservationID != 42 ||
		stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(exp) || stored.TransactionID != "" || stored.ConnectorID != 2 {
		t.Fatalf("reserved session %+v; want reserved, reservation 42 on connector 2 until %v, no transaction", stored, exp)
	}
	if ev := c.take(); len(ev) != 1 || ev[0].Kind != charging.SessionChanged || ev[0].Session == nil || ev[0].Session.Status != charging.SessionReserved {
		t.Errorf("events %+v; want one SessionChanged with the reserved session", ev)
	}

	tests := []struct {
		name    string
		charger string
		id      int64
		wantErr error
	}{
		{"unknown-reservation", "cp-1", 43, charging.ErrNotFound},
		{"other-chargers-reservation", "cp-2", 42, charging.ErrNotFound},
		{"cancelled", "cp-1", 42, nil},
		{"cancelled-twice", "cp-1", 42, charging.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.tick(time.Minute)
			err := c.svc.ReservationCancelled(ctx, tt.charger, tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReservationCancelled(%s, %d) = %v; want %v", tt.charger, tt.id, err, tt.wantErr)
			}
			ev := c.take()
			if err != nil {
				if len(ev) != 0 {
					t.Errorf("events %+v; want none", ev)
				}
				return
			}
			got := c.session(t, res.ID)
			if got.Status != charging.SessionCompleted || got.StopReason != "ReservationCancelled" || got.EndedAt == nil || !got.EndedAt.Equal(c.clock.t) {
				t.Errorf("cancelled session %+v; want completed, ReservationCancelled, ended %v", got, c.clock.t)
			}
			if len(ev) != 1 || ev[0].Session == nil || ev[0].Session.Status != charging.SessionCompleted {
				t.Errorf("events %+v; want one with the completed session", ev)
			}
		})
	}
}

func TestRemoteStartAccepted(t *testing.T) {
	tests := []struct {
		name        string
		reservation *charging.Reservation
		connector   int
		wantStatus  charging.SessionStatus
	}{
		{"no-reservation-pending", nil, 1, charging.SessionPending},
		{"reservation-of-the-tag-on-the-connector", &charging.Reservation{ConnectorID: 1, ReservationID: 1, IDTag: "DRIVER"}, 1, charging.SessionReserved},
		{"reservation-of-the-tag-on-any-connector", &charging.Reservation{ConnectorID: 0, ReservationID: 2, IDTag: "DRIVER"}, 2, charging.SessionReserved},
		{"charger-chooses-connector", &charging.Reservation{ConnectorID: 3, ReservationID: 3, IDTag: "DRIVER"}, 0, charging.SessionReserved},
		{"reservation-of-another-tag", &charging.Reservation{ConnectorID: 1, ReservationID: 4, IDTag: "OTHER"}, 1, charging.SessionPending},
		{"reservation-on-another-connector", &charging.Reservation{ConnectorID: 2, ReservationID: 5, IDTag: "DRIVER"}, 1, charging.SessionPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCore(t, charging.Config{AcceptUnknownTags: true})
			ctx := context.Background()
			c.charger(t, "cp-1")
			var reserved charging.Session
			if tt.reservation != nil {
				r := *tt.reservation
				r.ChargerID, r.ExpiresAt = "cp-1", t0.Add(time.Hour)
				var err error
				if reserved, err = c.svc.ReservationAccepted(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			c.take()
			got, err := c.svc.RemoteStartAccepted(ctx, "cp-1", tt.connector, "DRIVER", 2*time.Minute)
			if err != nil {
				t.Fatalf("RemoteStartAccepted: %v", err)
			}
			if got.Status != tt.wantStatus {
				t.Fatalf("RemoteStartAccepted = %s session; want %s", got.Status, tt.wantStatus)
			}
			ev := c.take()
			if tt.wantStatus == charging.SessionReserved {
				if got.ID != reserved.ID || len(ev) != 0 {
					t.Errorf("got session %s, events %+v; want the reservation %s, no event", got.ID, ev, reserved.ID)
				}
				return
			}
			stored := c.session(t, got.ID)
			if stored.Status != charging.SessionPending || stored.IDTag != "DRIVER" || stored.ConnectorID != tt.connector ||
				stored.ExpiresAt == nil || !stored.ExpiresAt.Equal(t0.Add(2*time.Minute)) {
				t.Errorf("pending session %+v; want DRIVER on connector %d until %v", stored, tt.connector, t0.Add(2*time.Minute))
			}
			if len(ev) != 1 || ev[0].Session == nil || ev[0].Session.ID != got.ID {
				t.Errorf("events %+v; want one with the pending session", ev)
			}
		})
	}
}

func TestRemoteStopAccepted(t *testing.T) {
	c := newCore(t, charging.Config{AcceptUnknownTags: true})
	ctx := context.Background()
	c.charger(t, "cp-1")
	res := c.start(t, charging.StartRequest{ChargerID: "cp-1", ConnectorID: 1, IDTag: "T"})
	tx := res.Session.TransactionID
	tests := []struct {
		name       string
		tx         string
		wantErr    error
		wantStatus charging.SessionStatus
		wantEvents int
	}{
		{"unknown-transaction", tx + "1", charging.ErrNotFound, charging.SessionActive, 0},
		{"active-becomes-stopping", tx, nil, charging.SessionStopping, 1},
		{"already-stopping-no-change", tx, nil, charging.SessionStopping, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.take()
			c.tick(time.Second)
			if err := c.svc.RemoteStopAccepted(ctx, "cp-1", tt.tx); !errors.Is(err, tt.wantErr) {
				t.Fatalf("RemoteStopAccepted(%s) = %v; want %v", tt.tx, err, tt.wantErr)
			}
			if got := c.session(t, res.Session.ID); got.Status != tt.wantStatus {
				t.Errorf("session %s; want %s", got.Status, tt.wantStatus)
			}
			ev := c.take()
			if len(ev) != tt.wantEvents {
				t.Fatalf("events %+v; want %d", ev, tt.wantEvents)
			}
			if len(ev) == 1 && (ev[0].TransactionID != tx || ev[0].Session == nil || ev[0].Session.Status != charging.SessionStopping) {
				t.Errorf("event %+v; want the stopping session of transaction %s", ev[0], tx)
			}
		})
	}
	// The stop that follows completes the session.
	stop, err := c.svc.StopTransaction(ctx, charging.StopRequest{ChargerID: "cp-1", TransactionID: tx, Reason: "Remote", Timestamp: c.clock.t})
	if err != nil || stop.Session == nil || stop.Session.Status != charging.SessionCompleted {
		t.Fatalf("stop after remote stop = %+v, %v; want completed", stop, err)
	}
	if err := c.svc.RemoteStopAccepted(ctx, "cp-1", tx); err != nil {
		t.Errorf("RemoteStopAccepted of an ended session = %v; want nil (nothing to show)", err)
	}
	if got := c.session(t, res.Session.ID); got.Status != charging.SessionCompleted {
		t.Errorf("ended session became %s", got.Status)
	}
}

func TestExpireSessions(t *testing.T) {
	c := newCore(t, charging.Config{AcceptUnknownTags: true})
	ctx := context.Background()
	c.charger(t, "cp-1")
	c.charger(t, "cp-2")
	mk := func(r charging.Reservation) charging.Session {
		t.Helper()
		s, err := c.svc.ReservationAccepted(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	due := mk(charging.Reservation{ChargerID: "cp-1", ConnectorID: 1, ReservationID: 1, IDTag: "A", ExpiresAt: t0.Add(time.Minute)})
	later := mk(charging.Reservation{ChargerID: "cp-1", ConnectorID: 2, ReservationID: 2, IDTag: "B", ExpiresAt: t0.Add(time.Hour)})
	pending, err := c.svc.RemoteStartAccepted(ctx, "cp-2", 1, "C", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	active := c.start(t, charging.StartRequest{ChargerID: "cp-2", ConnectorID: 2, IDTag: "D"}).Session

	tests := []struct {
		name  string
		after time.Duration
		want  int
		// status and stop reason of due, later, pending, active
		wantStatus [4]charging.SessionStatus
		wantReason [4]string
	}{
		{"nothing-due", 0, 0,
			[4]charging.SessionStatus{charging.SessionReserved, charging.SessionReserved, charging.SessionPending, charging.SessionActive},
			[4]string{}},
		{"exactly-at-expiry-ends", time.Minute, 2,
			[4]charging.SessionStatus{charging.SessionCompleted, charging.SessionReserved, charging.SessionInvalid, charging.SessionActive},
			[4]string{"ReservationExpired", "", "RemoteStartTimeout", ""}},
		{"ended-once-only", 2 * time.Minute, 0,
			[4]charging.SessionStatus{charging.SessionCompleted, charging.SessionReserved, charging.SessionInvalid, charging.SessionActive},
			[4]string{"ReservationExpired", "", "RemoteStartTimeout", ""}},
		{"later-one-too", time.Hour, 1,
			[4]charging.SessionStatus{charging.SessionCompleted, charging.SessionCompleted, charging.SessionInvalid, charging.SessionActive},
			[4]string{"ReservationExpired", "ReservationExpired", "RemoteStartTimeout", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.clock.t = t0.Add(tt.after)
			c.take()
			n, err := c.svc.ExpireSessions(ctx)
			if err != nil || n != tt.want {
				t.Fatalf("ExpireSessions = %d, %v; want %d", n, err, tt.want)
			}
			if ev := c.take(); len(ev) != tt.want {
				t.Errorf("events %+v; want %d", ev, tt.want)
			}
			for i, s := range []charging.Session{due, later, pending, active} {
				got := c.session(t, s.ID)
				if got.Status != tt.wantStatus[i] || got.StopReason != tt.wantReason[i] {
					t.Errorf("session %d: %s %q; want %s %q", i, got.Status, got.StopReason, tt.wantStatus[i], tt.wantReason[i])
				}
			}
		})
	}
}

// RunExpiry ends due sessions on its own, every interval, until its
// context ends. Its ticker is the wall clock's (RunExpiry takes no clock),
// so the test waits, bounded, for the session to end. (testing/synctest
// would make this exact, but the SQLite store cannot run in a bubble: its
// writer keeps reply channels in a package-level sync.Pool, and a channel
// made in a bubble then panics the next test that takes it from the pool.)
func TestRunExpiry(t *testing.T) {
	c := newCore(t, charging.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.charger(t, "cp-1")
	res := reserve(t, c, 1, 1, "A") // expires at t0 + 1h
	c.clock.t = t0.Add(2 * time.Hour)
	done := make(chan struct{})
	go func() {
		if err := c.svc.RunExpiry(ctx, 5*time.Millisecond); err != nil {
			t.Errorf("RunExpiry = %v after its context ended; want nil", err)
		}
		close(done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for c.session(t, res.ID).Status != charging.SessionCompleted {
		if time.Now().After(deadline) {
			t.Fatalf("session still %s 10 s after it was due; want RunExpiry to end it", c.session(t, res.ID).Status)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunExpiry did not return after its context ended")
	}
}

func TestCommandLog(t *testing.T) {
	c := newCore(t, charging.Config{})
	ctx := context.Background()
	c.charger(t, "cp-1")
	recs := []charging.CommandRecord{
		{ID: "c1", ChargerID: "cp-1", Action: "Reset", RequestedBy: "operator", Request: charging.RawJSON(`{"type":"Soft"}`),
			Response: charging.RawJSON(`{"status":"Accepted"}`), Outcome: "accepted", SentAt: t0, AnsweredAt: t0.Add(time.Second), DurationMS: 1000},
		{ID: "c2", ChargerID: "cp-1", Action: "UnlockConnector", RequestedBy: "ocpi", Request: charging.RawJSON(`{"connectorId":1}`),
			Outcome: "timeout", Error: "charger did not answer in time", SentAt: t0.Add(time.Minute)},
		{ID: "c3", ChargerID: "cp-2", Action: "Reset", Request: charging.RawJSON(`{}`), Outcome: "accepted", SentAt: t0.Add(2 * time.Minute)},
	}
	for _, r := range recs {
		if err := c.svc.RecordCommand(ctx, r); err != nil {
			t.Fatalf("RecordCommand(%s): %v", r.ID, err)
		}
	}
	tests := []struct {
		name    string
		charger string
		limit   int
		want    []string
	}{
		{"newest-first", "cp-1", 10, []string{"c2", "c1"}},
		{"limited", "cp-1", 1, []string{"c2"}},
		{"per-charger", "cp-2", 10, []string{"c3"}},
		{"none", "cp-3", 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.svc.ListCommands(ctx, tt.charger, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if len(ids) != len(tt.want) {
				t.Fatalf("ListCommands(%s, %d) = %v; want %v", tt.charger, tt.limit, ids, tt.want)
			}
			for i := range ids {
				if ids[i] != tt.want[i] {
					t.Fatalf("ListCommands(%s, %d) = %v; want %v", tt.charger, tt.limit, ids, tt.want)
				}
			}
		})
	}
	got, _ := c.svc.ListCommands(ctx, "cp-1", 10)
	r := got[1]
	if string(r.Request) != `{"type":"Soft"}` || string(r.Response) != `{"status":"Accepted"}` || r.Outcome != "accepted" ||
		!r.SentAt.Equal(t0) || !r.AnsweredAt.Equal(t0.Add(time.Second)) || r.DurationMS != 1000 || r.RequestedBy != "operator" {
		t.Errorf("read back %+v; want %+v", r, recs[0])
	}
	if len(got[0].Response) != 0 || got[0].Error == "" {
		t.Errorf("unanswered command read back %+v; want no response, an error", got[0])
	}

	// A stored entry that is not a command record is an error, not skipped.
	ds, err := c.svc.Docs()
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.PutDoc(ctx, charging.Doc{Kind: charging.DocCommand, ID: "bad", Owner: "cp-1", Body: []byte(`{"sent_at":"yesterday"}`), Updated: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.svc.ListCommands(ctx, "cp-1", 10); err == nil {
		t.Errorf("ListCommands with an unreadable entry succeeded")
	}
}

// plainStore is a store without the lifecycle and document parts (an
// embedded interface hides the SQLite store's other methods).
type plainStore struct{ charging.Store }

// Without a FullStore, the lifecycle, the command log, the documents and
// the tolerance switches are not supported, and the rest still works.
func TestWithoutDocumentStore(t *testing.T) {
	st := openViolationStore(t, filepath.Join(t.TempDir(), "cb.db"))
	svc := charging.NewService(plainStore{st}, &fixedClock{t: t0}, slog.New(slog.DiscardHandler), charging.Config{AcceptUnknownTags: true})
	ctx := context.Background()
	if _, err := svc.RegisterCharger(ctx, charging.Charger{ID: "cp-1"}); err != nil {
		t.Fatal(err)
	}
	res, err := svc.StartTransaction(ctx, charging.StartRequest{ChargerID: "cp-1", ConnectorID: 1, IDTag: "T", MeterStartWh: 10, Timestamp: t0})
	if err != nil {
		t.Fatal(err)
	}
	unsupported := []struct {
		name string
		call func() error
	}{
		{"reservation", func() error {
			_, err := svc.ReservationAccepted(ctx, charging.Reservation{ChargerID: "cp-1", ConnectorID: 1, ReservationID: 1, IDTag: "T"})
			return err
		}},
		{"remote-start", func() error {
			_, err := svc.RemoteStartAccepted(ctx, "cp-1", 1, "T", time.Minute)
			return err
		}},
		{"remote-stop", func() error { return svc.RemoteStopAccepted(ctx, "cp-1", res.Session.TransactionID) }},
		{"record-command", func() error { return svc.RecordCommand(ctx, charging.CommandRecord{ID: "c", ChargerID: "cp-1"}) }},
		{"list-commands", func() error { _, err := svc.ListCommands(ctx, "cp-1", 1); return err }},
		{"docs", func() error { _, err := svc.Docs(); return err }},
		{"violations", func() error { _, err := svc.Violations(ctx, "cp-1"); return err }},
		{"set-tolerance", func() error { return svc.SetTolerance(ctx, charging.Tolerance{ChargerID: "cp-1", Tolerate: true}) }},
	}
	for _, tt := range unsupported {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, charging.ErrNotSupported) {
				t.Errorf("%s = %v; want ErrNotSupported", tt.name, err)
			}
		})
	}
	if n, err := svc.ExpireSessions(ctx); n != 0 || err != nil {
		t.Errorf("ExpireSessions = %d, %v; want 0, nil (nothing can expire)", n, err)
	}
	if tol, err := svc.LoadTolerance(ctx, "cp-1"); err != nil || tol.Tolerate || svc.Tolerates("cp-1") {
		t.Errorf("LoadTolerance = %+v, %v; want strict", tol, err)
	}
	if got, err := st.GetSession(ctx, res.Session.ID); err != nil || got.Status != charging.SessionActive {
		t.Errorf("session %+v, %v; want active (RemoteStopAccepted changed nothing)", got, err)
	}
	// Violations are still counted, in memory.
	svc.RecordViolation(ctx, charging.Violation{ChargerID: "cp-1", Kind: "schema", Outcome: charging.ViolationRefused})
	if got := svc.ViolationCounts(); len(got) != 1 || got[0].N != 1 {
		t.Errorf("ViolationCounts = %+v; want one schema/refused", got)
	}
}

func TestTolerance(t *testing.T) {
	c := newCore(t, charging.Config{})
	ctx := context.Background()
	c.charger(t, "cp-1")
	c.charger(t, "cp-2")
	tests := []struct {
		name    string
		set     charging.Tolerance
		wantErr error
		want    map[string]bool
	}{
		{"unknown-charger", charging.Tolerance{ChargerID: "cp-ghost", Tolerate: true}, charging.ErrNotFound, map[string]bool{"cp-1": false, "cp-ghost": false}},
		{"switch-on", charging.Tolerance{ChargerID: "cp-1", Tolerate: true}, nil, map[string]bool{"cp-1": true, "cp-2": false}},
		{"other-charger", charging.Tolerance{ChargerID: "cp-2", Tolerate: true}, nil, map[string]bool{"cp-1": true, "cp-2": true}},
		{"switch-off", charging.Tolerance{ChargerID: "cp-1", Tolerate: false}, nil, map[string]bool{"cp-1": false, "cp-2": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.svc.SetTolerance(ctx, tt.set); !errors.Is(err, tt.wantErr) {
				t.Fatalf("SetTolerance(%+v) = %v; want %v", tt.set, err, tt.wantErr)
			}
			for id, want := range tt.want {
				if got := c.svc.Tolerates(id); got != want {
					t.Errorf("Tolerates(%s) = %v; want %v", id, got, want)
				}
			}
		})
	}

	// Another server on the same store (or this one after a restart) knows
	// a switch only once it has loaded it, when the charger connects.
	other := newCoreOn(t, c.store, charging.Config{})
	if other.svc.Tolerates("cp-2") {
		t.Errorf("Tolerates(cp-2) before LoadTolerance = true; want false")
	}
	for _, tc := range []struct {
		id   string
		want bool
	}{{"cp-2", true}, {"cp-1", false}, {"cp-never-set", false}} {
		tol, err := other.svc.LoadTolerance(ctx, tc.id)
		if err != nil || tol.ChargerID != tc.id || tol.Tolerate != tc.want || other.svc.Tolerates(tc.id) != tc.want {
			t.Errorf("LoadTolerance(%s) = %+v, %v, Tolerates %v; want %v", tc.id, tol, err, other.svc.Tolerates(tc.id), tc.want)
		}
	}

	// A switch document that cannot be read is an error, and leaves the
	// charger as it was.
	ds, _ := c.svc.Docs()
	if err := ds.PutDoc(ctx, charging.Doc{Kind: charging.DocTolerance, ID: "cp-2", Owner: "cp-2", Body: []byte(`{"tolerate":"yes"}`), Updated: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.svc.LoadTolerance(ctx, "cp-2"); err == nil {
		t.Errorf("LoadTolerance of an unreadable switch succeeded")
	}
}

func TestFindSessionAndRemoteStartSession(t *testing.T) {
	c := newCore(t, charging.Config{AcceptUnknownTags: true})
	ctx := context.Background()
	c.charger(t, "cp-1")
	c.charger(t, "cp-2")
	pending, err := c.svc.RemoteStartAccepted(ctx, "cp-1", 1, "P", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	active := c.start(t, charging.StartRequest{ChargerID: "cp-1", ConnectorID: 2, IDTag: "A"}).Session
	c.start(t, charging.StartRequest{ChargerID: "cp-2", ConnectorID: 3, IDTag: "X"})

	tests := []struct {
		name      string
		charger   string
		connector int
		tag       string
		want      string // session id, "" for ErrNotFound
	}{
		{"pending", "cp-1", 1, "P", pending.ID},
		{"pending-any-connector", "cp-1", 0, "P", pending.ID},
		{"quick-charger-already-active", "cp-1", 2, "A", active.ID},
		{"active-any-connector", "cp-1", 0, "A", active.ID},
		{"wrong-connector", "cp-1", 2, "P", ""},
		{"other-charger", "cp-1", 0, "X", ""},
		{"unknown-tag", "cp-1", 0, "Z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.svc.RemoteStartSession(ctx, tt.charger, tt.connector, tt.tag)
			if tt.want == "" {
				if !errors.Is(err, charging.ErrNotFound) {
					t.Errorf("RemoteStartSession = %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil || got.ID != tt.want {
				t.Errorf("RemoteStartSession = %s, %v; want %s", got.ID, err, tt.want)
			}
		})
	}

	if got, err := c.svc.FindSession(ctx, "cp-1", charging.SessionActive, func(s charging.Session) bool { return s.ConnectorID == 2 }); err != nil || got.ID != active.ID {
		t.Errorf("FindSession(active on 2) = %s, %v; want %s", got.ID, err, active.ID)
	}
	if _, err := c.svc.FindSession(ctx, "cp-1", charging.SessionReserved, func(charging.Session) bool { return true }); !errors.Is(err, charging.ErrNotFound) {
		t.Errorf("FindSession(reserved) = %v; want ErrNotFound", err)
	}
}

// FindSession looks past the first page of a charger's sessions.
func TestFindSessionPages(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 201 sessions")
	}
	c := newCore(t, charging.Config{AcceptUnknownTags: true})
	ctx := context.Background()
	c.charger(t, "cp-1")
	var first charging.Session
	for i := range 201 {
		c.tick(time.Second)
		s := c.start(t, charging.StartRequest{ChargerID: "cp-1", ConnectorID: i + 1, IDTag: "T"}).Session
		if i == 0 {
			first = s
		}
	}
	got, err := c.svc.FindSession(ctx, "cp-1", charging.SessionActive, func(s charging.Session) bool { return s.ConnectorID == 1 })
	if err != nil || got.ID != first.ID {
		t.Errorf("FindSession(oldest of 201) = %s, %v; want %s", got.ID, err, first.ID)
	}
}
