package ocpp16

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/testenv"
)

// benchCallMeterValues is a MeterValues CALL with three sampled values, as
// the external load generator sends it.
const benchCallMeterValues = `[2,"123456","MeterValues",{"connectorId":1,"transactionId":1,"meterValue":[{"timestamp":"2026-11-21T10:00:00Z","sampledValue":[{"value":"1000","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"11000","measurand":"Power.Active.Import","unit":"W"},{"value":"16","measurand":"Current.Import","unit":"A"}]}]}]`

// writeOnlyStore is the least a MeterValues needs of a store, so that
// BenchmarkCallMeterValues measures the path around it: it knows one open
// session (transaction 1) and accepts every write. Anything else panics.
type writeOnlyStore struct {
	charging.Store
	version int64
}

func (s *writeOnlyStore) SessionByTransaction(ctx context.Context, chargerID, tx string) (charging.Session, error) {
	return charging.Session{ID: "s1", Seq: 1, MeterVersion: s.version, TransactionID: tx, ChargerID: chargerID}, nil
}

func (s *writeOnlyStore) WriteMeterValues(ctx context.Context, w charging.MeterWrite) error {
	s.version++
	return nil
}

// callMeterValues returns one MeterValues CALL's handling as
// BenchmarkCallMeterValues measures it: frame parsing, the gate's schema
// validation, decoding, the core's screening and fold, and the answer,
// outside the store and the socket.
func callMeterValues(tb testing.TB) func() {
	v, err := NewValidator()
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := charging.NewService(&writeOnlyStore{}, charging.SystemClock{}, log, charging.Config{})
	h := NewHandler(svc, v, log, Options{})
	c := &ocpp.Conn{Data: &connState{}}
	msg := []byte(benchCallMeterValues)
	buf := make([]byte, 0, 512)
	ctx := context.Background()
	return func() {
		f, err := ocpp.ParseFrame(msg)
		if err != nil {
			tb.Fatal(err)
		}
		res, e := h.HandleCall(ctx, c, f.Action, f.Payload)
		if e != nil {
			tb.Fatal(e)
		}
		buf = ocpp.AppendCallResult(buf[:0], f.ID, res)
	}
}

// BenchmarkCallMeterValues is the server's work on a MeterValues CALL
// outside the store and the socket (callMeterValues).
func BenchmarkCallMeterValues(b *testing.B) {
	call := callMeterValues(b)
	b.ReportAllocs()
	for b.Loop() {
		call()
	}
}

// TestCallMeterValuesAllocations bounds the allocations of the path
// BenchmarkCallMeterValues measures (#16): the parsed frame, the samples
// (their strings share the payload), the fold's last power, and no more.
func TestCallMeterValuesAllocations(t *testing.T) {
	if testenv.Race {
		t.Skip("the race detector changes what escapes to the heap")
	}
	allocs := testing.AllocsPerRun(1000, callMeterValues(t))
	t.Logf("%.1f allocations per MeterValues CALL", allocs)
	const most = 3 // measured; 5 before the samples were kept per connection (sampleBuf), 6 before the strings shared the payload (NewSharedDecoder), 8 before the fold allocated the last power and its time together and the transaction's id was kept
	if allocs > most {
		t.Errorf("%.1f allocations per MeterValues CALL; want at most %d", allocs, most)
	}
}

// seenStore is writeOnlyStore that records what each write's samples said
// when the core handed it over.
type seenStore struct {
	writeOnlyStore
	seen []string
}

func (s *seenStore) WriteMeterValues(ctx context.Context, w charging.MeterWrite) error {
	for _, smp := range w.Samples {
		for _, v := range smp.Values {
			s.seen = append(s.seen, fmt.Sprintf("%s=%g%s", v.Measurand, v.Value, v.Unit))
		}
	}
	return s.writeOnlyStore.WriteMeterValues(ctx, w)
}

// TestKeptSamplesReachTheStore: the samples of a MeterValues are in the
// connection's buffer (sampleBuf), emptied once the call is answered and
// filled again by the next; the store sees each call's own values, not a
// buffer emptied or refilled early.
func TestKeptSamplesReachTheStore(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	st := &seenStore{}
	h := NewHandler(charging.NewService(st, charging.SystemClock{}, log, charging.Config{}), v, log, Options{})
	c := &ocpp.Conn{Data: &connState{}}
	var want []string
	for i := range 3 {
		payload := fmt.Sprintf(`{"connectorId":1,"transactionId":1,"meterValue":[{"timestamp":"2026-11-21T10:0%d:00Z","sampledValue":[{"value":"%d","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"%d","measurand":"Power.Active.Import","unit":"W"}]}]}`, i, 1000+i, 11000+i)
		if _, e := h.HandleCall(t.Context(), c, "MeterValues", []byte(payload)); e != nil {
			t.Fatal(e)
		}
		want = append(want, fmt.Sprintf("Energy.Active.Import.Register=%gkWh", float64(1000+i)/1000), fmt.Sprintf("Power.Active.Import=%gkW", float64(11000+i)/1000))
	}
	if !slices.Equal(st.seen, want) {
		t.Fatalf("the store saw %q; want %q", st.seen, want)
	}
}
