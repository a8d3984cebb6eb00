package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func testChargers(t *testing.T, open func(t *testing.T) charging.Store) {
	full := charging.Charger{
		ID:               "cp-full",
		Registered:       true,
		Vendor:           "Acme",
		Model:            "Wallbox 22",
		SerialNumber:     "SN-1",
		FirmwareVersion:  "1.2.3",
		ICCID:            "8931",
		IMSI:             "2620",
		MeterType:        "EEM-350",
		MeterSerial:      "M-9",
		BootStatus:       charging.BootPending,
		StrictTimestamps: true,
		LastBootAt:       ptr(at(time.Hour).In(cet)),
		LastSeenAt:       ptr(at(2 * time.Hour)),
		CreatedAt:        at(-time.Hour),
		Connectors: []charging.Connector{
			{ChargerID: "cp-full", ConnectorID: 0, Availability: charging.Operative, State: charging.StateAvailable, Status: charging.StatusAvailable, StatusAt: at(time.Minute), UpdatedAt: at(2 * time.Minute)},
			{ChargerID: "cp-full", ConnectorID: 1, Availability: charging.Inoperative, State: charging.StateFaulted, Status: charging.StatusFaulted, ErrorCode: "GroundFailure", Info: "tripped", VendorID: "acme", VendorErrorCode: "E42", StatusAt: at(time.Minute), UpdatedAt: at(2 * time.Minute)},
			{ChargerID: "cp-full", ConnectorID: 2, Availability: charging.Operative, State: charging.StateCharging, Status: charging.StatusCharging, StatusAt: at(3 * time.Minute).In(cet), UpdatedAt: at(3 * time.Minute)},
		},
	}
	bare := charging.Charger{ID: "cp-bare", CreatedAt: t0}
	stored := full // as read back: each connector the only one of its EVSE
	stored.Connectors = evses(full.Connectors...)

	t.Run("create-get", func(t *testing.T) {
		for _, c := range []charging.Charger{full, bare} {
			t.Run(c.ID, func(t *testing.T) {
				st := open(t)
				if err := st.CreateCharger(ctx(t), c); err != nil {
					t.Fatalf("CreateCharger: %v", err)
				}
				got, err := st.GetCharger(ctx(t), c.ID)
				if err != nil {
					t.Fatalf("GetCharger: %v", err)
				}
				want := c
				if c.ID == full.ID {
					want = stored
				}
				if d := diff(want, got); d != "" {
					t.Errorf("GetCharger(%s) mismatch (-want +got):\n%s", c.ID, d)
				}
			})
		}
	})

	t.Run("create-existing", func(t *testing.T) {
		st := open(t)
		if err := st.CreateCharger(ctx(t), full); err != nil {
			t.Fatalf("CreateCharger: %v", err)
		}
		again := bare
		again.ID = full.ID
		wantErr(t, "CreateCharger of a taken id", st.CreateCharger(ctx(t), again), charging.ErrExists)
		got, err := st.GetCharger(ctx(t), full.ID)
		if err != nil {
			t.Fatalf("GetCharger: %v", err)
		}
		if d := diff(stored, got); d != "" {
			t.Errorf("charger changed by a refused create (-want +got):\n%s", d)
		}
	})

	t.Run("get-unknown", func(t *testing.T) {
		st := open(t)
		_, err := st.GetCharger(ctx(t), "cp-nobody")
		wantErr(t, "GetCharger(cp-nobody)", err, charging.ErrNotFound)
	})

	t.Run("list", func(t *testing.T) {
		st := open(t)
		got, err := st.ListChargers(ctx(t))
		if err != nil {
			t.Fatalf("ListChargers on empty store: %v", err)
		}
		if len(got) != 0 {
			t.Errorf("ListChargers on empty store: got %d chargers; want 0", len(got))
		}
		z := bare
		z.ID = "cp-zzz"
		for _, c := range []charging.Charger{z, full, bare} {
			if err := st.CreateCharger(ctx(t), c); err != nil {
				t.Fatalf("CreateCharger(%s): %v", c.ID, err)
			}
		}
		got, err = st.ListChargers(ctx(t))
		if err != nil {
			t.Fatalf("ListChargers: %v", err)
		}
		want := []charging.Charger{bare, stored, z} // ordered by id
		if d := diff(want, got); d != "" {
			t.Errorf("ListChargers mismatch (-want +got):\n%s", d)
		}
		// The same, a page at a time: each page starts after the last id
		// of the one before, with its chargers' connectors.
		var paged []charging.Charger
		after := ""
		for range 10 {
			page, err := st.ListChargersAfter(ctx(t), after, 2)
			if err != nil {
				t.Fatalf("ListChargersAfter(%q, 2): %v", after, err)
			}
			if len(page) > 2 {
				t.Fatalf("ListChargersAfter(%q, 2) gave %d chargers", after, len(page))
			}
			if len(page) == 0 {
				break
			}
			paged = append(paged, page...)
			after = page[len(page)-1].ID
		}
		if d := diff(want, paged); d != "" {
			t.Errorf("ListChargersAfter pages mismatch (-want +got):\n%s", d)
		}
	})
}

