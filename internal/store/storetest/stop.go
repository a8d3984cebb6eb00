package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func stopReq(sess charging.Session, meterStop int64, reason string) charging.StopSession {
	return charging.StopSession{
		ChargerID: sess.ChargerID, TransactionID: sess.TransactionID, MeterStopWh: meterStop,
		EndedAt: at(2 * time.Hour).In(cet), Reason: reason, Status: reasonStatus(reason),
		IDTag: sess.IDTag, ReceivedAt: at(2*time.Hour + time.Second),
	}
}

// reasonStatus is the final status the adapters give the 1.6 reasons used
// here (the stores only persist what the core decided).
func reasonStatus(reason string) charging.SessionStatus {
	switch reason {
	case "Local", "Remote", "EVDisconnected":
		return charging.SessionCompleted
	}
	return charging.SessionInterrupted
}

func testStopSession(t *testing.T, open func(t *testing.T) charging.Store) {
	tests := []struct {
		name         string
		registerKWh  float64 // a sampled register before the stop, 0 for none
		meterStop    int64
		reason       string
		wantRegister float64
	}{
		{"local", 0, 25000, "Local", 25000},
		{"remote-after-samples", 20, 25000, "Remote", 25000},
		{"register-above-meter-stop", 26.5, 25000, "EVDisconnected", 26500},
		{"emergency-stop", 0, 11000, "EmergencyStop", 11000},
		{"meter-stop-below-start", 0, 500, "Other", 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			createCharger(t, st, "cp-1")
			var s starter
			r := s.req("cp-1", 1, "TAG-1")
			r.MeterStartWh = 10000
			sess := start(t, st, r)
			if tt.registerKWh != 0 {
				appendValues(t, st, charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &sess.TransactionID,
					Samples: []charging.MeterSample{sample(at(time.Hour), register(tt.registerKWh), power(7))}, ReceivedAt: at(time.Hour)})
				sess = getSession(t, st, sess.ID)
			}
			req := stopReq(sess, tt.meterStop, tt.reason)
			got, err := st.StopSession(ctx(t), req)
			if err != nil {
				t.Fatalf("StopSession: %v", err)
			}
			want := sess
			want.Status = reasonStatus(tt.reason)
			want.MeterStopWh = ptr(tt.meterStop)
			want.LastRegisterWh = tt.wantRegister
			want.StopReason = tt.reason
			want.EndedAt = ptr(req.EndedAt)
			want.LastUpdated = req.ReceivedAt
			if d := diff(want, got); d != "" {
				t.Errorf("StopSession mismatch (-want +got):\n%s", d)
			}
			if d := diff(want, getSession(t, st, sess.ID)); d != "" {
				t.Errorf("GetSession after StopSession mismatch (-want +got):\n%s", d)
			}
		})
	}
	t.Run("unknown-transaction", func(t *testing.T) {
		st := open(t)
		createCharger(t, st, "cp-1")
		_, err := st.StopSession(ctx(t), charging.StopSession{ChargerID: "cp-1", TransactionID: "4242", MeterStopWh: 1, Reason: "Local",
			Status: charging.SessionCompleted, EndedAt: t0, ReceivedAt: t0})
		wantErr(t, "StopSession of an unknown transaction", err, charging.ErrNotFound)
	})
	t.Run("other-chargers-transaction", func(t *testing.T) {
		st := open(t)
		createCharger(t, st, "cp-1")
		createCharger(t, st, "cp-2")
		var s starter
		sess := start(t, st, s.req("cp-1", 1, "TAG-1"))
		req := stopReq(sess, 99999, "Local")
		req.ChargerID = "cp-2"
		_, err := st.StopSession(ctx(t), req)
		wantErr(t, "StopSession from another charger", err, charging.ErrNotFound)
		if d := diff(sess, getSession(t, st, sess.ID)); d != "" {
			t.Errorf("a stop from another charger changed the session (-want +got):\n%s", d)
		}
	})
}

func testStopRepeated(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-1")
	var s starter
	sess := start(t, st, s.req("cp-1", 1, "TAG-1"))
	first, err := st.StopSession(ctx(t), stopReq(sess, 30000, "Local"))
	if err != nil {
		t.Fatalf("StopSession: %v", err)
	}
	repeats := []struct {
		name string
		req  charging.StopSession
	}{
		{"same", stopReq(sess, 30000, "Local")},
		{"different", charging.StopSession{ChargerID: "cp-1", TransactionID: sess.TransactionID, MeterStopWh: 99999,
			EndedAt: at(5 * time.Hour), Reason: "PowerLoss", Status: charging.SessionInterrupted, ReceivedAt: at(5 * time.Hour)}},
	}
	for _, tt := range repeats {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.StopSession(ctx(t), tt.req)
			if err != nil {
				t.Fatalf("repeated StopSession: %v", err)
			}
			if d := diff(first, got); d != "" {
				t.Errorf("repeated StopSession returned (-want +got):\n%s", d)
			}
			if d := diff(first, getSession(t, st, sess.ID)); d != "" {
				t.Errorf("repeated StopSession changed the session (-want +got):\n%s", d)
			}
		})
	}
}

