package storetest

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func testMeterValues(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-1")
	var s starter
	r := s.req("cp-1", 1, "TAG-1")
	r.MeterStartWh = 10000
	want := start(t, st, r)
	tx := want.TransactionID

	inlet := register(99)
	inlet.Location = "Inlet"
	phasePower := power(50)
	phasePower.Phase = "L1"
	garbage := charging.SampledValue{Measurand: charging.MeasurandEnergyImportRegister, Raw: "n/a", Unit: "kWh"}
	voltage := sv(charging.MeasurandVoltage, 230.1, "V")

	// Each step appends one MeterValues and says what the session then holds.
	steps := []struct {
		name    string
		samples []charging.MeterSample
		apply   func(s *charging.Session)
	}{
		{"first-values", []charging.MeterSample{sample(at(10*time.Minute), register(10.5), power(7.2), soc(40))},
			func(s *charging.Session) {
				s.LastRegisterWh, s.MaxPowerKW, s.LastPowerKW, s.SoC = 10500, 7.2, ptr(7.2), ptr(40.0)
				s.LastPowerAt, s.SoCAt = ptr(at(10*time.Minute)), ptr(at(10*time.Minute))
			}},
		{"lower-register-and-power", []charging.MeterSample{sample(at(11*time.Minute), register(10.2), power(3.1), soc(45))},
			func(s *charging.Session) {
				s.LastPowerKW, s.SoC = ptr(3.1), ptr(45.0)
				s.LastPowerAt, s.SoCAt = ptr(at(11*time.Minute)), ptr(at(11*time.Minute))
			}},
		{"two-samples", []charging.MeterSample{
			sample(at(12*time.Minute), power(11)),
			sample(at(13*time.Minute).In(cet), power(6), register(12.75)),
		}, func(s *charging.Session) {
			s.MaxPowerKW, s.LastPowerKW, s.LastRegisterWh, s.LastPowerAt = 11, ptr(6.0), 12750, ptr(at(13*time.Minute))
		}},
		{"older-sample-raises-max-only", []charging.MeterSample{sample(at(5*time.Minute), power(22), soc(10))},
			func(s *charging.Session) { s.MaxPowerKW = 22 }},
		{"ignored-values", []charging.MeterSample{sample(at(14*time.Minute), inlet, phasePower, garbage, voltage)},
			func(s *charging.Session) {}},
		{"no-samples", nil, func(s *charging.Session) {}},
	}
	for i, step := range steps {
		received := at(time.Hour + time.Duration(i)*time.Minute)
		found := appendValues(t, st, charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &tx, Samples: step.samples, ReceivedAt: received})
		if !found {
			t.Errorf("%s: WriteMeterValues: got no session; want one", step.name)
		}
		step.apply(&want)
		want.LastUpdated = received
		if d := diff(want, getSession(t, st, want.ID)); d != "" {
			t.Errorf("%s: session mismatch (-want +got):\n%s", step.name, d)
		}
	}
	samples, err := st.SessionSamples(ctx(t), want.ID)
	if err != nil {
		t.Fatalf("SessionSamples: %v", err)
	}
	if len(samples) != 6 {
		t.Errorf("SessionSamples: got %d samples; want 6", len(samples))
	}
}

