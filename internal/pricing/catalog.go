package pricing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // operators name any IANA zone, whatever the machine has installed

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Document kinds the pricing package keeps in the DocStore.
const (
	DocTariff       = "tariff"
	DocAssignment   = "tariff_assignment"
	DocLocation     = "location"
	DocSessionPrice = "session_price"
)

// ReservedTariffID cannot be a tariff id: it names the assignments
// endpoint (/api/v1/tariffs/assignments).
const ReservedTariffID = "assignments"

// defaultAssignmentID is the document id of the default assignment.
const defaultAssignmentID = "default"

// Chargers is what the catalog needs to know about chargers.
type Chargers interface {
	GetCharger(ctx context.Context, id string) (charging.Charger, error)
}

// Catalog keeps the operator's tariffs, their assignment to connectors and
// the chargers' locations, as documents.
type Catalog struct {
	docs        charging.DocStore
	chargers    Chargers
	clock       charging.Clock
	defaultZone *time.Location
	// events, when set, hears of tariff changes (charging.TariffChanged).
	events charging.EventPort

	// mu guards zones, the time zones loaded so far by name.
	mu    sync.Mutex
	zones map[string]*time.Location
}

// NewCatalog returns the catalog kept in docs. defaultZone is the zone of
// chargers whose location names none (nil means UTC).
func NewCatalog(docs charging.DocStore, chargers Chargers, clock charging.Clock, defaultZone *time.Location) *Catalog {
	if defaultZone == nil {
		defaultZone = time.UTC
	}
	return &Catalog{docs: docs, chargers: chargers, clock: clock, defaultZone: defaultZone, zones: map[string]*time.Location{}}
}

// AnnounceTo has every later tariff change (put or delete) published on
// ep as a charging.TariffChanged event naming the tariff. Call it before
// the catalog is used.
func (c *Catalog) AnnounceTo(ep charging.EventPort) { c.events = ep }

// announce publishes a TariffChanged event for tariff id. The change is
// already stored: on failure the caller's error says so, and repeating
// the request announces it again.
func (c *Catalog) announce(ctx context.Context, id string) error {
	if c.events == nil {
		return nil
	}
	e := charging.Event{Kind: charging.TariffChanged, At: c.clock.Now(), TariffID: id}
	if err := c.events.Publish(ctx, e); err != nil {
		return fmt.Errorf("tariff %s changed, but announcing the change failed (repeat the request): %w", id, err)
	}
	return nil
}

// DefaultZone is the zone of chargers without a location time zone.
func (c *Catalog) DefaultZone() *time.Location { return c.defaultZone }

// PutTariff validates and stores a tariff, replacing the one with its id;
// it reports whether the tariff is new. A missing last_updated is set to
// now. Validation problems come back as a *tariff.ValidationError.
func (c *Catalog) PutTariff(ctx context.Context, t *tariff.Tariff) (created bool, err error) {
	if t.LastUpdated.IsZero() {
		t.LastUpdated = tariff.DateTime{Time: c.clock.Now().UTC().Truncate(time.Second)}
	}
	verr := t.Validate()
	if err := CheckTariffID(t.ID); err != nil && t.ID != "" {
		var ve *tariff.ValidationError
		if !errors.As(verr, &ve) {
			ve = &tariff.ValidationError{}
		}
		ve.Problems = append(ve.Problems, tariff.FieldError{Field: "id", Problem: err.Error()})
		verr = ve
	}
	if verr != nil {
		return false, verr
	}
	body, err := json.Marshal(t)
	if err != nil {
		return false, fmt.Errorf("encode tariff %s: %w", t.ID, err)
	}
	_, err = c.docs.GetDoc(ctx, DocTariff, t.ID)
	switch {
	case errors.Is(err, charging.ErrNotFound):
		created = true
	case err != nil:
		return false, fmt.Errorf("put tariff %s: %w", t.ID, err)
	}
	if err := c.docs.PutDoc(ctx, charging.Doc{Kind: DocTariff, ID: t.ID, Body: body, Updated: t.LastUpdated.Time}); err != nil {
		return false, fmt.Errorf("put tariff %s: %w", t.ID, err)
	}
	return created, c.announce(ctx, t.ID)
}

