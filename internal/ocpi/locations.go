package ocpi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/pricing"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Location is the OCPI 2.2.1 Location object. A site is one Location (id
// the site id) and a charger in no site is one (id the charger id); each
// OCPP connector is one EVSE (sites.go).
type Location struct {
	CountryCode string           `json:"country_code"`
	PartyID     string           `json:"party_id"`
	ID          string           `json:"id"`
	Publish     bool             `json:"publish"`
	Name        string           `json:"name,omitempty"`
	Address     string           `json:"address"`
	City        string           `json:"city"`
	PostalCode  string           `json:"postal_code,omitempty"`
	State       string           `json:"state,omitempty"`
	Country     string           `json:"country"`
	Coordinates GeoLocation      `json:"coordinates"`
	ParkingType string           `json:"parking_type,omitempty"`
	EVSEs       []EVSE           `json:"evses,omitempty"`
	Operator    *BusinessDetails `json:"operator,omitempty"`
	TimeZone    string           `json:"time_zone"`
	LastUpdated DateTime         `json:"last_updated"`
}

// GeoLocation is a point: decimal degrees as strings.
type GeoLocation struct {
	Latitude  string `json:"latitude"`
	Longitude string `json:"longitude"`
}

// EVSE is the OCPI 2.2.1 EVSE object.
type EVSE struct {
	UID          string      `json:"uid"`
	EVSEID       string      `json:"evse_id,omitempty"`
	Status       EVSEStatus  `json:"status"`
	Capabilities []string    `json:"capabilities,omitempty"`
	Connectors   []Connector `json:"connectors"`
	// PhysicalReference is the OCPP connector id, as printed on most
	// chargers.
	PhysicalReference string   `json:"physical_reference,omitempty"`
	LastUpdated       DateTime `json:"last_updated"`
}

// Connector is the OCPI 2.2.1 Connector object.
type Connector struct {
	ID               string   `json:"id"`
	Standard         string   `json:"standard"`
	Format           string   `json:"format"`
	PowerType        string   `json:"power_type"`
	MaxVoltage       int      `json:"max_voltage"`
	MaxAmperage      int      `json:"max_amperage"`
	MaxElectricPower int      `json:"max_electric_power,omitempty"`
	TariffIDs        []string `json:"tariff_ids,omitempty"`
	LastUpdated      DateTime `json:"last_updated"`
}

// LocationInfo is what an operator tells about a charger's site; the
// charger itself reports none of it. Zero fields take the defaults in
// locationDefaults.
type LocationInfo struct {
	Name        string      `json:"name,omitempty"`
	Address     string      `json:"address,omitempty"`
	City        string      `json:"city,omitempty"`
	PostalCode  string      `json:"postal_code,omitempty"`
	Country     string      `json:"country,omitempty"`
	Coordinates GeoLocation `json:"coordinates,omitzero"`
	TimeZone    string      `json:"time_zone,omitempty"`
	ParkingType string      `json:"parking_type,omitempty"`
	// Unpublished keeps the location out of apps (publish false).
	Unpublished bool `json:"unpublished,omitempty"`
	// Connector describes every connector of the charger.
	Standard    string    `json:"standard,omitempty"`
	Format      string    `json:"format,omitempty"`
	PowerType   string    `json:"power_type,omitempty"`
	MaxVoltage  int       `json:"max_voltage,omitempty"`
	MaxAmperage int       `json:"max_amperage,omitempty"`
	MaxPowerW   int       `json:"max_electric_power,omitempty"`
	Updated     time.Time `json:"updated"`
}

// alpha3 maps ISO 3166 alpha-2 codes of the countries where OCPI is used
// most to alpha-3, for a location's default country.
var alpha3 = map[string]string{
	"AT": "AUT", "BE": "BEL", "CH": "CHE", "CZ": "CZE", "DE": "DEU", "DK": "DNK", "ES": "ESP", "FI": "FIN",
	"FR": "FRA", "GB": "GBR", "IE": "IRL", "IT": "ITA", "LU": "LUX", "NL": "NLD", "NO": "NOR", "PL": "POL",
	"PT": "PRT", "SE": "SWE", "US": "USA", "IN": "IND", "AU": "AUS", "CA": "CAN",
}

