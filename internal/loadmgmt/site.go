package loadmgmt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// DocSite is the document kind sites are stored under.
const DocSite = "site"

// DefaultConnectorMaxKW is a connector's maximum when its site names none
// for its charger: 22 kW, the most an AC connector (32 A, three phases)
// draws.
const DefaultConnectorMaxKW = 22.0

// Site is chargers behind one grid connection, as the operator configures
// it.
type Site struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// MaxPowerKW is the connection's maximum import power.
	MaxPowerKW float64 `json:"max_power_kw"`
	// MaxCurrentA, when set, is the connection's maximum current per phase.
	MaxCurrentA float64 `json:"max_current_a,omitempty"`
	// Chargers are the site's chargers; a charger is in at most one site.
	Chargers []string `json:"chargers"`
	// ChargerMaxKW is a charger's per-connector maximum, when it is not
	// DefaultConnectorMaxKW.
	ChargerMaxKW map[string]float64 `json:"charger_max_kw,omitempty"`
	// Priorities rank connectors: a higher number is served first and
	// paused last.
	Priorities Priorities `json:"priorities,omitzero"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Priorities give connectors a priority (0 by default). An id tag's
// priority wins over its connector's, a connector's ("CP-1/2") over its
// charger's ("CP-1").
type Priorities struct {
	Chargers map[string]int `json:"chargers,omitempty"`
	IDTags   map[string]int `json:"id_tags,omitempty"`
}

// Site errors, mapped to HTTP statuses and CLI messages at the edges.
var (
	// ErrInvalidSite: the site's fields are not acceptable.
	ErrInvalidSite = errors.New("invalid site")
	// ErrChargerInOtherSite: a charger may belong to one site only.
	ErrChargerInOtherSite = errors.New("charger already belongs to another site")
)

// Validate checks a site and says what to fix.
func (s *Site) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSite, fmt.Sprintf(format, a...))
	}
	if err := charging.ValidateChargerID(s.ID); err != nil {
		return bad("site id: %v", err)
	}
	if len(s.Name) > 100 {
		return bad("name is %d characters long; at most 100", len(s.Name))
	}
	if !(s.MaxPowerKW > 0) || s.MaxPowerKW > 1e6 || math.IsInf(s.MaxPowerKW, 0) {
		return bad("max_power_kw must be a positive number of kW (at most 1000000), got %v", s.MaxPowerKW)
	}
	if s.MaxCurrentA < 0 || s.MaxCurrentA > 1e5 || math.IsNaN(s.MaxCurrentA) {
		return bad("max_current_a must be 0 (none) or a positive number of A, got %v", s.MaxCurrentA)
	}
	if len(s.Chargers) > 10000 {
		return bad("%d chargers; at most 10000 per site", len(s.Chargers))
	}
	seen := make(map[string]bool, len(s.Chargers))
	for _, c := range s.Chargers {
		if err := charging.ValidateChargerID(c); err != nil {
			return bad("charger %q: %v", c, err)
		}
		if seen[c] {
			return bad("charger %s is listed twice", c)
		}
		seen[c] = true
	}
	for c, kw := range s.ChargerMaxKW {
		if !seen[c] {
			return bad("charger_max_kw names %s, which is not one of the site's chargers", c)
		}
		if !(kw > 0) || kw > 1e4 || math.IsInf(kw, 0) {
			return bad("charger_max_kw of %s must be a positive number of kW, got %v", c, kw)
		}
	}
	for k := range s.Priorities.Chargers {
		ch, _, _ := strings.Cut(k, "/")
		if !seen[ch] {
			return bad("priorities.chargers names %s, which is not one of the site's chargers (use CHARGER or CHARGER/CONNECTOR)", k)
		}
	}
	for k := range s.Priorities.IDTags {
		if k == "" || len(k) > 36 {
			return bad("priorities.id_tags: id tag %q must be 1 to 36 characters", k)
		}
	}
	return nil
}

// LimitW is the site's usable power, its power limit capped by its
// per-phase current limit.
func (s *Site) grid() Grid {
	return Grid{LimitW: s.MaxPowerKW * 1000, PhaseLimitA: s.MaxCurrentA}
}

// ConnectorMaxW is the most a connector of the charger may draw.
func (s *Site) ConnectorMaxW(chargerID string) float64 {
	if kw, ok := s.ChargerMaxKW[chargerID]; ok {
		return kw * 1000
	}
	return DefaultConnectorMaxKW * 1000
}

// Priority ranks a connector charging for idTag.
func (s *Site) Priority(chargerID string, connectorID int, idTag string) int {
	if p, ok := s.Priorities.IDTags[idTag]; ok && idTag != "" {
		return p
	}
	if p, ok := s.Priorities.Chargers[fmt.Sprintf("%s/%d", chargerID, connectorID)]; ok {
		return p
	}
	return s.Priorities.Chargers[chargerID]
}

// Sites keeps sites as documents.
type Sites struct {
	docs charging.DocStore
}

// NewSites returns the sites kept in docs.
func NewSites(docs charging.DocStore) *Sites { return &Sites{docs: docs} }

// Get returns a site, or charging.ErrNotFound.
func (s *Sites) Get(ctx context.Context, id string) (Site, error) {
	d, err := s.docs.GetDoc(ctx, DocSite, id)
	if err != nil {
		return Site{}, fmt.Errorf("site %s: %w", id, err)
	}
	var site Site
	if err := json.Unmarshal(d.Body, &site); err != nil {
		return Site{}, fmt.Errorf("site %s: stored document unreadable: %w", id, err)
	}
	return site, nil
}

// List returns every site, ordered by id.
func (s *Sites) List(ctx context.Context) ([]Site, error) {
	var out []Site
	for offset := 0; ; {
		docs, total, err := s.docs.ListDocs(ctx, charging.DocQuery{Kind: DocSite, Offset: offset, Limit: 500})
		if err != nil {
			return nil, fmt.Errorf("list sites: %w", err)
		}
		for _, d := range docs {
			var site Site
			if err := json.Unmarshal(d.Body, &site); err != nil {
				return nil, fmt.Errorf("site %s: stored document unreadable: %w", d.ID, err)
			}
			out = append(out, site)
		}
		offset += len(docs)
		if len(docs) == 0 || offset >= total {
			break
		}
	}
	slices.SortFunc(out, func(a, b Site) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// put stores a site after checking that none of its chargers belongs to
// another site. The caller serializes puts (Manager.mu).
func (s *Sites) put(ctx context.Context, site Site) error {
	if err := site.Validate(); err != nil {
		return err
	}
	all, err := s.List(ctx)
	if err != nil {
		return err
	}
	mine := make(map[string]bool, len(site.Chargers))
	for _, c := range site.Chargers {
		mine[c] = true
	}
	for _, o := range all {
		if o.ID == site.ID {
			continue
		}
		for _, c := range o.Chargers {
			if mine[c] {
				return fmt.Errorf("%w: %s is in site %s; remove it there first", ErrChargerInOtherSite, c, o.ID)
			}
		}
	}
	body, err := json.Marshal(site)
	if err != nil {
		return err
	}
	if err := s.docs.PutDoc(ctx, charging.Doc{Kind: DocSite, ID: site.ID, Body: body, Updated: site.UpdatedAt}); err != nil {
		return fmt.Errorf("store site %s: %w", site.ID, err)
	}
	return nil
}

func (s *Sites) delete(ctx context.Context, id string) error {
	if err := s.docs.DeleteDoc(ctx, DocSite, id); err != nil {
		return fmt.Errorf("site %s: %w", id, err)
	}
	return nil
}