func testMeterValuesUnattached(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-1")
	createCharger(t, st, "cp-2")
	var s starter
	sess := start(t, st, s.req("cp-1", 1, "TAG-1"))
	unknown := strconv.FormatInt(txNum(t, sess.TransactionID)+1000, 10)
	tests := []struct {
		name    string
		charger string
		tx      *string
	}{
		{"nil-transaction", "cp-1", nil},
		{"unknown-transaction", "cp-1", &unknown},
		// Transaction ids are global, but a charger cannot write to another
		// charger's session.
		{"other-chargers-transaction", "cp-2", &sess.TransactionID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found := appendValues(t, st, charging.MeterValues{ChargerID: tt.charger, ConnectorID: 1, TransactionID: tt.tx,
				Samples: []charging.MeterSample{sample(at(time.Hour), register(500), power(300), soc(99))}, ReceivedAt: at(time.Hour)})
			if found {
				t.Errorf("WriteMeterValues: got a session; want none")
			}
			if d := diff(sess, getSession(t, st, sess.ID)); d != "" {
				t.Errorf("unattached samples changed a session (-want +got):\n%s", d)
			}
			samples, err := st.SessionSamples(ctx(t), sess.ID)
			if err != nil {
				t.Fatalf("SessionSamples: %v", err)
			}
			if len(samples) != 0 {
				t.Errorf("SessionSamples: got %d samples; want 0", len(samples))
			}
		})
	}
}