// testStopNotOpen covers stops of sessions that ended without a stop: one
// started with a refused tag (invalid) and one closed as interrupted because
// a later start came on its connector. The stop's readings are kept; the
// final status stays.
func testStopNotOpen(t *testing.T, open func(t *testing.T) charging.Store) {
	tests := []struct {
		name  string
		setup func(t *testing.T, st charging.Store, s *starter) charging.Session
	}{
		{"invalid", func(t *testing.T, st charging.Store, s *starter) charging.Session {
			r := s.req("cp-1", 1, "TAG-BAD")
			r.Status = charging.SessionInvalid
			return start(t, st, r)
		}},
		{"interrupted-by-later-start", func(t *testing.T, st charging.Store, s *starter) charging.Session {
			lost := start(t, st, s.req("cp-1", 1, "TAG-1"))
			start(t, st, s.req("cp-1", 1, "TAG-2"))
			return getSession(t, st, lost.ID)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			createCharger(t, st, "cp-1")
			var s starter
			sess := tt.setup(t, st, &s)
			req := stopReq(sess, sess.MeterStartWh+4321, "DeAuthorized")
			got, err := st.StopSession(ctx(t), req)
			if err != nil {
				t.Fatalf("StopSession: %v", err)
			}
			want := sess
			want.MeterStopWh = ptr(req.MeterStopWh)
			want.LastRegisterWh = float64(req.MeterStopWh)
			want.StopReason = req.Reason
			want.EndedAt = ptr(req.EndedAt)
			want.LastUpdated = req.ReceivedAt
			if d := diff(want, got); d != "" {
				t.Errorf("StopSession mismatch (-want +got):\n%s", d)
			}
			again, err := st.StopSession(ctx(t), stopReq(sess, 1, "Local"))
			if err != nil {
				t.Fatalf("repeated StopSession: %v", err)
			}
			if d := diff(want, again); d != "" {
				t.Errorf("repeated StopSession mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func testGetSession(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-1")
	var s starter
	sess := start(t, st, s.req("cp-1", 1, "TAG-1"))
	_, err := st.GetSession(ctx(t), "sess-nobody")
	wantErr(t, "GetSession(sess-nobody)", err, charging.ErrNotFound)
	_, err = st.SessionByTransaction(ctx(t), sess.ChargerID, strconv.FormatInt(txNum(t, sess.TransactionID)+1, 10))
	wantErr(t, "SessionByTransaction of an unknown id", err, charging.ErrNotFound)
	if d := diff(sess, getSession(t, st, sess.ID)); d != "" {
		t.Errorf("GetSession mismatch (-want +got):\n%s", d)
	}
}

// testStopRacesMeterWrites stops a session while another writer keeps
// folding higher registers into it (by compare and set, as the core
// does): the stop must go through (a stop that retried its own compare and
// set lost eight tries in a row to such a writer on PostgreSQL and failed)
// and the session must end with the stop's reading and no acknowledged
// register lost. (The writer's later writes would mend a register the stop
// lowered, so this does not prove the stop's own guard; the stores' stop
// reads and writes in one transaction, locked on PostgreSQL.)
func testStopRacesMeterWrites(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-1")
	var s starter
	r := s.req("cp-1", 1, "TAG-1")
	r.MeterStartWh = 10000
	sess := start(t, st, r)
	done := make(chan struct{})
	acked := make(chan float64, 1)
	go func() {
		highest := 0.0
		defer func() { acked <- highest }()
		for i := 1; i <= 2000; i++ {
			select {
			case <-done:
				return
			default:
			}
			kwh := 20 + float64(i)/1000
			m := charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &sess.TransactionID,
				Samples: []charging.MeterSample{sample(at(time.Minute).Add(time.Duration(i)*time.Second), register(kwh))}, ReceivedAt: at(time.Hour)}
			if _, err := foldAndWrite(t.Context(), st, m); err != nil {
				t.Errorf("WriteMeterValues: %v", err)
				return
			}
			highest = kwh * 1000
		}
	}()
	// Let some registers land first, then stop while they keep coming.
	for getSession(t, st, sess.ID).LastRegisterWh < 20010 {
		time.Sleep(time.Millisecond)
	}
	stopped, err := st.StopSession(ctx(t), stopReq(sess, 20000, "Local"))
	close(done)
	highest := <-acked
	if err != nil {
		t.Fatalf("StopSession: %v", err)
	}
	got := getSession(t, st, sess.ID)
	if got.MeterStopWh == nil || *got.MeterStopWh != 20000 || got.Status != charging.SessionCompleted {
		t.Fatalf("after the stop: meter stop %v, status %s; want 20000, completed", got.MeterStopWh, got.Status)
	}
	if got.LastRegisterWh < highest-1e-6 {
		t.Errorf("last register %v after the stop (the stop returned %v); want at least %v, the highest register acknowledged",
			got.LastRegisterWh, stopped.LastRegisterWh, highest)
	}
}