// CheckTariffID checks what the spec leaves open about a tariff id (1 to
// 36 characters): we put it in URLs and file names, so it must be
// printable ASCII without space, / ? # or %, and not ReservedTariffID.
func CheckTariffID(id string) error {
	if id == ReservedTariffID {
		return fmt.Errorf("%q is reserved (it names the assignments endpoint); choose another id", ReservedTariffID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || strings.IndexByte("/?#%", c) >= 0 {
			return fmt.Errorf("%q has character %q; use printable ASCII without space, / ? # or %%", id, c)
		}
	}
	return nil
}

// Tariff returns a stored tariff, or an error matching charging.ErrNotFound.
func (c *Catalog) Tariff(ctx context.Context, id string) (*tariff.Tariff, error) {
	d, err := c.docs.GetDoc(ctx, DocTariff, id)
	if err != nil {
		return nil, fmt.Errorf("tariff %s: %w", id, err)
	}
	t, err := tariff.ParseTariff(d.Body)
	if err != nil {
		return nil, fmt.Errorf("stored tariff %s: %w", id, err)
	}
	return t, nil
}

// Tariffs returns every stored tariff, ordered by id.
func (c *Catalog) Tariffs(ctx context.Context) ([]*tariff.Tariff, error) {
	docs, _, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: DocTariff})
	if err != nil {
		return nil, fmt.Errorf("list tariffs: %w", err)
	}
	out := make([]*tariff.Tariff, 0, len(docs))
	for _, d := range docs {
		t, err := tariff.ParseTariff(d.Body)
		if err != nil {
			return nil, fmt.Errorf("stored tariff %s: %w", d.ID, err)
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *tariff.Tariff) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// TariffQuery selects a page of tariffs by last_updated.
type TariffQuery struct {
	// From (inclusive) and To (exclusive), when set, bound last_updated.
	From, To time.Time
	// Offset skips that many; Limit keeps at most that many (0: all).
	Offset, Limit int
}

// TariffPage returns the stored tariffs q selects, ordered by last_updated
// then id, and how many match in all (the page and the count agree). It
// is the catalog as it is now: OCPI's Tariffs pull serves it as it is.
func (c *Catalog) TariffPage(ctx context.Context, q TariffQuery) ([]*tariff.Tariff, int, error) {
	docs, total, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: DocTariff, From: q.From, To: q.To, Offset: q.Offset, Limit: q.Limit})
	if err != nil {
		return nil, 0, fmt.Errorf("list tariffs: %w", err)
	}
	out := make([]*tariff.Tariff, 0, len(docs))
	for _, d := range docs {
		t, err := tariff.ParseTariff(d.Body)
		if err != nil {
			return nil, 0, fmt.Errorf("stored tariff %s: %w", d.ID, err)
		}
		out = append(out, t)
	}
	return out, total, nil
}

// DeleteTariff removes a tariff that nothing is assigned to; an assigned
// one is refused with charging.ErrConflict.
func (c *Catalog) DeleteTariff(ctx context.Context, id string) error {
	as, err := c.Assignments(ctx)
	if err != nil {
		return err
	}
	var users []string
	for _, a := range as {
		if a.TariffID == id {
			users = append(users, a.String())
		}
	}
	if len(users) > 0 {
		return fmt.Errorf("%w: tariff %s is assigned to %s; assign another tariff there first", charging.ErrConflict, id, strings.Join(users, ", "))
	}
	if err := c.docs.DeleteDoc(ctx, DocTariff, id); err != nil {
		return fmt.Errorf("delete tariff %s: %w", id, err)
	}
	return c.announce(ctx, id)
}

