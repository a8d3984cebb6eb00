package beckn

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/charging"
)

// CatalogConfig describes what the chargers offer. chargebridge does not
// yet know each connector's plug and power from the chargers themselves,
// so every connector is offered with the configured ones.
type CatalogConfig struct {
	// ProviderID and ProviderName identify the operator (default: the
	// subscriber id).
	ProviderID   string
	ProviderName string
	// ConnectorType is an EvChargingService connectorType: CCS2, Type2,
	// CHAdeMO or GB_T (default Type2).
	ConnectorType string
	// MaxPowerKW is the connectors' maximum power (default 22).
	MaxPowerKW float64
	// Location is where the chargers are, when known; spatial discovery
	// leaves out items without one.
	Location *Point
	// Sites, when set, group chargers: the charging station of a charger
	// in a site is the site (its id and name), of one in none the charger.
	Sites Sites
}

// Site is chargers behind one grid connection (load management's site).
type Site struct {
	ID, Name string
	Chargers []string
}

// Sites lists the operator's sites (wired in internal/server).
type Sites interface {
	Sites(ctx context.Context) ([]Site, error)
}

// siteOf maps each charger in a site to its site.
func (b *BPP) siteOf(ctx context.Context) (map[string]*Site, error) {
	out := map[string]*Site{}
	if b.cfg.Catalog.Sites == nil {
		return out, nil
	}
	ss, err := b.cfg.Catalog.Sites.Sites(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ss {
		for _, ch := range ss[i].Chargers {
			out[ch] = &ss[i]
		}
	}
	return out, nil
}

// Point is a WGS 84 position.
type Point struct{ Lat, Lon float64 }

// ConnectorTypes are the connectorType values of EvChargingService v2.0.
var ConnectorTypes = []string{"CCS2", "Type2", "CHAdeMO", "GB_T"}

// degPlugs are the core's plugs that EvChargingService's connectorType
// names (its enum: CCS2, Type2, CHAdeMO, GB_T).
var degPlugs = map[charging.PlugType]string{
	charging.PlugCCS2: "CCS2", charging.PlugType2: "Type2", charging.PlugCHAdeMO: "CHAdeMO",
}

// itemPlug is what an item or a session says of its plug, in
// EvChargingService's words: connectorType, powerType (AC_SINGLE_PHASE,
// AC_3_PHASE or DC) and connectorFormat (SOCKET or CABLE, "" when not
// known).
type itemPlug struct{ connectorType, powerType, format string }

// plugOf is the plug of an EVSE: that of its first connector whose plug
// the charger described (a 2.0.1 station's device model) and DEG can
// name; else the configured connector type, whose format is not known.
// An item has one connectorType, so an EVSE with a CCS2 and a Type2
// connector is offered as its first.
func (b *BPP) plugOf(cn charging.Connector) itemPlug {
	conns := cn.EVSEConnectors
	if len(conns) == 0 {
		conns = []charging.Connector{cn}
	}
	for _, c := range conns {
		if t, ok := degPlugs[c.Plug]; ok {
			p := itemPlug{connectorType: t, powerType: powerTypeOf(t), format: "SOCKET"}
			if c.Cable {
				p.format = "CABLE"
			}
			return p
		}
	}
	t := b.cfg.Catalog.ConnectorType
	return itemPlug{connectorType: t, powerType: powerTypeOf(t)}
}

// powerTypeOf is the powerType of a DEG connectorType: Type2 is
// three-phase AC, the others DC.
func powerTypeOf(connectorType string) string {
	if connectorType == "Type2" {
		return "AC_3_PHASE"
	}
	return "DC"
}

// ParsePoint reads "LAT,LON".
func ParsePoint(s string) (*Point, error) {
	a, b, ok := strings.Cut(s, ",")
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if !ok || err1 != nil || err2 != nil || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return nil, fmt.Errorf("location %q: want LAT,LON in degrees, e.g. 52.3702,4.8952", s)
	}
	return &Point{Lat: lat, Lon: lon}, nil
}