func (c *CPO) locationDefaults(li *LocationInfo, chargerID string) {
	li.Name = cmp.Or(li.Name, chargerID)
	li.Address = cmp.Or(li.Address, "Unknown")
	li.City = cmp.Or(li.City, "Unknown")
	li.Country = cmp.Or(li.Country, alpha3[c.cfg.Party.CountryCode], "ZZZ")
	li.Coordinates.Latitude = cmp.Or(li.Coordinates.Latitude, "0.000000")
	li.Coordinates.Longitude = cmp.Or(li.Coordinates.Longitude, "0.000000")
	li.TimeZone = cmp.Or(li.TimeZone, "UTC")
	li.Standard = cmp.Or(li.Standard, "IEC_62196_T2")
	li.Format = cmp.Or(li.Format, "SOCKET")
	li.PowerType = cmp.Or(li.PowerType, "AC_3_PHASE")
	li.MaxVoltage = cmp.Or(li.MaxVoltage, 230)
	li.MaxAmperage = cmp.Or(li.MaxAmperage, 32)
	li.MaxPowerW = cmp.Or(li.MaxPowerW, 22000)
}

// locationInfo is what the catalog knows of a charger's site.
func (c *CPO) locationInfo(ctx context.Context, chargerID string) (LocationInfo, error) {
	if c.cfg.Catalog == nil {
		return LocationInfo{}, nil
	}
	l, err := c.cfg.Catalog.Location(ctx, chargerID)
	if err != nil {
		return LocationInfo{}, err
	}
	return locationInfoOf(l), nil
}

// locationInfoOf is what a Location takes from the catalog's location.
func locationInfoOf(l pricing.Location) LocationInfo {
	li := LocationInfo{Name: l.Name, Address: l.Address, City: l.City, PostalCode: l.PostalCode, Country: l.Country,
		TimeZone: l.TimeZone, Updated: l.UpdatedAt}
	if l.Coordinates != nil {
		li.Coordinates = GeoLocation{Latitude: l.Coordinates.Latitude, Longitude: l.Coordinates.Longitude}
	}
	return li
}

// connectorTariffs returns the id of the tariff of each of a charger's
// connectors that has one.
func (c *CPO) connectorTariffs(ctx context.Context, ch charging.Charger) (map[int][]string, error) {
	out := map[int][]string{}
	if c.cfg.Catalog == nil {
		return out, nil
	}
	for _, cn := range ch.Connectors {
		if cn.ConnectorID < 1 {
			continue
		}
		t, _, err := c.cfg.Catalog.TariffFor(ctx, ch.ID, cn.ConnectorID)
		if err != nil {
			return nil, err
		}
		if t != nil {
			out[cn.ConnectorID] = []string{t.ID}
		}
	}
	return out, nil
}

// tariffIDsOf is connectorTariffs from a charger's tariffs read with
// others (Catalog.TariffsOf).
func tariffIDsOf(ts map[int]*tariff.Tariff) map[int][]string {
	out := make(map[int][]string, len(ts))
	for conn, t := range ts {
		if t != nil {
			out[conn] = []string{t.ID}
		}
	}
	return out
}

// evseID is an eMI3 EVSE ID: country*party*E then the charger id and
// connector in the letters and digits eMI3 allows.
func (c *CPO) evseID(chargerID string, connectorID int) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(chargerID) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	id := c.cfg.Party.CountryCode + "*" + c.cfg.Party.PartyID + "*E" + b.String() + "*" + strconv.Itoa(connectorID)
	if len(id) > 48 {
		return ""
	}
	return id
}