func testRecordBoot(t *testing.T, open func(t *testing.T) charging.Store) {
	boot := func(n int, status charging.BootStatus, at time.Time) charging.Boot {
		return charging.Boot{
			ChargerID: "cp-1", Vendor: "Acme", Model: "M" + string(rune('0'+n)),
			SerialNumber: "SN", FirmwareVersion: "fw" + string(rune('0'+n)), ICCID: "iccid",
			IMSI: "imsi", MeterType: "meter", MeterSerial: "ms", Status: status, At: at,
		}
	}
	tests := []struct {
		name  string
		boots []charging.Boot
	}{
		{"first-boot", []charging.Boot{boot(1, charging.BootAccepted, at(time.Hour))}},
		{"pending", []charging.Boot{boot(1, charging.BootPending, at(time.Hour))}},
		{"later-boot-replaces", []charging.Boot{
			boot(1, charging.BootPending, at(time.Hour)),
			boot(2, charging.BootAccepted, at(2*time.Hour).In(cet)),
		}},
		{"empty-fields-replace", []charging.Boot{
			boot(1, charging.BootAccepted, at(time.Hour)),
			{ChargerID: "cp-1", Vendor: "Acme", Model: "M1", Status: charging.BootAccepted, At: at(3 * time.Hour)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			c := createCharger(t, st, "cp-1")
			for _, b := range tt.boots {
				if err := st.RecordBoot(ctx(t), b); err != nil {
					t.Fatalf("RecordBoot: %v", err)
				}
			}
			b := tt.boots[len(tt.boots)-1]
			want := c
			want.Vendor, want.Model, want.SerialNumber = b.Vendor, b.Model, b.SerialNumber
			want.FirmwareVersion, want.ICCID, want.IMSI = b.FirmwareVersion, b.ICCID, b.IMSI
			want.MeterType, want.MeterSerial = b.MeterType, b.MeterSerial
			want.BootStatus = b.Status
			want.LastBootAt = ptr(b.At)
			// A boot is a message from the charger: it was seen then.
			want.LastSeenAt = ptr(b.At)
			got, err := st.GetCharger(ctx(t), "cp-1")
			if err != nil {
				t.Fatalf("GetCharger: %v", err)
			}
			if d := diff(want, got); d != "" {
				t.Errorf("charger after RecordBoot mismatch (-want +got):\n%s", d)
			}
		})
	}
	t.Run("unknown-charger", func(t *testing.T) {
		st := open(t)
		b := boot(1, charging.BootAccepted, t0)
		b.ChargerID = "cp-nobody"
		wantErr(t, "RecordBoot(cp-nobody)", st.RecordBoot(ctx(t), b), charging.ErrNotFound)
	})
}

func testTouchCharger(t *testing.T, open func(t *testing.T) charging.Store) {
	st := open(t)
	c := createCharger(t, st, "cp-1")
	other := createCharger(t, st, "cp-2")
	for _, seen := range []time.Time{at(time.Minute), at(5 * time.Minute).In(cet)} {
		if err := st.TouchCharger(ctx(t), "cp-1", seen); err != nil {
			t.Fatalf("TouchCharger: %v", err)
		}
		got, err := st.GetCharger(ctx(t), "cp-1")
		if err != nil {
			t.Fatalf("GetCharger: %v", err)
		}
		want := c
		want.LastSeenAt = ptr(seen)
		if d := diff(want, got); d != "" {
			t.Errorf("charger after TouchCharger(%v) mismatch (-want +got):\n%s", seen, d)
		}
	}
	got, err := st.GetCharger(ctx(t), "cp-2")
	if err != nil {
		t.Fatalf("GetCharger: %v", err)
	}
	if d := diff(other, got); d != "" {
		t.Errorf("TouchCharger(cp-1) changed cp-2 (-want +got):\n%s", d)
	}
	wantErr(t, "TouchCharger(cp-nobody)", st.TouchCharger(ctx(t), "cp-nobody", t0), charging.ErrNotFound)
}

func testConnectorStatus(t *testing.T, open func(t *testing.T) charging.Store) {
	conn := func(id int, status charging.ConnectorStatus, statusAt time.Time) charging.Connector {
		avail, state := status.Split()
		return charging.Connector{
			ChargerID: "cp-1", ConnectorID: id, Availability: avail, State: state, Status: status,
			ErrorCode: "NoError", Info: string(status), VendorID: "v", VendorErrorCode: "ve",
			StatusAt: statusAt, UpdatedAt: statusAt.Add(time.Second),
		}
	}
	type step struct {
		c           charging.Connector
		wantApplied bool
	}
	tests := []struct {
		name  string
		steps []step
		// want is the stored connectors after the steps, by connector id.
		want []charging.Connector
	}{
		{
			name:  "new-connector",
			steps: []step{{conn(1, charging.StatusAvailable, at(time.Minute)), true}},
			want:  []charging.Connector{conn(1, charging.StatusAvailable, at(time.Minute))},
		},
		{
			name: "newer-replaces",
			steps: []step{
				{conn(1, charging.StatusAvailable, at(time.Minute)), true},
				{conn(1, charging.StatusCharging, at(2*time.Minute).In(cet)), true},
			},
			want: []charging.Connector{conn(1, charging.StatusCharging, at(2*time.Minute))},
		},
		{
			name: "same-time-replaces",
			steps: []step{
				{conn(1, charging.StatusAvailable, at(time.Minute)), true},
				{conn(1, charging.StatusPreparing, at(time.Minute)), true},
			},
			want: []charging.Connector{conn(1, charging.StatusPreparing, at(time.Minute))},
		},
		{
			name: "older-ignored",
			steps: []step{
				{conn(1, charging.StatusFaulted, at(2*time.Minute)), true},
				{conn(1, charging.StatusAvailable, at(2*time.Minute-time.Nanosecond)), false},
			},
			want: []charging.Connector{conn(1, charging.StatusFaulted, at(2*time.Minute))},
		},
		{
			name: "connector-zero",
			steps: []step{
				{conn(0, charging.StatusUnavailable, at(2*time.Minute)), true},
				{conn(0, charging.StatusAvailable, at(time.Minute)), false},
				{conn(2, charging.StatusAvailable, at(time.Minute)), true},
			},
			want: []charging.Connector{
				conn(0, charging.StatusUnavailable, at(2*time.Minute)),
				conn(2, charging.StatusAvailable, at(time.Minute)),
			},
		},
		{
			name: "connectors-independent",
			steps: []step{
				{conn(1, charging.StatusCharging, at(5*time.Minute)), true},
				{conn(2, charging.StatusAvailable, at(time.Minute)), true},
				{conn(2, charging.StatusFinishing, at(2*time.Minute)), true},
			},
			want: []charging.Connector{
				conn(1, charging.StatusCharging, at(5*time.Minute)),
				conn(2, charging.StatusFinishing, at(2*time.Minute)),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := open(t)
			c := createCharger(t, st, "cp-1")
			for i, s := range tt.steps {
				_, applied, err := st.SetConnectorStatus(ctx(t), s.c)
				if err != nil {
					t.Fatalf("step %d: SetConnectorStatus: %v", i, err)
				}
				if applied != s.wantApplied {
					t.Errorf("step %d: SetConnectorStatus(%d, %s, %v): got applied %v; want %v",
						i, s.c.ConnectorID, s.c.Status, s.c.StatusAt, applied, s.wantApplied)
				}
			}
			got, err := st.GetCharger(ctx(t), "cp-1")
			if err != nil {
				t.Fatalf("GetCharger: %v", err)
			}
			want := c
			want.Connectors = evses(tt.want...)
			if d := diff(want, got); d != "" {
				t.Errorf("charger mismatch (-want +got):\n%s", d)
			}
		})
	}
	t.Run("plug", func(t *testing.T) {
		// A station describes its connectors' plugs (2.0.1 device model),
		// perhaps before their first status: the plug is kept beside the
		// status, and a status does not clear it.
		st := open(t)
		createCharger(t, st, "cp-1")
		plug := charging.Connector{ChargerID: "cp-1", ConnectorID: 1, EVSEConnectorID: 2, Plug: charging.PlugType2, Cable: true}
		if err := st.SetConnectorPlug(ctx(t), plug); err != nil {
			t.Fatalf("SetConnectorPlug: %v", err)
		}
		read := func() charging.Connector {
			t.Helper()
			c, err := st.GetCharger(ctx(t), "cp-1")
			if err != nil || len(c.Connectors) != 1 {
				t.Fatalf("GetCharger: %+v, %v; want EVSE 1", c.Connectors, err)
			}
			k, ok := c.Connectors[0].EVSEConnector(2)
			if !ok {
				t.Fatalf("EVSE 1 has no connector 2: %+v", c.Connectors[0])
			}
			return k
		}
		if k := read(); k.Plug != charging.PlugType2 || !k.Cable || k.Status != charging.StatusUnknown {
			t.Errorf("connector described before its status: %+v; want Type2 cable, Unknown", k)
		}
		s := conn(1, charging.StatusAvailable, at(time.Minute))
		s.EVSEConnectorID = 2
		if _, applied, err := st.SetConnectorStatus(ctx(t), s); err != nil || !applied {
			t.Fatalf("SetConnectorStatus: %v, %v", applied, err)
		}
		if k := read(); k.Plug != charging.PlugType2 || !k.Cable || k.Status != charging.StatusAvailable {
			t.Errorf("after a status: %+v; want Type2 cable, Available", k)
		}
		plug.Plug, plug.Cable = charging.PlugCCS2, true
		if err := st.SetConnectorPlug(ctx(t), plug); err != nil {
			t.Fatalf("SetConnectorPlug again: %v", err)
		}
		if k := read(); k.Plug != charging.PlugCCS2 || k.Status != charging.StatusAvailable {
			t.Errorf("described again: %+v; want CCS2, status kept", k)
		}
		plug.ChargerID = "cp-nobody"
		wantErr(t, "SetConnectorPlug(cp-nobody)", st.SetConnectorPlug(ctx(t), plug), charging.ErrNotFound)
	})
	t.Run("evse-with-two-connectors", func(t *testing.T) {
		// An OCPP 2.0.1 EVSE with a CCS (connector 1) and a Type 2 cable
		// (connector 2): each connector keeps its own status; the EVSE
		// entry is its busiest connector's, with the newest times.
		st := open(t)
		c := createCharger(t, st, "cp-1")
		ccs := conn(1, charging.StatusAvailable, at(3*time.Minute))
		ccs.EVSEConnectorID = 1
		t2 := conn(1, charging.StatusPreparing, at(time.Minute))
		t2.EVSEConnectorID, t2.ErrorCode = 2, "NoError"
		for _, k := range []charging.Connector{t2, ccs} {
			if _, applied, err := st.SetConnectorStatus(ctx(t), k); err != nil || !applied {
				t.Fatalf("SetConnectorStatus(1/%d): applied %v, %v", k.EVSEConnectorID, applied, err)
			}
		}
		t2.Status, t2.State, t2.StatusAt = charging.StatusCharging, charging.StateCharging, at(2*time.Minute)
		evse, applied, err := st.SetConnectorStatus(ctx(t), t2)
		if err != nil || !applied {
			t.Fatalf("SetConnectorStatus(1/2 charging): applied %v, %v", applied, err)
		}
		// The EVSE is charging (its Type 2 cable is), though its CCS
		// cable, heard from last, says Available.
		want := t2
		want.EVSEConnectorID, want.StatusAt, want.UpdatedAt = 0, ccs.StatusAt, ccs.UpdatedAt
		want.EVSEConnectors = []charging.Connector{ccs, t2}
		if d := diff(want, evse); d != "" {
			t.Errorf("EVSE entry returned (-want +got):\n%s", d)
		}
		got, err := st.GetCharger(ctx(t), "cp-1")
		if err != nil {
			t.Fatalf("GetCharger: %v", err)
		}
		wantC := c
		wantC.Connectors = []charging.Connector{want}
		if d := diff(wantC, got); d != "" {
			t.Errorf("charger mismatch (-want +got):\n%s", d)
		}
		// The CCS cable's own status is kept under its number: it does not
		// replace the Type 2's.
		if k, ok := got.Connectors[0].EVSEConnector(1); !ok || k.Status != charging.StatusAvailable {
			t.Errorf("EVSE 1 connector 1: got %+v, %v; want Available", k, ok)
		}
	})
	t.Run("unknown-charger", func(t *testing.T) {
		st := open(t)
		c := conn(1, charging.StatusAvailable, t0)
		c.ChargerID = "cp-nobody"
		_, _, err := st.SetConnectorStatus(ctx(t), c)
		wantErr(t, "SetConnectorStatus(cp-nobody)", err, charging.ErrNotFound)
	})
}

// evses are the EVSE entries a charger whose connectors cs are each the
// only connector of their EVSE (1.6 connectors) reads back with: the
// connector's status, listing the connector as connector 1 (0 for EVSE 0).
func evses(cs ...charging.Connector) []charging.Connector {
	out := []charging.Connector{}
	for _, c := range cs {
		k := c
		if k.EVSEConnectorID == 0 && k.ConnectorID > 0 {
			k.EVSEConnectorID = 1
		}
		e := c
		e.EVSEConnectorID, e.EVSEConnectors = 0, []charging.Connector{k}
		out = append(out, e)
	}
	return out
}

func testIDTags(t *testing.T, open func(t *testing.T) charging.Store) {
	tags := []charging.IDTag{
		{ID: "TAG-B", Type: charging.TokenISO14443, Status: charging.AuthAccepted, CreatedAt: t0},
		{ID: "TAG-A", Type: charging.TokenISO15693, Status: charging.AuthBlocked, ExpiresAt: ptr(at(24 * time.Hour).In(cet)), ParentID: "FLEET-1", CreatedAt: at(time.Second)},
		{ID: "TAG-C", Type: charging.TokenKeyCode, Status: charging.AuthExpired, ExpiresAt: ptr(at(-time.Hour)), CreatedAt: at(2 * time.Second)},
		// A 2.0.1 eMAID of the longest length the core keeps (36).
		{ID: "NL-CBR-C12345678-X-0123456789ABCDEF0", Type: charging.TokenEMAID, Status: charging.AuthAccepted, CreatedAt: at(3 * time.Second)},
	}
	if n := len(tags[3].ID); n != charging.MaxIDTokenLen {
		t.Fatalf("eMAID test tag has %d characters; want %d", n, charging.MaxIDTokenLen)
	}
	t.Run("every-type", func(t *testing.T) {
		st := open(t)
		for i, typ := range charging.IDTokenTypes {
			tag := charging.IDTag{ID: fmt.Sprintf("T-%d", i), Type: typ, Status: charging.AuthAccepted, CreatedAt: t0}
			if err := st.PutIDTag(ctx(t), tag); err != nil {
				t.Fatalf("PutIDTag(%s): %v", tag.ID, err)
			}
			got, err := st.GetIDTag(ctx(t), tag.ID)
			if err != nil {
				t.Fatalf("GetIDTag(%s): %v", tag.ID, err)
			}
			if got.Type != typ {
				t.Errorf("GetIDTag(%s).Type = %q; want %q", tag.ID, got.Type, typ)
			}
		}
	})
	t.Run("type-defaults-to-iso14443", func(t *testing.T) {
		st := open(t)
		if err := st.PutIDTag(ctx(t), charging.IDTag{ID: "OLD", Status: charging.AuthAccepted, CreatedAt: t0}); err != nil {
			t.Fatalf("PutIDTag(OLD): %v", err)
		}
		got, err := st.GetIDTag(ctx(t), "OLD")
		if err != nil {
			t.Fatalf("GetIDTag(OLD): %v", err)
		}
		if got.Type != charging.TokenISO14443 {
			t.Errorf("GetIDTag(OLD).Type = %q; want %q for a tag put without a type", got.Type, charging.TokenISO14443)
		}
	})
	t.Run("put-get", func(t *testing.T) {
		st := open(t)
		for _, tag := range tags {
			if err := st.PutIDTag(ctx(t), tag); err != nil {
				t.Fatalf("PutIDTag(%s): %v", tag.ID, err)
			}
		}
		for _, tag := range tags {
			got, err := st.GetIDTag(ctx(t), tag.ID)
			if err != nil {
				t.Fatalf("GetIDTag(%s): %v", tag.ID, err)
			}
			if d := diff(tag, got); d != "" {
				t.Errorf("GetIDTag(%s) mismatch (-want +got):\n%s", tag.ID, d)
			}
		}
	})
	t.Run("get-unknown", func(t *testing.T) {
		st := open(t)
		_, err := st.GetIDTag(ctx(t), "TAG-NOBODY")
		wantErr(t, "GetIDTag(TAG-NOBODY)", err, charging.ErrNotFound)
	})
	t.Run("replace", func(t *testing.T) {
		tests := []struct {
			name        string
			first, then charging.IDTag
		}{
			{"drop-expiry-and-parent", tags[1], charging.IDTag{ID: "TAG-A", Type: charging.TokenISO15693, Status: charging.AuthAccepted, CreatedAt: at(time.Hour)}},
			{"add-expiry-and-parent", tags[0], charging.IDTag{ID: "TAG-B", Type: charging.TokenISO14443, Status: charging.AuthInvalid, ExpiresAt: ptr(at(time.Hour)), ParentID: "P", CreatedAt: t0}},
			{"change-type", tags[0], charging.IDTag{ID: "TAG-B", Type: charging.TokenCentral, Status: charging.AuthAccepted, CreatedAt: t0}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st := open(t)
				for _, tag := range []charging.IDTag{tt.first, tt.then} {
					if err := st.PutIDTag(ctx(t), tag); err != nil {
						t.Fatalf("PutIDTag(%s): %v", tag.ID, err)
					}
				}
				got, err := st.GetIDTag(ctx(t), tt.then.ID)
				if err != nil {
					t.Fatalf("GetIDTag: %v", err)
				}
				if d := diff(tt.then, got); d != "" {
					t.Errorf("GetIDTag after replace mismatch (-want +got):\n%s", d)
				}
				list, err := st.ListIDTags(ctx(t))
				if err != nil {
					t.Fatalf("ListIDTags: %v", err)
				}
				if d := diff([]charging.IDTag{tt.then}, list); d != "" {
					t.Errorf("ListIDTags after replace mismatch (-want +got):\n%s", d)
				}
			})
		}
	})
	t.Run("list", func(t *testing.T) {
		st := open(t)
		got, err := st.ListIDTags(ctx(t))
		if err != nil {
			t.Fatalf("ListIDTags on empty store: %v", err)
		}
		if len(got) != 0 {
			t.Errorf("ListIDTags on empty store: got %d; want 0", len(got))
		}
		for _, tag := range tags {
			if err := st.PutIDTag(ctx(t), tag); err != nil {
				t.Fatalf("PutIDTag(%s): %v", tag.ID, err)
			}
		}
		got, err = st.ListIDTags(ctx(t))
		if err != nil {
			t.Fatalf("ListIDTags: %v", err)
		}
		// The contract states no order.
		byID := cmpopts.SortSlices(func(a, b charging.IDTag) bool { return a.ID < b.ID })
		if d := cmp.Diff(tags, got, byID, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("ListIDTags mismatch (-want +got):\n%s", d)
		}
	})
}
