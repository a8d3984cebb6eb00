package security_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/ocpp"
	"github.com/chargebridge/chargebridge/internal/security"
	"github.com/chargebridge/chargebridge/internal/store/postgres"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// probe is the PostgreSQL store as the Guard sees it, counting the reads
// of security records and holding reads or writes back when told.
type probe struct {
	*postgres.Store
	reads      atomic.Int64 // GetDoc of a security record, or GetDocs
	readGate   chan struct{}
	writeGate  chan struct{}
	writeSeen  chan struct{} // closed at the first write
	seenOnce   sync.Once
	failWrites atomic.Bool
}

func newProbe(t *testing.T) *probe {
	st, err := postgres.Open(t.Context(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &probe{Store: st, writeSeen: make(chan struct{})}
}

func (p *probe) GetDoc(ctx context.Context, kind, id string) (charging.Doc, error) {
	if kind == security.DocKind {
		p.reads.Add(1)
		if p.readGate != nil {
			<-p.readGate
		}
	}
	return p.Store.GetDoc(ctx, kind, id)
}

func (p *probe) GetDocs(ctx context.Context, kind string, ids []string) ([]charging.Doc, error) {
	p.reads.Add(1)
	if p.readGate != nil {
		<-p.readGate
	}
	return p.Store.GetDocs(ctx, kind, ids)
}

func (p *probe) wrote() error {
	p.seenOnce.Do(func() { close(p.writeSeen) })
	if p.writeGate != nil {
		<-p.writeGate
	}
	if p.failWrites.Load() {
		return errors.New("the store is away")
	}
	return nil
}

func (p *probe) PutDoc(ctx context.Context, d charging.Doc) error {
	if err := p.wrote(); err != nil {
		return err
	}
	return p.Store.PutDoc(ctx, d)
}

func (p *probe) PutDocs(ctx context.Context, ds []charging.Doc) error {
	if err := p.wrote(); err != nil {
		return err
	}
	return p.Store.PutDocs(ctx, ds)
}

type nopHandler struct{}

func (nopHandler) Connected(context.Context, *ocpp.Conn) {}
func (nopHandler) Disconnected(*ocpp.Conn)               {}
func (nopHandler) HandleCall(context.Context, *ocpp.Conn, string, json.RawMessage) (json.RawMessage, *ocpp.Error) {
	return json.RawMessage(`{}`), nil
}
func (nopHandler) HandleResult(*ocpp.Conn, ocpp.Frame) {}

// listen serves chargers' WebSockets through auth (the Guard's hook) and
// returns their URL prefix.
func listen(t *testing.T, auth func(*http.Request, string) error) string {
	srv := ocpp.NewServer(ocpp.Config{
		Protocols:    []ocpp.Protocol{{Name: "ocpp1.6", Handler: nopHandler{}}},
		Authenticate: auth,
	})
	mux := http.NewServeMux()
	mux.Handle("/ocpp/{id}", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ocpp/"
}

func dial(ctx context.Context, url string, header http.Header) error {
	d := ws.Dialer{Protocols: []string{"ocpp1.6"}, Header: ws.HandshakeHeaderHTTP(header)}
	conn, _, _, err := d.Dial(ctx, url)
	if err == nil {
		conn.Close()
	}
	return err
}

func runGuard(t *testing.T, g *security.Guard) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestHandshakeReadsAreBatched: handshakes that arrive together read
// their chargers' security records in a few queries, not one each (at the
// 100 000-charger ramp each handshake waited for a pooled connection of
// its own, and chargers gave up). Every read is held back until all the
// handshakes have arrived, so they are concurrent by construction.
func TestHandshakeReadsAreBatched(t *testing.T) {
	const n = 64
	p := newProbe(t)
	p.readGate = make(chan struct{})
	g := security.NewGuard(security.GuardConfig{Docs: p})
	var arrived atomic.Int64
	url := listen(t, func(r *http.Request, id string) error {
		if arrived.Add(1) == n {
			close(p.readGate)
		}
		return g.Authenticate(r, id)
	})
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- dial(t.Context(), fmt.Sprintf("%sCP-%02d", url, i), nil) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("dial: %v", err)
		}
	}
	if got := p.reads.Load(); got > n/8 {
		t.Fatalf("%d handshakes made %d reads of security records; want at most %d", n, got, n/8)
	}
}

// TestHandshakeWaitsForNoBookkeepingWrite: a registered charger's
// handshake completes while the write of when and from where it
// authenticated is held back; the write follows in a batch, and never
// undoes a password set meanwhile through another node.
func TestHandshakeWaitsForNoBookkeepingWrite(t *testing.T) {
	p := newProbe(t)
	if err := p.CreateCharger(t.Context(), charging.Charger{ID: "CP-1", Registered: true, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	known := func(ctx context.Context, id string) bool { _, err := p.Store.GetCharger(ctx, id); return err == nil }
	p.writeGate = make(chan struct{})
	g := security.NewGuard(security.GuardConfig{Docs: p, Known: known})
	url := listen(t, g.Authenticate)
	dialed := make(chan error, 1)
	go func() { dialed <- dial(t.Context(), url+"CP-1", nil) }()
	select {
	case <-p.writeSeen:
		close(p.writeGate)
		t.Fatal("the handshake wrote to the store before the charger was accepted")
	case err := <-dialed:
		if err != nil {
			t.Fatal(err)
		}
	}
	// Another node sets a password before this one writes its bookkeeping.
	other := security.NewGuard(security.GuardConfig{Docs: p.Store, Known: known})
	v, err := other.Set(t.Context(), "CP-1", security.Change{Profile: 1, Generate: true}, security.Capabilities{})
	if err != nil {
		t.Fatal(err)
	}
	close(p.writeGate)
	runGuard(t, g)
	waitFor(t, "the last authentication, as another node reads it", func() bool {
		rec, err := other.Record(t.Context(), "CP-1")
		return err == nil && rec.LastAuthAt != nil && rec.LastAuthProfile == 0
	})
	h := http.Header{"Authorization": {"Basic " + basic("CP-1", v.Password)}}
	if err := dial(t.Context(), url+"CP-1", h); err != nil {
		t.Fatalf("the password set through the other node: %v", err)
	}
	if err := dial(t.Context(), url+"CP-1", nil); err == nil {
		t.Fatal("a charger at profile 1 connected without its password")
	}
}

// TestUnknownChargerLeavesNoRecord: an id that is not registered and has
// no record (a spray of made-up ids at profile 0) gets no document.
func TestUnknownChargerLeavesNoRecord(t *testing.T) {
	p := newProbe(t)
	g := security.NewGuard(security.GuardConfig{Docs: p, Known: func(context.Context, string) bool { return false },
		KnownMany: func(context.Context, []string) (map[string]bool, error) { return map[string]bool{}, nil }})
	url := listen(t, g.Authenticate)
	if err := dial(t.Context(), url+"CP-MADE-UP", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = g.Run(ctx) // one flush, as at shutdown
	for _, kind := range []string{security.DocKind, security.DocKindSeen} {
		if _, err := p.Store.GetDoc(t.Context(), kind, "CP-MADE-UP"); !errors.Is(err, charging.ErrNotFound) {
			t.Errorf("document %s of an unknown id: %v; want none", kind, err)
		}
	}
}

// TestRotatedPasswordIsDurableBeforeAccept: a charger that connects with
// its rotated (pending) password is accepted only once that password is
// stored as its only one; when the store cannot take it, the attempt is
// refused and both passwords still work.
func TestRotatedPasswordIsDurableBeforeAccept(t *testing.T) {
	p := newProbe(t)
	if err := p.CreateCharger(t.Context(), charging.Charger{ID: "CP-R", Registered: true, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	g := security.NewGuard(security.GuardConfig{Docs: p})
	v, err := g.Set(t.Context(), "CP-R", security.Change{Profile: 1, Generate: true}, security.Capabilities{})
	if err != nil {
		t.Fatal(err)
	}
	var newPW string
	if _, err := g.Rotate(t.Context(), "CP-R", func(_ context.Context, _, _, value string) (string, error) {
		newPW = value
		return "Accepted", nil
	}); err != nil {
		t.Fatal(err)
	}
	url := listen(t, g.Authenticate)
	with := func(pw string) http.Header { return http.Header{"Authorization": {"Basic " + basic("CP-R", pw)}} }
	p.failWrites.Store(true)
	if err := dial(t.Context(), url+"CP-R", with(newPW)); err == nil {
		t.Fatal("accepted with the new password although it could not be stored as the only one")
	}
	p.failWrites.Store(false)
	if err := dial(t.Context(), url+"CP-R", with(v.Password)); err != nil {
		t.Fatalf("old password after the failed switch: %v", err)
	}
	if err := dial(t.Context(), url+"CP-R", with(newPW)); err != nil {
		t.Fatalf("new password: %v", err)
	}
	rec, err := security.NewGuard(security.GuardConfig{Docs: p.Store}).Record(t.Context(), "CP-R")
	if err != nil || rec.PendingHash != "" {
		t.Fatalf("record after the charger used its new password: pending %q, err %v; want none pending", rec.PendingHash, err)
	}
	if err := dial(t.Context(), url+"CP-R", with(v.Password)); err == nil {
		t.Fatal("the old password still works after the charger used the new one")
	}
}

func basic(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pw))
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