// LocationView is the OCPI Location of a charger on its own (id the
// charger id); the Location of a site is made of its chargers' (assemble).
func (c *CPO) LocationView(ch charging.Charger, li LocationInfo, tariffIDs map[int][]string) Location {
	c.locationDefaults(&li, ch.ID)
	loc := Location{
		CountryCode: c.cfg.Party.CountryCode, PartyID: c.cfg.Party.PartyID, ID: ch.ID, Publish: !li.Unpublished,
		Name: li.Name, Address: li.Address, City: li.City, PostalCode: li.PostalCode, Country: li.Country,
		Coordinates: li.Coordinates, ParkingType: li.ParkingType, TimeZone: li.TimeZone,
		Operator: &BusinessDetails{Name: c.cfg.BusinessName},
	}
	last := ch.CreatedAt
	if li.Updated.After(last) {
		last = li.Updated
	}
	for _, cn := range ch.Connectors {
		if cn.ConnectorID < 1 {
			continue
		}
		at := cn.UpdatedAt
		for _, t := range []time.Time{li.Updated, ch.CreatedAt} {
			if t.After(at) {
				at = t
			}
		}
		if at.After(last) {
			last = at
		}
		// An OCPI EVSE is our EVSE, its OCPI Connectors its connectors
		// (ids their numbers within it: a 1.6 EVSE has connector "1").
		var conns []Connector
		for _, k := range evseConnectors(cn) {
			kat := at
			if k.UpdatedAt.After(kat) {
				kat = k.UpdatedAt
			}
			std, format, power := plugStandard(k, li)
			conns = append(conns, Connector{ID: strconv.Itoa(k.EVSEConnectorID), Standard: std, Format: format, PowerType: power,
				MaxVoltage: li.MaxVoltage, MaxAmperage: li.MaxAmperage, MaxElectricPower: li.MaxPowerW,
				TariffIDs: tariffIDs[cn.ConnectorID], LastUpdated: DateTime(kat)})
		}
		loc.EVSEs = append(loc.EVSEs, EVSE{
			UID: EVSEUID(ch.ID, cn.ConnectorID), EVSEID: c.evseID(ch.ID, cn.ConnectorID),
			Status:            EVSEStatusOf(cn),
			Capabilities:      []string{"REMOTE_START_STOP_CAPABLE", "RESERVABLE", "RFID_READER", "UNLOCK_CAPABLE"},
			Connectors:        conns,
			PhysicalReference: strconv.Itoa(cn.ConnectorID),
			LastUpdated:       DateTime(at),
		})
	}
	loc.LastUpdated = DateTime(last)
	return loc
}

// evseConnectors are the connectors of an EVSE entry, numbered within it:
// those it lists, or the entry itself as connector 1 (an entry built
// without them).
func evseConnectors(e charging.Connector) []charging.Connector {
	if len(e.EVSEConnectors) > 0 {
		return e.EVSEConnectors
	}
	k := e
	k.EVSEConnectorID = charging.DefaultEVSEConnector(e.ConnectorID, 0)
	return []charging.Connector{k}
}

// plugStandards are the OCPI ConnectorType of each plug type.
var plugStandards = map[charging.PlugType]string{
	charging.PlugCCS1: "IEC_62196_T1_COMBO", charging.PlugCCS2: "IEC_62196_T2_COMBO", charging.PlugCHAdeMO: "CHADEMO",
	charging.PlugTesla: "TESLA_S", charging.PlugType1: "IEC_62196_T1", charging.PlugType2: "IEC_62196_T2",
	charging.PlugType3: "IEC_62196_T3C", charging.PlugIEC60309P1: "IEC_60309_2_single_16",
	charging.PlugIEC60309P3: "IEC_60309_2_three_16", charging.PlugIEC60309L3: "IEC_60309_2_three_32",
	charging.PlugSchuko: "DOMESTIC_F", charging.PlugPantograph: "PANTOGRAPH_TOP_DOWN",
}

// plugStandard is a connector's OCPI standard, format and power type: from
// the plug the charger described, else the charger's configured ones. A
// described plug's power type is DC for a DC plug, else the configured
// one unless that is DC (then AC_3_PHASE, Type 1's AC_1_PHASE).
func plugStandard(k charging.Connector, li LocationInfo) (standard, format, power string) {
	std, ok := plugStandards[k.Plug]
	if !ok {
		return li.Standard, li.Format, li.PowerType
	}
	format = "SOCKET"
	if k.Cable {
		format = "CABLE"
	}
	switch power = li.PowerType; {
	case k.Plug.DC():
		power = "DC"
	case k.Plug == charging.PlugType1 || k.Plug == charging.PlugIEC60309P1 || k.Plug == charging.PlugSchuko:
		power = "AC_1_PHASE"
	case power == "DC":
		power = "AC_3_PHASE"
	}
	return std, format, power
}

// connectorOf is the OCPI connector id of a session: its connector within
// its EVSE, "1" when not known.
func connectorOf(s charging.Session) string {
	return strconv.Itoa(charging.DefaultEVSEConnector(s.ConnectorID, s.EVSEConnectorID))
}

// inWindow reports whether t is in the page's [date_from, date_to).
func (p Page) inWindow(t time.Time) bool {
	return (p.From.IsZero() || !t.Before(p.From)) && (p.To.IsZero() || t.Before(p.To))
}