func (c *CatalogConfig) defaults(subscriberID string) {
	if c.ProviderID == "" {
		c.ProviderID = subscriberID
	}
	if c.ProviderName == "" {
		c.ProviderName = c.ProviderID
	}
	if c.ConnectorType == "" {
		c.ConnectorType = "Type2"
	}
	if c.MaxPowerKW <= 0 {
		c.MaxPowerKW = 22
	}
}

// ItemID is the Beckn item id of an EVSE (a 1.6 connector n is EVSE n):
// "{chargerId}-{connectorId}", the same as its OCPI EVSE uid. An EVSE is
// booked and reserved as a whole (a 2.0.1 reservation names an EVSE), so
// an EVSE with several connectors is one item, available when its folded
// status is.
func ItemID(chargerID string, connectorID int) string {
	return chargerID + "-" + strconv.Itoa(connectorID)
}

// ParseItemID splits an item id at its last '-'.
func ParseItemID(id string) (chargerID string, connectorID int, err error) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, fmt.Errorf("item %q is not {chargerId}-{connectorId}", id)
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 1 || n > 1000 {
		return "", 0, fmt.Errorf("item %q is not {chargerId}-{connectorId}", id)
	}
	return id[:i], n, nil
}

// item describes one EVSE as an Item; its charging station is its
// charger's site when it has one (site not nil).
func (b *BPP) item(ch charging.Charger, cn charging.Connector, site *Site) Item {
	cfg := b.cfg.Catalog
	p := b.plugOf(cn)
	current := "AC"
	if p.powerType == "DC" {
		current = "DC"
	}
	station, at := ch.ID, ch.ID
	if site != nil {
		station, at = site.ID, cmp.Or(site.Name, site.ID)
	}
	it := Item{
		Context: CoreContext, Type: "beckn:Item", ID: ItemID(ch.ID, cn.ConnectorID),
		Descriptor: Descriptor{Type: "beckn:Descriptor",
			Name:      fmt.Sprintf("%s connector %d - %s %g kW", ch.ID, cn.ConnectorID, p.connectorType, cfg.MaxPowerKW),
			ShortDesc: fmt.Sprintf("%s charging at %s", current, at)},
		Category: Category{Type: "schema:CategoryCode", CodeValue: "ev-charging", Name: "EV Charging"},
		Window:   []TimePeriod{{Type: "beckn:TimePeriod", StartTime: "00:00:00", EndTime: "23:59:59"}},
		Rateable: true,
		// isActive says whether the connector can be used now.
		IsActive: ConnectorStatusOf(cn) == evsession.ConnectorAvailable,
		Provider: ItemProvider{ID: cfg.ProviderID, Descriptor: Descriptor{Type: "beckn:Descriptor", Name: cfg.ProviderName}},
		Attributes: ServiceAttributes{
			Context: ServiceContext, Type: "ChargingService", EvseID: ItemID(ch.ID, cn.ConnectorID),
			ConnectorType: p.connectorType, MaxPowerKW: cfg.MaxPowerKW, ReservationSupported: true,
			Station: &Station{ID: station}, PowerType: p.powerType, ConnectorFormat: p.format,
		},
	}
	if cfg.Location != nil {
		it.Attributes.Station.Location = &Location{Type: "beckn:Location",
			Geo: PointGeometry{Type: "Point", Coordinates: [2]float64{cfg.Location.Lon, cfg.Location.Lat}}}
	}
	return it
}

// offer is the offer of one item at its rate.
func (b *BPP) offer(ctx context.Context, it Item, chargerID string, connectorID int) (Offer, error) {
	r, err := b.cfg.Pricer.Rate(ctx, chargerID, connectorID)
	if err != nil {
		return Offer{}, err
	}
	return Offer{
		Context: CoreContext, Type: "beckn:Offer", ID: "offer-" + it.ID,
		Descriptor:      &Descriptor{Type: "beckn:Descriptor", Name: fmt.Sprintf("Per-kWh tariff - %s %g kW", b.cfg.Catalog.ConnectorType, b.cfg.Catalog.MaxPowerKW)},
		Items:           []string{it.ID},
		Provider:        b.cfg.Catalog.ProviderID,
		Price:           perKWh(r),
		OfferAttributes: &OfferAttribute{Context: OfferContext, Type: "ChargingOffer", TariffModel: "PER_KWH"},
	}, nil
}