func testConcurrentMeterValues(t *testing.T, open func(t *testing.T) charging.Store) {
	const sessions, workers, perWorker = 4, 24, 20
	st := open(t)
	createCharger(t, st, "cp-1")
	var s starter
	var ids []string
	var txs []string
	for i := range sessions {
		r := s.req("cp-1", i+1, "TAG")
		r.MeterStartWh = 0
		sess := start(t, st, r)
		ids, txs = append(ids, sess.ID), append(txs, sess.TransactionID)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			tx := txs[w%sessions]
			for i := range perWorker {
				n := float64(w*perWorker + i)
				m := charging.MeterValues{ChargerID: "cp-1", ConnectorID: w%sessions + 1, TransactionID: &tx, ReceivedAt: at(time.Hour),
					Samples: []charging.MeterSample{sample(at(time.Duration(n)*time.Second), register(n), power(n/10))}}
				if found, err := foldAndWrite(ctx(t), st, m); err != nil || !found {
					t.Errorf("WriteMeterValues: got %v, %v; want true, nil", found, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, id := range ids {
		// The workers writing to session i are w = i, i+sessions, …; the
		// largest values come from the last of them.
		lastW := i + (workers/sessions-1)*sessions
		maxN := float64(lastW*perWorker + perWorker - 1)
		got := getSession(t, st, id)
		if got.LastRegisterWh != maxN*1000 || got.MaxPowerKW != maxN/10 {
			t.Errorf("session %d: got register %v Wh, max power %v kW; want %v, %v", i, got.LastRegisterWh, got.MaxPowerKW, maxN*1000, maxN/10)
		}
		if got.LastPowerKW == nil || *got.LastPowerKW != maxN/10 {
			t.Errorf("session %d: got last power %v; want %v (from the newest sample)", i, got.LastPowerKW, maxN/10)
		}
		samples, err := st.SessionSamples(ctx(t), id)
		if err != nil {
			t.Fatalf("SessionSamples: %v", err)
		}
		if want := workers / sessions * perWorker; len(samples) != want {
			t.Errorf("session %d: got %d samples; want %d", i, len(samples), want)
		}
	}
}

func testSessionSamples(t *testing.T, open func(t *testing.T) charging.Store) {
	values := []charging.SampledValue{
		{Measurand: charging.MeasurandEnergyImportRegister, Location: "Outlet", Context: "Transaction.Begin", Unit: "kWh",
			Value: 12.345, Numeric: true, Raw: "12345", RawUnit: "Wh"},
		{Measurand: charging.MeasurandCurrentImport, Phase: "L1-N", Location: "Inlet", Context: "Sample.Clock", Unit: "A",
			Value: -0.0001, Numeric: true, Raw: "-0.1", RawUnit: "mA"},
		{Measurand: charging.MeasurandVoltage, Phase: "L2-L3", Location: "Body", Context: "Trigger", Unit: "V",
			Value: 229.99999999999997, Numeric: true, Raw: "229.99999999999997", RawUnit: "V"},
		{Measurand: charging.MeasurandEnergyImportRegister, Context: "Transaction.End", Unit: "kWh",
			Raw: "<?xml version=\"1.0\"?><signedMeterValue>OCMF|{\"FV\":\"1.0\",\"RD\":[{\"RV\":\"12.3\"}]}\n</signedMeterValue>", RawUnit: "Wh", Signed: true},
		{Measurand: charging.MeasurandSoC, Location: "EV", Unit: "Percent", Value: 1e-300, Numeric: true, Raw: "1e-300"},
		{Measurand: "Temperature", Location: "Body", Unit: "Celsius", Value: math.MaxFloat64, Numeric: true, Raw: "max", RawUnit: "K"},
		{Measurand: "Power.Offered", Unit: "kW", Raw: "garbage \"quoted\" \\ ünïcødé \u0001\ttab </script>"},
		{Measurand: "", Value: math.Copysign(0, -1), Numeric: true, Raw: "-0"},
	}
	t1, t2, t3, t4 := at(time.Minute), at(2*time.Minute+1), at(3*time.Minute).In(cet), at(4*time.Minute)

	st := open(t)
	createCharger(t, st, "cp-1")
	var s starter
	a := start(t, st, s.req("cp-1", 1, "TAG-A"))
	b := start(t, st, s.req("cp-1", 2, "TAG-B"))
	empty := start(t, st, s.req("cp-1", 3, "TAG-C"))
	messages := []charging.MeterValues{
		{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &a.TransactionID, Samples: []charging.MeterSample{
			{Timestamp: t3, Values: values[4:]}, {Timestamp: t1, Values: values[:2]},
		}},
		{ChargerID: "cp-1", ConnectorID: 2, TransactionID: &b.TransactionID, Samples: []charging.MeterSample{sample(t2, power(1))}},
		{ChargerID: "cp-1", ConnectorID: 1, TransactionID: nil, Samples: []charging.MeterSample{sample(t2, power(2))}},
		{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &a.TransactionID, Samples: []charging.MeterSample{
			{Timestamp: t2, Values: values[2:4]}, {Timestamp: t4},
		}},
	}
	for i, m := range messages {
		m.ReceivedAt = at(time.Hour + time.Duration(i)*time.Second)
		appendValues(t, st, m)
	}
	tests := []struct {
		name    string
		session string
		want    []charging.MeterSample
	}{
		{"time-order-and-every-field", a.ID, []charging.MeterSample{
			{Timestamp: t1, Values: values[:2]}, {Timestamp: t2, Values: values[2:4]}, {Timestamp: t3, Values: values[4:]}, {Timestamp: t4},
		}},
		{"own-samples-only", b.ID, []charging.MeterSample{sample(t2, power(1))}},
		{"no-samples", empty.ID, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.SessionSamples(ctx(t), tt.session)
			if err != nil {
				t.Fatalf("SessionSamples: %v", err)
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("SessionSamples mismatch (-want +got):\n%s", d)
			}
			for i := range min(len(got), len(tt.want)) {
				for j := range min(len(got[i].Values), len(tt.want[i].Values)) {
					if w, g := tt.want[i].Values[j].Value, got[i].Values[j].Value; math.Signbit(w) != math.Signbit(g) {
						t.Errorf("sample %d value %d: got %v; want %v (sign lost)", i, j, g, w)
					}
				}
			}
		})
	}
}

func testActiveSessionForTag(t *testing.T, open func(t *testing.T) charging.Store) {
	tests := []struct {
		name   string
		status charging.SessionStatus
		stop   bool
		found  bool
	}{
		{"active", charging.SessionActive, false, true},
		{"pending", charging.SessionPending, false, true},
		{"stopping", charging.SessionStopping, false, true},
		{"invalid", charging.SessionInvalid, false, false},
		{"stopped", charging.SessionActive, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			createCharger(t, st, "cp-1")
			var s starter
			start(t, st, s.req("cp-1", 1, "TAG-OTHER"))
			r := s.req("cp-1", 2, "TAG-1")
			r.Status = tt.status
			sess := start(t, st, r)
			if tt.stop {
				var err error
				sess, err = st.StopSession(ctx(t), charging.StopSession{ChargerID: "cp-1", TransactionID: sess.TransactionID, MeterStopWh: 9000,
					EndedAt: at(time.Hour), Reason: "Remote", Status: charging.SessionCompleted, ReceivedAt: at(time.Hour)})
				if err != nil {
					t.Fatalf("StopSession: %v", err)
				}
			}
			got, err := st.ActiveSessionForTag(ctx(t), "TAG-1")
			if !tt.found {
				wantErr(t, fmt.Sprintf("ActiveSessionForTag with a %s session", tt.name), err, charging.ErrNotFound)
				return
			}
			if err != nil {
				t.Fatalf("ActiveSessionForTag: %v", err)
			}
			if d := diff(sess, got); d != "" {
				t.Errorf("ActiveSessionForTag mismatch (-want +got):\n%s", d)
			}
		})
	}
	t.Run("unknown-tag", func(t *testing.T) {
		st := open(t)
		_, err := st.ActiveSessionForTag(ctx(t), "TAG-NOBODY")
		wantErr(t, "ActiveSessionForTag(TAG-NOBODY)", err, charging.ErrNotFound)
	})
}

// testMeterCompareAndSet: a meter write applies only over the version it
// was folded from; a write that missed writes nothing at all (neither the
// meter nor its samples) and says ErrConflict, so the core can fold again.
func testMeterCompareAndSet(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	createCharger(t, st, "cp-1")
	var s starter
	r := s.req("cp-1", 1, "TAG-1")
	r.MeterStartWh = 1000
	sess := start(t, st, r)
	if sess.Seq == 0 {
		t.Fatalf("StartSession: got Seq 0; want the session's primary key")
	}
	tx := sess.TransactionID
	read := func() charging.Session {
		t.Helper()
		got, err := st.SessionByTransaction(ctx(t), "cp-1", tx)
		if err != nil {
			t.Fatalf("SessionByTransaction: %v", err)
		}
		if got.Seq != sess.Seq {
			t.Fatalf("SessionByTransaction: got Seq %d; want %d", got.Seq, sess.Seq)
		}
		return got
	}
	base := read()
	meter := func(kwh, kw float64, d time.Duration) charging.Meter {
		ts := at(d)
		return charging.Meter{LastRegisterWh: kwh * 1000, MaxPowerKW: kw, LastPowerKW: ptr(kw), LastPowerAt: &ts,
			SoC: ptr(50.0), SoCAt: &ts, LastUpdated: at(d + time.Second)}
	}
	write := func(seq, version int64, m charging.Meter, d time.Duration) error {
		return st.WriteMeterValues(ctx(t), charging.MeterWrite{Seq: seq, Version: version, Meter: m,
			MeterValues: charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &tx, ReceivedAt: at(d + time.Second),
				Samples: []charging.MeterSample{sample(at(d), register(m.LastRegisterWh/1000))}}})
	}
	samples := func() int {
		t.Helper()
		got, err := st.SessionSamples(ctx(t), sess.ID)
		if err != nil {
			t.Fatalf("SessionSamples: %v", err)
		}
		return len(got)
	}
	first := meter(5, 7, time.Minute)
	if err := write(base.Seq, base.MeterVersion, first, time.Minute); err != nil {
		t.Fatalf("write over the current version: %v", err)
	}
	got := read()
	if got.MeterVersion != base.MeterVersion+1 {
		t.Errorf("MeterVersion after a write: got %d; want %d", got.MeterVersion, base.MeterVersion+1)
	}
	if d := diff(first, got.Meter()); d != "" {
		t.Errorf("meter after a write (-want +got):\n%s", d)
	}
	tests := []struct {
		name         string
		seq, version int64
	}{
		{"stale-version", base.Seq, base.MeterVersion},
		{"future-version", base.Seq, base.MeterVersion + 5},
		{"no-such-session", base.Seq + 1000, base.MeterVersion + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := write(tt.seq, tt.version, meter(9, 22, 2*time.Minute), 2*time.Minute)
			wantErr(t, "write over another version", err, charging.ErrConflict)
			after := read()
			if after.MeterVersion != got.MeterVersion {
				t.Errorf("MeterVersion after a missed write: got %d; want %d", after.MeterVersion, got.MeterVersion)
			}
			if d := diff(first, after.Meter()); d != "" {
				t.Errorf("a missed write changed the meter (-want +got):\n%s", d)
			}
			if n := samples(); n != 1 {
				t.Errorf("samples after a missed write: got %d; want 1 (the missed write's are not kept)", n)
			}
		})
	}
	// Folded again over the version it now reads, the write applies.
	second := meter(9, 22, 2*time.Minute)
	if err := write(got.Seq, got.MeterVersion, second, 2*time.Minute); err != nil {
		t.Fatalf("write over the version read again: %v", err)
	}
	if after := read(); after.MeterVersion != got.MeterVersion+1 || diff(second, after.Meter()) != "" {
		t.Errorf("after the retried write: got version %d, meter %+v; want %d, %+v", after.MeterVersion, after.Meter(), got.MeterVersion+1, second)
	}
	if n := samples(); n != 2 {
		t.Errorf("samples: got %d; want 2", n)
	}
	// A restarted store reads the same meter and version.
	st = reopen(t, st, open)
	if after := read(); after.MeterVersion != got.MeterVersion+1 || diff(second, after.Meter()) != "" {
		t.Errorf("after a restart: got version %d, meter %+v; want %d, %+v", after.MeterVersion, after.Meter(), got.MeterVersion+1, second)
	}
}