func (c *CPO) getLocations(w http.ResponseWriter, r *http.Request) error {
	p, err := parsePage(r.URL.Query())
	if err != nil {
		return err
	}
	all, err := c.locations(r.Context())
	if err != nil {
		return err
	}
	var match []Location
	for _, l := range all {
		if p.inWindow(time.Time(l.LastUpdated)) {
			match = append(match, l)
		}
	}
	c.writePage(w, r, p, len(match), pageOf(match, p))
	return nil
}

// pageOf returns the page's slice of items (never nil).
func pageOf[T any](items []T, p Page) []T {
	if p.Offset >= len(items) {
		return []T{}
	}
	end := min(len(items), p.Offset+p.Limit)
	return items[p.Offset:end]
}

func (c *CPO) getLocation(w http.ResponseWriter, r *http.Request) error {
	loc, err := c.location(r.Context(), r.PathValue("location_id"))
	if errors.Is(err, charging.ErrNotFound) {
		return errorf(http.StatusNotFound, StatusUnknownLocation, "unknown location %q", r.PathValue("location_id"))
	}
	if err != nil {
		return err
	}
	evseUID := r.PathValue("evse_uid")
	if evseUID == "" {
		c.writeResponse(w, http.StatusOK, loc)
		return nil
	}
	for _, e := range loc.EVSEs {
		if e.UID != evseUID {
			continue
		}
		cid := r.PathValue("connector_id")
		if cid == "" {
			c.writeResponse(w, http.StatusOK, e)
			return nil
		}
		for _, cn := range e.Connectors {
			if cn.ID == cid {
				c.writeResponse(w, http.StatusOK, cn)
				return nil
			}
		}
		return errorf(http.StatusNotFound, StatusUnknownLocation, "unknown connector %q of EVSE %q", cid, evseUID)
	}
	return errorf(http.StatusNotFound, StatusUnknownLocation, "unknown EVSE %q at location %q", evseUID, loc.ID)
}

// pushAll queues a push of a module object to every registered peer that
// has a receiver endpoint for the module.
func (c *CPO) pushAll(ctx context.Context, module, object, method, path string, body any) error {
	if loc, ok := body.(Location); ok && module == "locations" && method == http.MethodPut {
		// A charger's own Location (the catalog sync in sync.go builds
		// them): eMSPs get the Location its EVSEs are in now, its site's
		// when it has one.
		return c.pushChargerLocation(ctx, nil, loc.ID)
	}
	return c.pushEach(ctx, push{Object: object, Module: module, Path: path, Method: method}, body, nil)
}

// pushWhole queues a PUT of a whole object that later PATCHes will change,
// recording per party that it has it once delivered (outbox track).
func (c *CPO) pushWhole(ctx context.Context, module, object, path string, body any) error {
	return c.pushEach(ctx, push{Object: object, Module: module, Path: path, Method: http.MethodPut, Track: true}, body, nil)
}

// pushPatch queues a PATCH of part of an object with the whole object
// (at fullPath, made by full only when some party is to get the PATCH): a
// party that was never sent the object, or refuses the PATCH, gets a PUT
// of the whole instead.
func (c *CPO) pushPatch(ctx context.Context, module, object, path string, patch any, fullPath string, full func() (any, error)) error {
	return c.pushEach(ctx, push{Object: object, Module: module, Path: path, Method: http.MethodPatch, FullPath: fullPath}, patch, full)
}

// pushEach queues a copy of tmpl, with body (and the whole object from
// full, when not nil), for every registered party that has a receiver
// interface of its module.
func (c *CPO) pushEach(ctx context.Context, tmpl push, body any, full func() (any, error)) error {
	ps, err := c.peers.list(ctx)
	if err != nil {
		return err
	}
	var pushes []push
	for _, p := range ps {
		if p.Status != PeerRegistered || p.EndpointURL(tmpl.Module, RoleReceiver) == "" {
			continue
		}
		e := tmpl
		e.Peer = p.Key
		pushes = append(pushes, e)
	}
	if len(pushes) == 0 {
		return nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var whole json.RawMessage
	if full != nil {
		v, err := full()
		if err != nil {
			return err
		}
		if whole, err = json.Marshal(v); err != nil {
			return err
		}
	}
	for i := range pushes {
		pushes[i].Body, pushes[i].Full = b, whole
	}
	if err := c.out.add(ctx, pushes...); err != nil {
		return fmt.Errorf("queue %s %s: %w", tmpl.Method, tmpl.Object, err)
	}
	return nil
}
