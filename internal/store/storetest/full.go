package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// RunFull runs the contract of the lifecycle and document parts
// (charging.FullStore). open works as for Run.
func RunFull(t *testing.T, open func(t *testing.T) charging.FullStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s charging.FullStore)
	}{
		{"create-session-without-transaction", testCreateSession},
		{"update-session-status", testUpdateSessionStatus},
		{"start-takes-over-reservation", testStartTakesOverReservation},
		{"start-takes-over-reservation-it-does-not-quote", testStartTakesOverUnquotedReservation},
		{"start-takes-over-pending", testStartTakesOverPending},
		{"start-leaves-other-reservations", testStartLeavesOtherReservation},
		{"docs", testDocs},
		{"docs-list-window-and-paging", testDocsPaging},
		{"docs-read-many-at-once", testGetDocs},
		{"meter-values-with-doc", testMeterValuesWithDoc},
		{"writes-append-events", testWritesAppendEvents},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

var lt0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func lmustCharger(t *testing.T, s charging.FullStore, id string) {
	t.Helper()
	if err := s.CreateCharger(context.Background(), charging.Charger{ID: id, CreatedAt: lt0}); err != nil {
		t.Fatalf("create charger %s: %v", id, err)
	}
}

func lreserved(id, charger string, connector int, rid int64, tag string) charging.Session {
	exp := lt0.Add(15 * time.Minute)
	return charging.Session{ID: id, ChargerID: charger, ConnectorID: connector, IDTag: tag, Status: charging.SessionReserved,
		ReservationID: &rid, StartedAt: lt0, ExpiresAt: &exp, LastUpdated: lt0}
}

func testCreateSession(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	lmustCharger(t, s, "CP-L1")
	a := lreserved("res-a", "CP-L1", 1, 7, "TAG-A")
	b := lreserved("res-b", "CP-L1", 2, 8, "TAG-B")
	for _, x := range []charging.Session{a, b} {
		if err := s.CreateSession(ctx, x); err != nil {
			t.Fatalf("create %s: %v", x.ID, err)
		}
	}
	if err := s.CreateSession(ctx, a); err == nil {
		t.Fatal("creating a session with a taken id succeeded")
	}
	got, err := s.GetSession(ctx, "res-a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != charging.SessionReserved || got.TransactionID != "" || got.ReservationID == nil || *got.ReservationID != 7 ||
		got.ExpiresAt == nil || !got.ExpiresAt.Equal(*a.ExpiresAt) || got.IDTag != "TAG-A" || got.ConnectorID != 1 {
		t.Fatalf("got %+v; want the reserved session back", got)
	}
	page, _, err := s.ListSessions(ctx, charging.SessionFilter{Status: charging.SessionReserved, ChargerID: "CP-L1", Limit: 10})
	if err != nil || len(page) != 2 {
		t.Fatalf("list reserved = %d sessions, %v; want 2", len(page), err)
	}
}

func testUpdateSessionStatus(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	lmustCharger(t, s, "CP-L2")
	if err := s.CreateSession(ctx, lreserved("res-u", "CP-L2", 1, 9, "T")); err != nil {
		t.Fatal(err)
	}
	at := lt0.Add(5 * time.Minute)
	if _, err := s.UpdateSessionStatus(ctx, "res-u", []charging.SessionStatus{charging.SessionActive}, charging.SessionStopping, at, ""); !errors.Is(err, charging.ErrConflict) {
		t.Fatalf("update from the wrong status: %v; want ErrConflict", err)
	}
	if _, err := s.UpdateSessionStatus(ctx, "nope", []charging.SessionStatus{charging.SessionReserved}, charging.SessionCompleted, at, "x"); !errors.Is(err, charging.ErrNotFound) {
		t.Fatalf("update of an unknown session: %v; want ErrNotFound", err)
	}
	got, err := s.UpdateSessionStatus(ctx, "res-u", []charging.SessionStatus{charging.SessionPending, charging.SessionReserved}, charging.SessionCompleted, at, "ReservationExpired")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != charging.SessionCompleted || got.EndedAt == nil || !got.EndedAt.Equal(at) || got.StopReason != "ReservationExpired" || !got.LastUpdated.Equal(at) {
		t.Fatalf("got %+v; want completed at %v with the reason", got, at)
	}
	again, err := s.GetSession(ctx, "res-u")
	if err != nil || again.Status != charging.SessionCompleted || again.StopReason != "ReservationExpired" {
		t.Fatalf("stored = %+v, %v; want the update kept", again, err)
	}
}

func lstart(charger string, connector int, tag string, rid *int64, meter int64, at time.Time) charging.StartSession {
	return charging.StartSession{ID: fmt.Sprintf("new-%s-%d-%d", charger, connector, at.Unix()), StartKey: fmt.Sprintf("%s|%d|%s|%d", charger, connector, tag, at.Unix()),
		ChargerID: charger, ConnectorID: connector, IDTag: tag, Status: charging.SessionActive, MeterStartWh: meter,
		ReservationID: rid, StartedAt: at, ReceivedAt: at}
}

func testStartTakesOverReservation(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	lmustCharger(t, s, "CP-L3")
	if err := s.CreateSession(ctx, lreserved("res-t", "CP-L3", 1, 11, "TAG-R")); err != nil {
		t.Fatal(err)
	}
	rid := int64(11)
	at := lt0.Add(3 * time.Minute)
	got, created, err := s.StartSession(ctx, lstart("CP-L3", 1, "TAG-R", &rid, 500, at))
	if err != nil || !created {
		t.Fatalf("start = %v, created %v", err, created)
	}
	if got.ID != "res-t" || got.Status != charging.SessionActive || got.TransactionID == "" || got.MeterStartWh != 500 ||
		!got.StartedAt.Equal(at) || got.ExpiresAt != nil {
		t.Fatalf("got %+v; want the reserved session res-t active with a transaction, no expiry", got)
	}
	byTx, err := s.SessionByTransaction(ctx, got.ChargerID, got.TransactionID)
	if err != nil || byTx.ID != "res-t" {
		t.Fatalf("by transaction = %+v, %v", byTx, err)
	}
	page, _, _ := s.ListSessions(ctx, charging.SessionFilter{ChargerID: "CP-L3", Limit: 10})
	if len(page) != 1 {
		t.Fatalf("charger has %d sessions; want the one, taken over", len(page))
	}
}

// testStartTakesOverUnquotedReservation: OCPP 1.6 makes a
// StartTransaction's reservationId optional, and chargers omit it. A start
// that quotes none still takes over a reservation on its connector (or on
// connector 0) for its id tag or for a tag with the same parent; a start
// that quotes another reservation id, is on another connector or is for
// another driver does not.
func testStartTakesOverUnquotedReservation(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	if err := s.PutIDTag(ctx, charging.IDTag{ID: "CARD-A", Status: charging.AuthAccepted, ParentID: "FLEET-1", CreatedAt: lt0}); err != nil {
		t.Fatal(err)
	}
	wrong := int64(999)
	tests := []struct {
		name         string
		reservedConn int
		startConn    int
		startTag     string
		parent       string
		rid          *int64
		want         bool
	}{
		{"same-tag-same-connector", 1, 1, "TAG-R", "", nil, true},
		{"same-tag-reservation-on-connector-0", 0, 2, "TAG-R", "", nil, true},
		{"same-parent", 1, 1, "CARD-B", "FLEET-1", nil, true},
		{"parent-is-the-reserved-tag", 1, 1, "CARD-C", "TAG-R", nil, true},
		{"other-driver", 1, 1, "CARD-D", "", nil, false},
		{"other-parent", 1, 1, "CARD-E", "FLEET-2", nil, false},
		{"other-connector", 1, 2, "TAG-R", "", nil, false},
		{"quotes-another-reservation", 1, 1, "TAG-R", "", &wrong, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			charger := fmt.Sprintf("CP-UQ%d", i)
			lmustCharger(t, s, charger)
			reservedTag := "TAG-R"
			if tt.parent == "FLEET-1" || tt.parent == "FLEET-2" {
				reservedTag = "CARD-A"
			}
			resID := "res-uq-" + charger
			if err := s.CreateSession(ctx, lreserved(resID, charger, tt.reservedConn, int64(100+i), reservedTag)); err != nil {
				t.Fatal(err)
			}
			start := lstart(charger, tt.startConn, tt.startTag, tt.rid, 1000, lt0.Add(2*time.Minute))
			start.ParentIDTag = tt.parent
			got, created, err := s.StartSession(ctx, start)
			if err != nil || !created {
				t.Fatalf("start = %v, created %v", err, created)
			}
			res, err := s.GetSession(ctx, resID)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want {
				if got.ID != resID || res.Status != charging.SessionActive || res.TransactionID != got.TransactionID ||
					res.IDTag != tt.startTag || res.ExpiresAt != nil || res.ReservationID == nil || *res.ReservationID != int64(100+i) {
					t.Fatalf("got %+v, reservation now %+v; want the reservation taken over, active, keeping its reservation id", got, res)
				}
				return
			}
			if got.ID == resID || res.Status != charging.SessionReserved {
				t.Fatalf("got %+v, reservation now %+v; want a new session and the reservation still reserved", got, res)
			}
		})
	}
}

func testStartTakesOverPending(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	lmustCharger(t, s, "CP-L4")
	exp := lt0.Add(time.Minute)
	pend := charging.Session{ID: "pend-1", ChargerID: "CP-L4", ConnectorID: 0, IDTag: "APP-1", Status: charging.SessionPending, StartedAt: lt0, ExpiresAt: &exp, LastUpdated: lt0}
	if err := s.CreateSession(ctx, pend); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.StartSession(ctx, lstart("CP-L4", 2, "APP-1", nil, 0, lt0.Add(10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "pend-1" || got.ConnectorID != 2 || got.Status != charging.SessionActive || got.TransactionID == "" {
		t.Fatalf("got %+v; want pend-1 active on connector 2", got)
	}
	if _, err := s.ActiveSessionForTag(ctx, "APP-1"); err != nil {
		t.Fatalf("active session for the tag: %v", err)
	}
}

func testStartLeavesOtherReservation(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	lmustCharger(t, s, "CP-L5")
	if err := s.CreateSession(ctx, lreserved("res-o", "CP-L5", 1, 21, "TAG-O")); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.StartSession(ctx, lstart("CP-L5", 2, "SOMEONE", nil, 0, lt0.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == "res-o" {
		t.Fatal("a start on another connector without the reservation took the reservation over")
	}
	res, err := s.GetSession(ctx, "res-o")
	if err != nil || res.Status != charging.SessionReserved {
		t.Fatalf("reservation = %+v, %v; want still reserved", res, err)
	}
}

func testDocs(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	d := charging.Doc{Kind: "command", ID: "c1", Owner: "CP-D", Body: []byte(`{"a":1}`), Updated: lt0}
	if err := s.PutDoc(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDoc(ctx, "command", "c1")
	if err != nil || string(got.Body) != `{"a":1}` || got.Owner != "CP-D" || !got.Updated.Equal(lt0) {
		t.Fatalf("get = %+v, %v", got, err)
	}
	d.Body, d.Updated = []byte(`{"a":2}`), lt0.Add(time.Second)
	if err := s.PutDoc(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetDoc(ctx, "command", "c1"); string(got.Body) != `{"a":2}` {
		t.Fatalf("after replace body = %s; want {\"a\":2}", got.Body)
	}
	// Only the body changes; then only the owner.
	d.Body = []byte(`{"a":3}`)
	if err := s.PutDoc(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetDoc(ctx, "command", "c1"); string(got.Body) != `{"a":3}` || got.Owner != "CP-D" || !got.Updated.Equal(d.Updated) {
		t.Fatalf("after a body change = %+v; want body {\"a\":3}, the same owner and time", got)
	}
	d.Owner = "CP-E"
	if err := s.PutDoc(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetDoc(ctx, "command", "c1"); got.Owner != "CP-E" || string(got.Body) != `{"a":3}` {
		t.Fatalf("after an owner change = %+v; want owner CP-E", got)
	}
	if list, _, _ := s.ListDocs(ctx, charging.DocQuery{Kind: "command", Owner: "CP-E"}); len(list) != 1 {
		t.Fatalf("docs of the new owner: %d; want 1", len(list))
	}
	if _, err := s.GetDoc(ctx, "other-kind", "c1"); !errors.Is(err, charging.ErrNotFound) {
		t.Fatalf("same id, other kind: %v; want ErrNotFound", err)
	}
	if err := s.DeleteDoc(ctx, "command", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDoc(ctx, "command", "c1"); !errors.Is(err, charging.ErrNotFound) {
		t.Fatalf("second delete: %v; want ErrNotFound", err)
	}
	if _, err := s.GetDoc(ctx, "command", "c1"); !errors.Is(err, charging.ErrNotFound) {
		t.Fatalf("get after delete: %v; want ErrNotFound", err)
	}
}

func testDocsPaging(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		owner := "A"
		if i%2 == 1 {
			owner = "B"
		}
		d := charging.Doc{Kind: "k", ID: fmt.Sprintf("d%02d", i), Owner: owner, Body: []byte(fmt.Sprintf(`{"i":%d}`, i)), Updated: lt0.Add(time.Duration(i) * time.Minute)}
		if err := s.PutDoc(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutDoc(ctx, charging.Doc{Kind: "other", ID: "x", Body: []byte(`{}`), Updated: lt0}); err != nil {
		t.Fatal(err)
	}
	ids := func(ds []charging.Doc) string {
		out := ""
		for _, d := range ds {
			out += d.ID + " "
		}
		return out
	}
	all, total, err := s.ListDocs(ctx, charging.DocQuery{Kind: "k", Limit: 100})
	if err != nil || total != 10 || ids(all) != "d00 d01 d02 d03 d04 d05 d06 d07 d08 d09 " {
		t.Fatalf("all = %s (total %d, %v); want d00..d09 oldest first", ids(all), total, err)
	}
	newest, _, _ := s.ListDocs(ctx, charging.DocQuery{Kind: "k", Owner: "B", Limit: 2, Newest: true})
	if ids(newest) != "d09 d07 " {
		t.Fatalf("newest of B = %s; want d09 d07", ids(newest))
	}
	window, total, _ := s.ListDocs(ctx, charging.DocQuery{Kind: "k", From: lt0.Add(2 * time.Minute), To: lt0.Add(6 * time.Minute), Offset: 1, Limit: 2})
	if total != 4 || ids(window) != "d03 d04 " {
		t.Fatalf("window [2m,6m) offset 1 limit 2 = %s (total %d); want d03 d04 of 4", ids(window), total)
	}
	empty, total, _ := s.ListDocs(ctx, charging.DocQuery{Kind: "k", Offset: 50, Limit: 5})
	if len(empty) != 0 || total != 10 {
		t.Fatalf("past the end = %d docs, total %d; want none of 10", len(empty), total)
	}

	// A keyset cursor: each page starts after the last document of the
	// one before, in either order, and the total stays the whole list's.
	walk := func(q charging.DocQuery) string {
		t.Helper()
		out := ""
		for range 10 {
			page, total, err := s.ListDocs(ctx, q)
			if err != nil || total != 5 && q.Owner != "" || total != 10 && q.Owner == "" {
				t.Fatalf("page after %+v: total %d, %v", q.After, total, err)
			}
			if len(page) == 0 {
				return out
			}
			out += ids(page)
			p := page[len(page)-1].Position()
			q.After = &p
		}
		t.Fatal("the pages never ended")
		return ""
	}
	if got := walk(charging.DocQuery{Kind: "k", Limit: 3}); got != ids(all) {
		t.Errorf("pages by cursor = %s; want %s", got, ids(all))
	}
	if got := walk(charging.DocQuery{Kind: "k", Owner: "B", Limit: 2, Newest: true}); got != "d09 d07 d05 d03 d01 " {
		t.Errorf("pages of B newest first by cursor = %s; want d09 d07 d05 d03 d01", got)
	}
	// Two documents with one updated time are told apart by id.
	if err := s.PutDoc(ctx, charging.Doc{Kind: "k", ID: "d03b", Owner: "B", Body: []byte(`{}`), Updated: lt0.Add(3 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	after := charging.DocPosition{Updated: lt0.Add(3 * time.Minute), ID: "d03"}
	next, total, err := s.ListDocs(ctx, charging.DocQuery{Kind: "k", After: &after, Offset: 1, Limit: 2})
	if err != nil || total != 11 || ids(next) != "d04 d05 " {
		t.Errorf("after d03, offset 1, limit 2 = %s (total %d, %v); want d04 d05 of 11", ids(next), total, err)
	}
	if _, _, err := s.ListDocs(ctx, charging.DocQuery{Kind: "k", After: &charging.DocPosition{ID: "d03"}}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Errorf("a position without its updated time: %v; want ErrInvalidInput", err)
	}
}

// testWritesAppendEvents: every write that changes a session, a connector
// or a charger appends its event to the store's log in the same
// transaction, sessions' events numbered 1, 2, 3… in their order; a write
// that changes nothing (a status older than the one in force, a repeated
// stop, a refused move) appends none, and telemetry appends none.
func testWritesAppendEvents(t *testing.T, s charging.FullStore) {
	port, ok := s.(charging.EventPort)
	if !ok {
		t.Skip("the store has no event log")
	}
	ctx := context.Background()
	lmustCharger(t, s, "CP-EV")
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("boot", s.RecordBoot(ctx, charging.Boot{ChargerID: "CP-EV", Vendor: "V", Model: "M", Status: charging.BootAccepted, At: lt0}))
	conn := charging.Connector{ChargerID: "CP-EV", ConnectorID: 1, Status: charging.StatusAvailable, StatusAt: lt0.Add(time.Minute), UpdatedAt: lt0.Add(time.Minute)}
	_, applied, err := s.SetConnectorStatus(ctx, conn)
	must("status", err)
	old := conn
	old.Status, old.StatusAt = charging.StatusFaulted, lt0
	_, stale, err := s.SetConnectorStatus(ctx, old)
	must("older status", err)
	if !applied || stale {
		t.Fatalf("applied %v, older applied %v; want true, false", applied, stale)
	}
	must("reserve", s.CreateSession(ctx, lreserved("ev-res", "CP-EV", 1, 21, "TAG-E")))
	rid := int64(21)
	first, _, err := s.StartSession(ctx, lstart("CP-EV", 1, "TAG-E", &rid, 100, lt0.Add(2*time.Minute)))
	must("start 1", err)
	second, _, err := s.StartSession(ctx, lstart("CP-EV", 1, "TAG-F", nil, 200, lt0.Add(3*time.Minute)))
	must("start 2 (closes start 1 as interrupted)", err)
	tx := second.TransactionID
	_, err = foldAndWrite(ctx, s, charging.MeterValues{ChargerID: "CP-EV", ConnectorID: 1, TransactionID: &tx, ReceivedAt: lt0.Add(4 * time.Minute),
		Samples: []charging.MeterSample{{Timestamp: lt0.Add(4 * time.Minute), Values: []charging.SampledValue{{Value: 300, Numeric: true, Measurand: "Energy.Active.Import.Register", Unit: "Wh"}}}}})
	must("meter values", err)
	stop := charging.StopSession{ChargerID: "CP-EV", TransactionID: tx, MeterStopWh: 400, Status: charging.SessionCompleted, Reason: "Local",
		EndedAt: lt0.Add(5 * time.Minute), ReceivedAt: lt0.Add(5 * time.Minute)}
	_, err = s.StopSession(ctx, stop)
	must("stop", err)
	_, err = s.StopSession(ctx, stop)
	must("repeated stop", err)
	pend := lreserved("ev-pend", "CP-EV", 2, 0, "TAG-G")
	pend.Status, pend.ReservationID = charging.SessionPending, nil
	must("pending", s.CreateSession(ctx, pend))
	_, err = s.UpdateSessionStatus(ctx, "ev-pend", []charging.SessionStatus{charging.SessionPending}, charging.SessionInvalid, lt0.Add(6*time.Minute), "RemoteStartTimeout")
	must("expire", err)
	if _, err := s.UpdateSessionStatus(ctx, "ev-pend", []charging.SessionStatus{charging.SessionPending}, charging.SessionInvalid, lt0.Add(7*time.Minute), "again"); !errors.Is(err, charging.ErrConflict) {
		t.Fatalf("second expiry = %v; want ErrConflict", err)
	}
	must("marker", port.Publish(ctx, charging.Event{Kind: charging.TariffChanged, TariffID: "end", At: lt0}))

	var got []string
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = port.Consume(cctx, "storetest-events", func(_ context.Context, e charging.Event) error {
		switch {
		case e.Kind == charging.TariffChanged && e.TariffID == "end":
			cancel()
		case e.ChargerID != "CP-EV":
		case e.Kind == charging.SessionChanged:
			got = append(got, fmt.Sprintf("session %s %d tx=%v", e.SessionID, e.Seq, e.TransactionID != ""))
		case e.Kind == charging.ConnectorChanged:
			c := "none"
			if e.Connector != nil {
				c = fmt.Sprintf("%d %s", e.Connector.ConnectorID, e.Connector.Status)
			}
			got = append(got, "connector "+c)
		default:
			got = append(got, string(e.Kind))
		}
		return nil
	})
	want := []string{
		"charger",
		"connector 1 Available",
		"session ev-res 1 tx=false",
		"session ev-res 2 tx=true",
		"session ev-res 3 tx=true", // closed as interrupted by the second start
		fmt.Sprintf("session %s 1 tx=true", second.ID),
		fmt.Sprintf("session %s 2 tx=true", second.ID),
		"session ev-pend 1 tx=false",
		"session ev-pend 2 tx=false",
	}
	if first.ID != "ev-res" {
		t.Fatalf("first start took %s; want the reservation ev-res", first.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
}

// testMeterValuesWithDoc: a MeterValues with a Doc puts the document with
// the samples (one write); an invalid document fails the whole write, so
// the samples are not kept without it.
func testMeterValuesWithDoc(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	lmustCharger(t, s, "CP-MD")
	sess, _, err := s.StartSession(ctx, lstart("CP-MD", 1, "TAG-MD", nil, 1000, lt0))
	if err != nil {
		t.Fatal(err)
	}
	tx := sess.TransactionID
	reg := func(kwh float64, at time.Time) []charging.MeterSample {
		return []charging.MeterSample{{Timestamp: at, Values: []charging.SampledValue{{Value: kwh, Numeric: true,
			Measurand: charging.MeasurandEnergyImportRegister, Unit: "kWh"}}}}
	}
	at := lt0.Add(time.Minute)
	d := charging.Doc{Kind: "adapter.tx", ID: "CP-MD/t1", Owner: "CP-MD", Body: []byte(`{"upto":2}`), Updated: at}
	found, err := foldAndWrite(ctx, s, charging.MeterValues{ChargerID: "CP-MD", ConnectorID: 1, TransactionID: &tx,
		Samples: reg(2, at), ReceivedAt: at, Doc: &d})
	if err != nil || !found {
		t.Fatalf("append with doc = %v, %v; want found", found, err)
	}
	got, err := s.GetDoc(ctx, "adapter.tx", "CP-MD/t1")
	if err != nil || string(got.Body) != `{"upto":2}` || got.Owner != "CP-MD" || !got.Updated.Equal(at) {
		t.Fatalf("doc = %+v, %v; want the one put with the samples", got, err)
	}
	if g, _ := s.GetSession(ctx, sess.ID); g.LastRegisterWh != 2000 {
		t.Errorf("last register = %v; want 2000", g.LastRegisterWh)
	}

	bad := charging.Doc{Kind: "adapter.tx", Body: []byte(`{}`), Updated: at} // no id
	if _, err := foldAndWrite(ctx, s, charging.MeterValues{ChargerID: "CP-MD", ConnectorID: 1, TransactionID: &tx,
		Samples: reg(3, at.Add(time.Minute)), ReceivedAt: at.Add(time.Minute), Doc: &bad}); !errors.Is(err, charging.ErrInvalidInput) {
		t.Fatalf("append with an invalid doc: %v; want ErrInvalidInput", err)
	}
	samples, err := s.SessionSamples(ctx, sess.ID)
	if err != nil || len(samples) != 1 {
		t.Errorf("samples = %d, %v; want 1: none of the failed write", len(samples), err)
	}
	if g, _ := s.GetSession(ctx, sess.ID); g.LastRegisterWh != 2000 {
		t.Errorf("last register after the failed write = %v; want 2000", g.LastRegisterWh)
	}
}

// testGetDocs: the store reads many documents of a kind in one call
// (charging.DocsGetter), each as GetDoc reads it; ids without a document
// of that kind (or with one of another kind) are left out.
func testGetDocs(t *testing.T, s charging.FullStore) {
	ctx := context.Background()
	if _, ok := s.(charging.DocsGetter); !ok {
		t.Fatalf("%T reads documents one at a time; the stores read many in one statement (charging.DocsGetter)", s)
	}
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("site.%d", i)
		ids = append(ids, id)
		if i == 3 {
			continue // no document
		}
		kind := "site"
		if i == 4 {
			kind = "other"
		}
		if err := s.PutDoc(ctx, charging.Doc{Kind: kind, ID: id, Owner: "CP-" + id, Body: []byte(fmt.Sprintf(`{"n":%d}`, i)), Updated: lt0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := charging.GetDocs(ctx, s, "site", append(ids, "site.0", "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("got %d documents; want site.0, site.1 and site.2", len(got))
	}
	for _, id := range ids[:3] {
		one, err := s.GetDoc(ctx, "site", id)
		if err != nil {
			t.Fatal(err)
		}
		if d := got[id]; d.Kind != one.Kind || d.ID != one.ID || d.Owner != one.Owner || string(d.Body) != string(one.Body) || !d.Updated.Equal(one.Updated) {
			t.Errorf("%s read with others = %+v; alone = %+v", id, d, one)
		}
	}
	if none, err := charging.GetDocs(ctx, s, "site", nil); err != nil || len(none) != 0 {
		t.Errorf("no ids: %v, %v; want nothing and no error", none, err)
	}
}