// Assignment says which tariff prices the sessions of a connector, of all
// connectors of a charger (ConnectorID 0), or of every connector without
// one (Default).
type Assignment struct {
	Default     bool      `json:"default,omitempty"`
	ChargerID   string    `json:"charger_id,omitempty"`
	ConnectorID int       `json:"connector_id,omitempty"`
	TariffID    string    `json:"tariff_id"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

func (a Assignment) String() string {
	switch {
	case a.Default:
		return "the default"
	case a.ConnectorID == 0:
		return "charger " + a.ChargerID
	}
	return "charger " + a.ChargerID + " connector " + strconv.Itoa(a.ConnectorID)
}

func (a Assignment) docID() string {
	if a.Default {
		return defaultAssignmentID
	}
	return a.ChargerID + "/" + strconv.Itoa(a.ConnectorID)
}

// Assign stores an assignment; an empty TariffID removes it. The charger
// must exist (charging.ErrNotFound) and so must the tariff
// (charging.ErrInvalidInput).
func (c *Catalog) Assign(ctx context.Context, a Assignment) (Assignment, error) {
	switch {
	case a.Default && (a.ChargerID != "" || a.ConnectorID != 0):
		return a, fmt.Errorf("%w: an assignment is either the default or for a charger, not both", charging.ErrInvalidInput)
	case !a.Default && a.ChargerID == "":
		return a, fmt.Errorf("%w: say which charger (charger_id) or set default", charging.ErrInvalidInput)
	case a.ConnectorID < 0:
		return a, fmt.Errorf("%w: connector_id %d; connectors are numbered from 1 (0 or none: every connector of the charger)", charging.ErrInvalidInput, a.ConnectorID)
	}
	if !a.Default {
		if _, err := c.chargers.GetCharger(ctx, a.ChargerID); err != nil {
			return a, fmt.Errorf("assign a tariff to charger %s: %w", a.ChargerID, err)
		}
	}
	if a.TariffID == "" {
		err := c.docs.DeleteDoc(ctx, DocAssignment, a.docID())
		if err != nil && !errors.Is(err, charging.ErrNotFound) {
			return a, fmt.Errorf("unassign %s: %w", a, err)
		}
		return a, nil
	}
	if _, err := c.docs.GetDoc(ctx, DocTariff, a.TariffID); err != nil {
		if errors.Is(err, charging.ErrNotFound) {
			return a, fmt.Errorf("%w: tariff %s does not exist; add it first", charging.ErrInvalidInput, a.TariffID)
		}
		return a, fmt.Errorf("assign tariff %s: %w", a.TariffID, err)
	}
	a.UpdatedAt = c.clock.Now().UTC()
	body, err := json.Marshal(a)
	if err != nil {
		return a, err
	}
	if err := c.docs.PutDoc(ctx, charging.Doc{Kind: DocAssignment, ID: a.docID(), Owner: a.ChargerID, Body: body, Updated: a.UpdatedAt}); err != nil {
		return a, fmt.Errorf("assign tariff %s to %s: %w", a.TariffID, a, err)
	}
	return a, nil
}

// Assignments returns every assignment: the default first, then by charger
// and connector.
func (c *Catalog) Assignments(ctx context.Context) ([]Assignment, error) {
	docs, _, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: DocAssignment})
	if err != nil {
		return nil, fmt.Errorf("list tariff assignments: %w", err)
	}
	out := make([]Assignment, 0, len(docs))
	for _, d := range docs {
		var a Assignment
		if err := json.Unmarshal(d.Body, &a); err != nil {
			return nil, fmt.Errorf("stored tariff assignment %s: %w", d.ID, err)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Assignment) int {
		switch {
		case a.Default != b.Default:
			if a.Default {
				return -1
			}
			return 1
		case a.ChargerID != b.ChargerID:
			return strings.Compare(a.ChargerID, b.ChargerID)
		}
		return a.ConnectorID - b.ConnectorID
	})
	return out, nil
}

// TariffFor returns the tariff that prices sessions on a connector and the
// assignment it comes from; a nil tariff when there is none.
func (c *Catalog) TariffFor(ctx context.Context, chargerID string, connectorID int) (*tariff.Tariff, Assignment, error) {
	for _, a := range assignmentCandidates(chargerID, connectorID) {
		d, err := c.docs.GetDoc(ctx, DocAssignment, a.docID())
		if errors.Is(err, charging.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, a, fmt.Errorf("tariff assignment of %s: %w", a, err)
		}
		if err := json.Unmarshal(d.Body, &a); err != nil {
			return nil, a, fmt.Errorf("stored tariff assignment %s: %w", d.ID, err)
		}
		t, err := c.Tariff(ctx, a.TariffID)
		if err != nil {
			return nil, a, err
		}
		return t, a, nil
	}
	return nil, Assignment{}, nil
}

// assignmentCandidates are the assignments that may price a connector,
// the one that does first: the connector's own, its charger's, the
// default (a connector id of 0 is the whole charger).
func assignmentCandidates(chargerID string, connectorID int) []Assignment {
	candidates := []Assignment{{ChargerID: chargerID, ConnectorID: connectorID}, {ChargerID: chargerID}, {Default: true}}
	if connectorID == 0 {
		candidates = candidates[1:]
	}
	return candidates
}

// TariffsOf is TariffFor of every connector (1 and up) of each of the
// chargers, read in two statements (the assignments, then their tariffs)
// instead of up to four reads per connector: charger id → connector id →
// tariff, for the connectors that have one.
func (c *Catalog) TariffsOf(ctx context.Context, chargers []charging.Charger) (map[string]map[int]*tariff.Tariff, error) {
	type connector struct {
		charger string
		id      int
	}
	var connectors []connector
	var docIDs []string
	seen := map[string]bool{}
	for _, ch := range chargers {
		for _, cn := range ch.Connectors {
			if cn.ConnectorID < 1 {
				continue
			}
			connectors = append(connectors, connector{ch.ID, cn.ConnectorID})
			for _, a := range assignmentCandidates(ch.ID, cn.ConnectorID) {
				if id := a.docID(); !seen[id] {
					seen[id] = true
					docIDs = append(docIDs, id)
				}
			}
		}
	}
	found, err := charging.GetDocs(ctx, c.docs, DocAssignment, docIDs)
	if err != nil {
		return nil, fmt.Errorf("tariff assignments: %w", err)
	}
	type pick struct {
		connector
		tariff string
	}
	var picks []pick
	var tariffIDs []string
	wanted := map[string]bool{}
	for _, cn := range connectors {
		for _, a := range assignmentCandidates(cn.charger, cn.id) {
			d, ok := found[a.docID()]
			if !ok {
				continue
			}
			if err := json.Unmarshal(d.Body, &a); err != nil {
				return nil, fmt.Errorf("stored tariff assignment %s: %w", d.ID, err)
			}
			picks = append(picks, pick{cn, a.TariffID})
			if !wanted[a.TariffID] {
				wanted[a.TariffID] = true
				tariffIDs = append(tariffIDs, a.TariffID)
			}
			break
		}
	}
	tdocs, err := charging.GetDocs(ctx, c.docs, DocTariff, tariffIDs)
	if err != nil {
		return nil, fmt.Errorf("tariffs: %w", err)
	}
	parsed := make(map[string]*tariff.Tariff, len(tdocs))
	for _, id := range tariffIDs {
		d, ok := tdocs[id]
		if !ok {
			return nil, fmt.Errorf("tariff %s: %w", id, charging.ErrNotFound)
		}
		t, err := tariff.ParseTariff(d.Body)
		if err != nil {
			return nil, fmt.Errorf("stored tariff %s: %w", id, err)
		}
		parsed[id] = t
	}
	out := make(map[string]map[int]*tariff.Tariff)
	for _, p := range picks {
		if out[p.charger] == nil {
			out[p.charger] = map[int]*tariff.Tariff{}
		}
		out[p.charger][p.id] = parsed[p.tariff]
	}
	return out, nil
}

// Location is where a charger is: for pricing, its time zone; the rest is
// for the operator (and later the OCPI Location).
type Location struct {
	ChargerID string `json:"charger_id"`
	// TimeZone is an IANA zone name; empty means the server's --time-zone.
	TimeZone    string       `json:"time_zone"`
	Name        string       `json:"name,omitempty"`
	Address     string       `json:"address,omitempty"`
	City        string       `json:"city,omitempty"`
	PostalCode  string       `json:"postal_code,omitempty"`
	Country     string       `json:"country,omitempty"`
	Coordinates *Coordinates `json:"coordinates,omitempty"`
	// DefaultTimeZone is set (in answers only) when TimeZone is the
	// server's default because the operator set none.
	DefaultTimeZone bool      `json:"default_time_zone,omitempty"`
	UpdatedAt       time.Time `json:"updated_at,omitzero"`
}

// Coordinates are a WGS 84 position, as OCPI writes it (decimal strings).
type Coordinates struct {
	Latitude  string `json:"latitude"`
	Longitude string `json:"longitude"`
}

// SetLocation stores a charger's location. The time zone must be an IANA
// name (e.g. Europe/Amsterdam); empty means the server's default.
func (c *Catalog) SetLocation(ctx context.Context, l Location) (Location, error) {
	l.DefaultTimeZone = false
	if l.TimeZone != "" {
		if _, err := c.zone(l.TimeZone); err != nil {
			return l, fmt.Errorf("%w: time_zone %q is not an IANA time zone (e.g. Europe/Amsterdam, America/New_York, UTC)", charging.ErrInvalidInput, l.TimeZone)
		}
	}
	if len(l.Name) > 255 || len(l.Address) > 45 || len(l.City) > 45 || len(l.PostalCode) > 10 || (l.Country != "" && len(l.Country) != 3) {
		return l, fmt.Errorf("%w: location fields too long (OCPI: name 255, address 45, city 45, postal_code 10; country is ISO 3166 alpha-3)", charging.ErrInvalidInput)
	}
	if _, err := c.chargers.GetCharger(ctx, l.ChargerID); err != nil {
		return l, fmt.Errorf("location of charger %s: %w", l.ChargerID, err)
	}
	l.UpdatedAt = c.clock.Now().UTC()
	body, err := json.Marshal(l)
	if err != nil {
		return l, err
	}
	if err := c.docs.PutDoc(ctx, charging.Doc{Kind: DocLocation, ID: l.ChargerID, Owner: l.ChargerID, Body: body, Updated: l.UpdatedAt}); err != nil {
		return l, fmt.Errorf("location of charger %s: %w", l.ChargerID, err)
	}
	return c.withDefault(l), nil
}

// Location returns a charger's location, with the default time zone when
// the operator set none (or no location at all).
func (c *Catalog) Location(ctx context.Context, chargerID string) (Location, error) {
	d, err := c.docs.GetDoc(ctx, DocLocation, chargerID)
	if errors.Is(err, charging.ErrNotFound) {
		if _, err := c.chargers.GetCharger(ctx, chargerID); err != nil {
			return Location{}, fmt.Errorf("location of charger %s: %w", chargerID, err)
		}
		return c.withDefault(Location{ChargerID: chargerID}), nil
	}
	if err != nil {
		return Location{}, fmt.Errorf("location of charger %s: %w", chargerID, err)
	}
	var l Location
	if err := json.Unmarshal(d.Body, &l); err != nil {
		return Location{}, fmt.Errorf("stored location of charger %s: %w", chargerID, err)
	}
	return c.withDefault(l), nil
}

// LocationsOf is Location of each of the chargers (which exist), read in
// one statement: charger id → location.
func (c *Catalog) LocationsOf(ctx context.Context, chargerIDs []string) (map[string]Location, error) {
	docs, err := charging.GetDocs(ctx, c.docs, DocLocation, chargerIDs)
	if err != nil {
		return nil, fmt.Errorf("locations: %w", err)
	}
	out := make(map[string]Location, len(chargerIDs))
	for _, id := range chargerIDs {
		l := Location{ChargerID: id}
		if d, ok := docs[id]; ok {
			if err := json.Unmarshal(d.Body, &l); err != nil {
				return nil, fmt.Errorf("stored location of charger %s: %w", id, err)
			}
		}
		out[id] = c.withDefault(l)
	}
	return out, nil
}

// Locations returns every location an operator set, ordered by charger id
// (at most limit; how many there are in all is the second result).
func (c *Catalog) Locations(ctx context.Context, limit int) ([]Location, int, error) {
	docs, total, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: DocLocation, Limit: limit})
	if err != nil {
		return nil, 0, fmt.Errorf("list locations: %w", err)
	}
	out := make([]Location, 0, len(docs))
	for _, d := range docs {
		var l Location
		if err := json.Unmarshal(d.Body, &l); err != nil {
			return nil, 0, fmt.Errorf("stored location of charger %s: %w", d.ID, err)
		}
		out = append(out, c.withDefault(l))
	}
	slices.SortFunc(out, func(a, b Location) int { return strings.Compare(a.ChargerID, b.ChargerID) })
	return out, total, nil
}

func (c *Catalog) withDefault(l Location) Location {
	if l.TimeZone == "" {
		l.TimeZone, l.DefaultTimeZone = c.defaultZone.String(), true
	}
	return l
}

// Zone returns the time zone of a charger's location.
func (c *Catalog) Zone(ctx context.Context, chargerID string) (*time.Location, error) {
	d, err := c.docs.GetDoc(ctx, DocLocation, chargerID)
	if errors.Is(err, charging.ErrNotFound) {
		return c.defaultZone, nil
	}
	if err != nil {
		return nil, fmt.Errorf("location of charger %s: %w", chargerID, err)
	}
	var l Location
	if err := json.Unmarshal(d.Body, &l); err != nil {
		return nil, fmt.Errorf("stored location of charger %s: %w", chargerID, err)
	}
	if l.TimeZone == "" {
		return c.defaultZone, nil
	}
	return c.zone(l.TimeZone)
}

// zone loads a zone by name, once.
func (c *Catalog) zone(name string) (*time.Location, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if z, ok := c.zones[name]; ok {
		return z, nil
	}
	z, err := LoadZone(name)
	if err != nil {
		return nil, err
	}
	c.zones[name] = z
	return z, nil
}

// LoadZone loads an IANA time zone by name. Unlike time.LoadLocation it
// refuses "" and "Local", which name no place.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("time zone %q names no place; use an IANA name such as Europe/Amsterdam or UTC", name)
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w (use an IANA name such as Europe/Amsterdam)", name, err)
	}
	return z, nil
}
