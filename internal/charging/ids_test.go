package charging_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func newIDsService(t *testing.T) (*charging.Service, *fixedClock) {
	t.Helper()
	st := openViolationStore(t, filepath.Join(t.TempDir(), "cb.db"))
	clock := &fixedClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	svc := charging.NewService(st, clock, slog.New(slog.NewTextHandler(io.Discard, nil)), charging.Config{AcceptUnknownTags: true})
	for _, id := range []string{"cp-1", "cp-2"} {
		if _, err := svc.RegisterCharger(context.Background(), charging.Charger{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	return svc, clock
}

func TestRegisterTagTypeAndLength(t *testing.T) {
	svc, _ := newIDsService(t)
	tests := []struct {
		name     string
		tag      charging.IDTag
		wantErr  bool
		wantType charging.IDTokenType
	}{
		{"default-iso14443", charging.IDTag{ID: "CARD"}, false, charging.TokenISO14443},
		{"emaid-36", charging.IDTag{ID: strings.Repeat("E", 36), Type: charging.TokenEMAID}, false, charging.TokenEMAID},
		{"too-long-37", charging.IDTag{ID: strings.Repeat("E", 37)}, true, ""},
		{"empty", charging.IDTag{}, true, ""},
		{"unknown-type", charging.IDTag{ID: "X", Type: "Barcode"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := svc.RegisterTag(context.Background(), tt.tag)
			if tt.wantErr {
				if !errors.Is(err, charging.ErrInvalidInput) {
					t.Fatalf("RegisterTag(%+v): err %v; want ErrInvalidInput", tt.tag, err)
				}
				return
			}
			if err != nil || got.Type != tt.wantType {
				t.Fatalf("RegisterTag(%+v) = %+v, %v; want type %s", tt.tag, got, err, tt.wantType)
			}
			stored, err := svc.Store().GetIDTag(context.Background(), tt.tag.ID)
			if err != nil || stored.Type != tt.wantType {
				t.Errorf("stored tag = %+v, %v; want type %s", stored, err, tt.wantType)
			}
		})
	}
}

// The adapter gives availability and state; the status word is derived,
// stored, and read back with its split.
func TestStatusNotificationSplit(t *testing.T) {
	svc, clock := newIDsService(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		in    charging.Connector
		avail charging.Availability
		state charging.ConnectorState
		want  charging.ConnectorStatus
	}{
		{"split-occupied", charging.Connector{Availability: charging.Operative, State: charging.StateOccupied}, charging.Operative, charging.StateOccupied, charging.StatusPreparing},
		{"split-inoperative", charging.Connector{Availability: charging.Inoperative, State: charging.StateAvailable}, charging.Inoperative, charging.StateAvailable, charging.StatusUnavailable},
		{"split-faulted", charging.Connector{Availability: charging.Inoperative, State: charging.StateFaulted}, charging.Inoperative, charging.StateFaulted, charging.StatusFaulted},
		{"word-only", charging.Connector{Status: charging.StatusCharging}, charging.Operative, charging.StateCharging, charging.StatusCharging},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.t = clock.t.Add(time.Minute)
			c := tt.in
			c.ChargerID, c.ConnectorID = "cp-1", 1
			if _, err := svc.StatusNotification(ctx, c); err != nil {
				t.Fatal(err)
			}
			ch, err := svc.Store().GetCharger(ctx, "cp-1")
			if err != nil || len(ch.Connectors) != 1 {
				t.Fatalf("GetCharger: %+v, %v", ch, err)
			}
			got := ch.Connectors[0]
			if got.Availability != tt.avail || got.State != tt.state || got.Status != tt.want || got.EVSEID() != 1 {
				t.Errorf("stored connector %s/%s/%s EVSE %d; want %s/%s/%s EVSE 1", got.Availability, got.State, got.Status, got.EVSEID(), tt.avail, tt.state, tt.want)
			}
		})
	}
}

// The adapter's Key makes a retried start return the same session, per
// charger; no Key means no retry detection.
func TestStartKey(t *testing.T) {
	svc, clock := newIDsService(t)
	ctx := context.Background()
	start := func(charger, key string) charging.StartResult {
		t.Helper()
		r, err := svc.StartTransaction(ctx, charging.StartRequest{ChargerID: charger, ConnectorID: 1, IDTag: "T", Timestamp: clock.t, Key: key})
		if err != nil {
			t.Fatalf("StartTransaction(%s, %q): %v", charger, key, err)
		}
		return r
	}
	first := start("cp-1", "k1")
	if again := start("cp-1", "k1"); !again.Retry || again.Session.ID != first.Session.ID {
		t.Errorf("same charger and key: retry %v session %s; want a retry of %s", again.Retry, again.Session.ID, first.Session.ID)
	}
	if other := start("cp-2", "k1"); other.Retry || other.Session.ID == first.Session.ID {
		t.Errorf("same key on another charger: retry %v; want a new session", other.Retry)
	}
	a, b := start("cp-1", ""), start("cp-1", "")
	if a.Retry || b.Retry || a.Session.ID == b.Session.ID {
		t.Errorf("no key: retries %v %v; want two sessions", a.Retry, b.Retry)
	}
}

// The core stores the adapter's final status and reason; anything but
// completed or interrupted is refused.
func TestStopStatusFromAdapter(t *testing.T) {
	svc, clock := newIDsService(t)
	ctx := context.Background()
	tests := []struct {
		name, reason string
		status       charging.SessionStatus
		want         charging.SessionStatus
		wantErr      bool
	}{
		{"interrupted", "GroundFault", charging.SessionInterrupted, charging.SessionInterrupted, false},
		{"completed", "StoppedByEV", charging.SessionCompleted, charging.SessionCompleted, false},
		{"empty-is-completed", "Local", "", charging.SessionCompleted, false},
		{"not-final", "Other", charging.SessionActive, "", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.t = clock.t.Add(time.Minute)
			r, err := svc.StartTransaction(ctx, charging.StartRequest{ChargerID: "cp-1", ConnectorID: i + 1, IDTag: "T", Timestamp: clock.t})
			if err != nil {
				t.Fatal(err)
			}
			res, err := svc.StopTransaction(ctx, charging.StopRequest{ChargerID: "cp-1", TransactionID: r.Session.TransactionID,
				MeterStopWh: 100, Timestamp: clock.t, Status: tt.status, Reason: tt.reason})
			if tt.wantErr {
				if !errors.Is(err, charging.ErrInvalidInput) {
					t.Fatalf("StopTransaction with status %q: err %v; want ErrInvalidInput", tt.status, err)
				}
				return
			}
			if err != nil || res.Session == nil {
				t.Fatalf("StopTransaction: %+v, %v", res, err)
			}
			if res.Session.Status != tt.want || res.Session.StopReason != tt.reason {
				t.Errorf("stopped session %s %q; want %s %q", res.Session.Status, res.Session.StopReason, tt.want, tt.reason)
			}
		})
	}
}