// discover answers a discover with the connectors that pass its filters.
func (b *BPP) discover(ctx context.Context, m *discoverMessage) (any, *Error) {
	chargers, err := b.core.Store().ListChargers(ctx)
	if err != nil {
		return nil, errorf(CodeBusinessError, "the catalog is unavailable; retry later")
	}
	sites, err := b.siteOf(ctx)
	if err != nil {
		return nil, errorf(CodeBusinessError, "the catalog is unavailable; retry later")
	}
	var f *filter
	if m.Filters != nil {
		f, _ = parseFilter(m.Filters.Expression) // checked before the ACK
	}
	text := strings.ToLower(strings.TrimSpace(m.TextSearch))
	cat := Catalog{
		Context: CoreContext, Type: "beckn:Catalog", ID: "catalog-" + b.cfg.Catalog.ProviderID,
		Descriptor: Descriptor{Type: "beckn:Descriptor", Name: b.cfg.Catalog.ProviderName + " EV charging"},
		BppID:      b.id, BppURI: b.cfg.URI, Items: []Item{}, Offers: []Offer{},
	}
	for _, ch := range chargers {
		for _, cn := range ch.Connectors {
			if cn.ConnectorID < 1 {
				continue
			}
			it := b.item(ch, cn, sites[ch.ID])
			if !b.spatialMatch(it, m.Spatial) || !matchText(it, text) {
				continue
			}
			if f != nil {
				doc, err := asJSONValue(it)
				if err != nil || !f.match(doc) {
					continue
				}
			}
			o, err := b.offer(ctx, it, ch.ID, cn.ConnectorID)
			if err != nil {
				return nil, errorf(CodeBusinessError, "the catalog is unavailable; retry later")
			}
			cat.Items = append(cat.Items, it)
			cat.Offers = append(cat.Offers, o)
		}
	}
	return onDiscoverMessage{Catalogs: []Catalog{cat}}, nil
}

// matchText keeps items whose name or description mention every word of
// the text search; the words of a generic search ("EV charger fast
// charging") that name no item field are not held against it.
func matchText(it Item, text string) bool {
	if text == "" {
		return true
	}
	hay := strings.ToLower(it.ID + " " + it.Descriptor.Name + " " + it.Descriptor.ShortDesc + " " +
		it.Attributes.ConnectorType + " " + it.Attributes.PowerType + " ev charging charger station fast")
	for _, w := range strings.Fields(text) {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

func asJSONValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

// spatialMatch applies s_dwithin queries; an item without a location
// passes none.
func (b *BPP) spatialMatch(it Item, qs []SpatialQuery) bool {
	for _, q := range qs {
		if q.Op != "s_dwithin" {
			continue // other operators are not applied
		}
		p, _ := q.point()
		loc := it.Attributes.Station.Location
		if loc == nil {
			return false
		}
		c := loc.Geo.Coordinates
		if haversine(p.Lat, p.Lon, c[1], c[0]) > q.DistanceMeters {
			return false
		}
	}
	return true
}

// point reads a spatial query's Point.
func (q SpatialQuery) point() (Point, error) {
	if q.Op != "s_dwithin" {
		return Point{}, nil
	}
	if q.Geometry.Type != "Point" {
		return Point{}, fmt.Errorf("geometry %q is not supported with s_dwithin; use a Point", q.Geometry.Type)
	}
	var c []float64
	if err := json.Unmarshal(q.Geometry.Coordinates, &c); err != nil || len(c) < 2 {
		return Point{}, errors.New("Point coordinates must be [longitude, latitude]")
	}
	if math.Abs(c[1]) > 90 || math.Abs(c[0]) > 180 {
		return Point{}, errors.New("Point coordinates are out of range")
	}
	if q.DistanceMeters <= 0 || q.DistanceMeters > 20_100_000 {
		return Point{}, errors.New("distanceMeters must be positive (and on Earth)")
	}
	return Point{Lat: c[1], Lon: c[0]}, nil
}

// haversine is the great-circle distance in metres.
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}