// testMeterVersionBumped: every store write that changes a session's meter
// (a stop, a later start closing it) moves its meter version on, so a fold
// computed before it misses instead of overwriting it.
func testMeterVersionBumped(t *testing.T, open func(t *testing.T) charging.Store) {
	tests := []struct {
		name   string
		change func(t *testing.T, st charging.Store, sess charging.Session)
	}{
		{"stop", func(t *testing.T, st charging.Store, sess charging.Session) {
			_, err := st.StopSession(ctx(t), charging.StopSession{ChargerID: sess.ChargerID, TransactionID: sess.TransactionID,
				MeterStopWh: 50000, EndedAt: at(time.Hour), Reason: "Local", Status: charging.SessionCompleted, ReceivedAt: at(time.Hour)})
			if err != nil {
				t.Fatalf("StopSession: %v", err)
			}
		}},
		{"closed-by-a-later-start", func(t *testing.T, st charging.Store, sess charging.Session) {
			var s starter
			s.n = 100
			start(t, st, s.req(sess.ChargerID, sess.ConnectorID, "TAG-2"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			createCharger(t, st, "cp-1")
			var s starter
			sess := start(t, st, s.req("cp-1", 1, "TAG-1"))
			before, err := st.GetSession(ctx(t), sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			tt.change(t, st, before)
			after, err := st.GetSession(ctx(t), sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.MeterVersion <= before.MeterVersion {
				t.Fatalf("MeterVersion: got %d after the change; want more than %d", after.MeterVersion, before.MeterVersion)
			}
			stale := before.Meter()
			stale.LastRegisterWh = 1
			err = st.WriteMeterValues(ctx(t), charging.MeterWrite{Seq: before.Seq, Version: before.MeterVersion, Meter: stale,
				MeterValues: charging.MeterValues{ChargerID: "cp-1", ConnectorID: 1, TransactionID: &sess.TransactionID, ReceivedAt: at(2 * time.Hour)}})
			wantErr(t, "a fold from before the change", err, charging.ErrConflict)
		})
	}
}
