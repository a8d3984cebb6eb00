package ocpi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Sites group chargers into Locations. A site (load management's: the
// chargers behind one grid connection) is one Location whose id is the
// site's id and whose EVSEs are its chargers' connectors; a charger in no
// site is a Location of its own, id the charger id. When a site is
// created, changed or deleted, every Location that gained or lost EVSEs
// is PUT again; EVSEs that left a Location stay in it with status REMOVED
// (OCPI 2.2.1 has no DELETE of Locations or EVSEs), so pushes and pulls
// tell eMSPs the same, and a Location that lost all its EVSEs is served as
// REMOVED.

// Site is a group of chargers that is one Location.
type Site struct {
	ID   string
	Name string
	// Chargers are the site's chargers, in the order their EVSEs are
	// listed.
	Chargers []string
	// Updated is when the site last changed.
	Updated time.Time
}

// Sites lists the operator's sites (load management's, wired in
// internal/server).
type Sites interface {
	Sites(ctx context.Context) ([]Site, error)
}

// evseRemoved is the status of an EVSE that left its Location.
const evseRemoved EVSEStatus = "REMOVED"

// layout is which Location each charger's EVSEs are in.
type layout struct {
	site map[string]*Site // charger id → its site
	byID map[string]*Site // site id → site
}

// layoutMaxAge bounds how long a layout read from the sites is used
// without reading them again. A change made on this node is seen at once
// (SitesChanged); one made on another node within layoutMaxAge by events
// and pulls, and published within SyncInterval as before. Reading the
// sites for every event was a quarter to a half of the event worker's
// cost while a fleet came online (#16).
const layoutMaxAge = time.Second

// laidLayout is a layout as read, with the SitesChanged count before the
// read and when the read began (monotonic).
type laidLayout struct {
	l   layout
	gen uint64
	at  time.Time
}

// layout is which Location each charger's EVSEs are in: the last one
// read, if it is recent enough and no site changed on this node since
// (callers do not modify it), else readLayout's.
func (c *CPO) layout(ctx context.Context) (layout, error) {
	if ll := c.laid.Load(); ll != nil && ll.gen == c.sitesGen.Load() && time.Since(ll.at) < layoutMaxAge {
		return ll.l, nil
	}
	return c.readLayout(ctx)
}

// readLayout reads the layout from the sites and keeps it for layout.
// The count is taken before the read: a site change committed before its
// SitesChanged is then either in what is read or makes the count differ.
func (c *CPO) readLayout(ctx context.Context) (layout, error) {
	gen, at := c.sitesGen.Load(), time.Now()
	l, err := c.sitesLayout(ctx)
	if err != nil {
		return layout{}, err
	}
	c.laid.Store(&laidLayout{l: l, gen: gen, at: at})
	return l, nil
}

func (c *CPO) sitesLayout(ctx context.Context) (layout, error) {
	l := layout{site: map[string]*Site{}, byID: map[string]*Site{}}
	if c.cfg.Sites == nil {
		return l, nil
	}
	ss, err := c.cfg.Sites.Sites(ctx)
	if err != nil {
		return layout{}, fmt.Errorf("read sites: %w", err)
	}
	for i := range ss {
		s := &ss[i]
		l.byID[s.ID] = s
		for _, ch := range s.Chargers {
			l.site[ch] = s
		}
	}
	return l, nil
}

// locationID is the id of the Location a charger's EVSEs are in.
func (l layout) locationID(chargerID string) string {
	if s := l.site[chargerID]; s != nil {
		return s.ID
	}
	return chargerID
}

// members are the chargers whose EVSEs Location id has: a site's, or the
// charger whose own Location it is (none when that charger is in a site).
func (l layout) members(id string) []string {
	if s := l.byID[id]; s != nil {
		return s.Chargers
	}
	if l.site[id] != nil {
		return nil
	}
	return []string{id}
}

// Document kind and id of the published layout.
const (
	docLayout = "ocpi_layout"
	layoutID  = "published"
)

// published is the layout last published (kind ocpi_layout, id
// "published"): each site Location's chargers, when each charger last
// moved to another Location, and the EVSEs that left a Location, kept to
// be served there as REMOVED.
type published struct {
	Sites   map[string]pubSite   `json:"sites"`
	Moved   map[string]time.Time `json:"moved"`
	Removed map[string]Location  `json:"removed"`
}

// pubSite is a site Location as published.
type pubSite struct {
	Name     string   `json:"name"`
	Chargers []string `json:"chargers"`
}

func (c *CPO) published(ctx context.Context) (published, error) {
	p := published{Sites: map[string]pubSite{}, Moved: map[string]time.Time{}, Removed: map[string]Location{}}
	d, err := c.docs.GetDoc(ctx, docLayout, layoutID)
	if errors.Is(err, charging.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return published{}, err
	}
	if err := json.Unmarshal(d.Body, &p); err != nil {
		return published{}, fmt.Errorf("published OCPI layout unreadable: %w", err)
	}
	if p.Sites == nil {
		p.Sites = map[string]pubSite{}
	}
	if p.Moved == nil {
		p.Moved = map[string]time.Time{}
	}
	if p.Removed == nil {
		p.Removed = map[string]Location{}
	}
	return p, nil
}

// chargerView is a charger's EVSEs as its own Location.
func (c *CPO) chargerView(ctx context.Context, ch charging.Charger) (Location, error) {
	li, err := c.locationInfo(ctx, ch.ID)
	if err != nil {
		return Location{}, err
	}
	tids, err := c.connectorTariffs(ctx, ch)
	if err != nil {
		return Location{}, err
	}
	return c.LocationView(ch, li, tids), nil
}

// buildLocation builds Location id as it is now; ok false when it has no
// EVSE, live or removed.
func (c *CPO) buildLocation(ctx context.Context, l layout, pub published, id string) (Location, bool, error) {
	var views []Location
	for _, chID := range l.members(id) {
		ch, err := c.store.GetCharger(ctx, chID)
		if errors.Is(err, charging.ErrNotFound) {
			continue // in a site before it was registered
		}
		if err != nil {
			return Location{}, false, err
		}
		v, err := c.chargerView(ctx, ch)
		if err != nil {
			return Location{}, false, err
		}
		views = append(views, v)
	}
	loc, ok := assemble(id, l.byID[id], pub, views)
	return loc, ok, nil
}

// assemble makes Location id of its chargers' own Locations (views): the
// first one's place, the site's name, every charger's EVSEs, then the
// EVSEs that left it (REMOVED) and are not back.
func assemble(id string, site *Site, pub published, views []Location) (Location, bool) {
	removed, hasRemoved := pub.Removed[id]
	if len(views) == 0 {
		if !hasRemoved {
			return Location{}, false
		}
		return removed, true
	}
	loc := views[0]
	loc.ID = id
	loc.EVSEs = nil
	last := time.Time(loc.LastUpdated)
	if site != nil {
		loc.Name = cmp.Or(site.Name, site.ID)
		last = later(last, site.Updated)
	}
	live := map[string]bool{}
	for _, v := range views {
		last = later(last, time.Time(v.LastUpdated), pub.Moved[v.ID])
		for _, e := range v.EVSEs {
			live[e.UID] = true
			loc.EVSEs = append(loc.EVSEs, e)
		}
	}
	for _, e := range removed.EVSEs {
		if !live[e.UID] {
			loc.EVSEs = append(loc.EVSEs, e)
			last = later(last, time.Time(e.LastUpdated))
		}
	}
	loc.LastUpdated = DateTime(last)
	return loc, true
}

func later(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.After(t) {
			t = u
		}
	}
	return t
}

// location builds Location id as it is now (charging.ErrNotFound when
// there is none).
func (c *CPO) location(ctx context.Context, id string) (Location, error) {
	l, err := c.layout(ctx)
	if err != nil {
		return Location{}, err
	}
	pub, err := c.published(ctx)
	if err != nil {
		return Location{}, err
	}
	loc, ok, err := c.buildLocation(ctx, l, pub, id)
	if err != nil {
		return Location{}, err
	}
	if !ok {
		return Location{}, fmt.Errorf("location %s: %w", id, charging.ErrNotFound)
	}
	return loc, nil
}

// locations returns every Location, ordered by last_updated then id.
// Chargers are few enough per node (< 20 000) to build them all.
func (c *CPO) locations(ctx context.Context) ([]Location, error) {
	l, err := c.layout(ctx)
	if err != nil {
		return nil, err
	}
	pub, err := c.published(ctx)
	if err != nil {
		return nil, err
	}
	chs, err := c.store.ListChargers(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(chs, func(a, b charging.Charger) int { return strings.Compare(a.ID, b.ID) })
	views := map[string][]Location{}
	order := map[string]map[string]int{} // site id → charger → its place in the site
	for id, s := range l.byID {
		order[id] = map[string]int{}
		for i, ch := range s.Chargers {
			order[id][ch] = i
		}
	}
	for _, ch := range chs {
		v, err := c.chargerView(ctx, ch)
		if err != nil {
			return nil, err
		}
		id := l.locationID(ch.ID)
		views[id] = append(views[id], v)
	}
	ids := map[string]bool{}
	for id, vs := range views {
		ids[id] = true
		if o := order[id]; o != nil {
			slices.SortStableFunc(vs, func(a, b Location) int { return cmp.Compare(o[a.ID], o[b.ID]) })
		}
	}
	for id := range pub.Removed {
		ids[id] = true
	}
	out := make([]Location, 0, len(ids))
	for id := range ids {
		if loc, ok := assemble(id, l.byID[id], pub, views[id]); ok {
			out = append(out, loc)
		}
	}
	slices.SortFunc(out, func(a, b Location) int {
		return cmp.Or(time.Time(a.LastUpdated).Compare(time.Time(b.LastUpdated)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// locationIDOf is the id of the Location a charger's EVSEs are in, for
// the Sessions and authorizations that refer to it.
func (c *CPO) locationIDOf(ctx context.Context, chargerID string) (string, error) {
	l, err := c.layout(ctx)
	if err != nil {
		return "", err
	}
	return l.locationID(chargerID), nil
}

// chargerLocation is the id and name of the Location a charger's EVSEs
// are in, for the CDRs that refer to it.
func (c *CPO) chargerLocation(ctx context.Context, chargerID string) (id, name string, err error) {
	l, err := c.layout(ctx)
	if err != nil {
		return "", "", err
	}
	if s := l.site[chargerID]; s != nil {
		return s.ID, cmp.Or(s.Name, s.ID), nil
	}
	li, err := c.locationInfo(ctx, chargerID)
	if err != nil {
		return "", "", err
	}
	return chargerID, cmp.Or(li.Name, chargerID), nil
}

// splitEVSEUID is the charger and OCPP connector of an EVSE uid
// (EVSEUID): the connector follows the last '-'.
func splitEVSEUID(uid string) (chargerID string, connectorID int, ok bool) {
	i := strings.LastIndexByte(uid, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(uid[i+1:])
	if err != nil || n < 1 || strconv.Itoa(n) != uid[i+1:] {
		return "", 0, false
	}
	return uid[:i], n, true
}

// SitesChanged tells the CPO that a site was created, changed or deleted:
// the event worker publishes the Locations that changed at once (it also
// looks every SyncInterval, for changes made elsewhere).
func (c *CPO) SitesChanged() {
	c.sitesGen.Add(1)
	c.sitesChanged.Store(true)
	select {
	case <-c.ready: // the worker runs: wake it
	default:
		return // it looks when it starts, or at its next tick
	}
	select {
	case c.evq.signal <- struct{}{}:
	default:
	}
}

// putLocation queues a PUT of a whole Location to every eMSP and records
// which of each charger's EVSEs it carried (st may be nil outside the
// event worker).
func (c *CPO) putLocation(ctx context.Context, st *evState, loc Location) error {
	if err := c.pushWhole(ctx, "locations", "location "+loc.ID, c.objectPath(loc.ID), loc); err != nil {
		return err
	}
	byCharger := map[string][]int{}
	for _, e := range loc.EVSEs {
		ch, n, ok := splitEVSEUID(e.UID)
		if !ok || e.Status == evseRemoved {
			continue
		}
		byCharger[ch] = append(byCharger[ch], n)
		if st != nil {
			st.evse[e.UID] = e.Status
		}
	}
	for _, ch := range slices.Sorted(maps.Keys(byCharger)) {
		lp := locPushed{Location: loc.ID, Connectors: byCharger[ch]}
		b, _ := json.Marshal(lp)
		if err := c.docs.PutDoc(ctx, charging.Doc{Kind: docLocPushed, ID: ch, Owner: ch, Body: b, Updated: c.now()}); err != nil {
			return err
		}
		if st != nil {
			st.locs[ch] = lp.known()
		}
	}
	return nil
}

// pushChargerLocation PUTs the Location a charger's EVSEs are in now.
func (c *CPO) pushChargerLocation(ctx context.Context, st *evState, chargerID string) error {
	l, err := c.layout(ctx)
	if err != nil {
		return err
	}
	pub, err := c.published(ctx)
	if err != nil {
		return err
	}
	loc, ok, err := c.buildLocation(ctx, l, pub, l.locationID(chargerID))
	if err != nil || !ok {
		return err
	}
	return c.putLocation(ctx, st, loc)
}

// siteMembers returns the chargers, as stored now, that a sync of the
// layout can move: those in a site now (l) or at the last publication
// (pub), and those with EVSEs kept as REMOVED. Any other charger's
// Location is its own before and after, so it is not read: a sync of a
// fleet with no sites reads no charger, and one with few reads them one
// by one. A fleet with many site members is read in keyset pages
// (ListChargersAfter), never in one statement: at 100 000 chargers the
// whole list outlasted PostgreSQL's statement timeout.
func (c *CPO) siteMembers(ctx context.Context, l layout, pub published) (map[string]charging.Charger, error) {
	want := map[string]bool{}
	for ch := range l.site {
		want[ch] = true
	}
	for _, ps := range pub.Sites {
		for _, ch := range ps.Chargers {
			want[ch] = true
		}
	}
	for _, rem := range pub.Removed {
		for _, e := range rem.EVSEs {
			if ch, _, ok := splitEVSEUID(e.UID); ok {
				want[ch] = true
			}
		}
	}
	out := make(map[string]charging.Charger, len(want))
	if len(want) <= siteMembersOneByOne {
		for _, id := range slices.Sorted(maps.Keys(want)) {
			ch, err := c.store.GetCharger(ctx, id)
			switch {
			case errors.Is(err, charging.ErrNotFound):
			case err != nil:
				return nil, err
			default:
				out[id] = ch
			}
		}
		return out, nil
	}
	for after := ""; ; {
		page, err := c.store.ListChargersAfter(ctx, after, siteMembersPage)
		if err != nil {
			return nil, fmt.Errorf("list chargers after %q: %w", after, err)
		}
		for _, ch := range page {
			if want[ch.ID] {
				out[ch.ID] = ch
			}
		}
		if len(page) < siteMembersPage {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// Up to siteMembersOneByOne site members are read one by one; more, in
// pages of siteMembersPage chargers.
const (
	siteMembersOneByOne = 200
	siteMembersPage     = 1000
)

// syncLayout publishes what changed in the sites since the layout was
// last published: every Location that gained or lost EVSEs, or whose site
// was renamed, is PUT again; EVSEs that left a Location are kept in it as
// REMOVED.
func (c *CPO) syncLayout(ctx context.Context, st *evState) error {
	// Read afresh: this is where changes made on other nodes are found.
	l, err := c.readLayout(ctx)
	if err != nil {
		return err
	}
	pub, err := c.published(ctx)
	if err != nil {
		return err
	}
	byID, err := c.siteMembers(ctx, l, pub)
	if err != nil {
		return err
	}
	// Site Locations now: sites with at least one registered charger.
	cur := map[string]pubSite{}
	for id, s := range l.byID {
		ps := pubSite{Name: s.Name}
		for _, ch := range s.Chargers {
			if _, ok := byID[ch]; ok {
				ps.Chargers = append(ps.Chargers, ch)
			}
		}
		if len(ps.Chargers) > 0 {
			cur[id] = ps
		}
	}
	before, after := map[string]string{}, map[string]string{}
	for id, ps := range pub.Sites {
		for _, ch := range ps.Chargers {
			before[ch] = id
		}
	}
	for id, ps := range cur {
		for _, ch := range ps.Chargers {
			after[ch] = id
		}
	}
	affected := map[string]bool{}
	for id, ps := range cur {
		if old, ok := pub.Sites[id]; !ok || old.Name != ps.Name || !slices.Equal(old.Chargers, ps.Chargers) {
			affected[id] = true
		}
	}
	for id := range pub.Sites {
		if _, ok := cur[id]; !ok {
			affected[id] = true
		}
	}
	now := c.now()
	moved := map[string]bool{}
	for _, chID := range slices.Sorted(maps.Keys(byID)) {
		from, to := cmp.Or(before[chID], chID), cmp.Or(after[chID], chID)
		if from == to {
			continue
		}
		moved[chID] = true
		affected[from], affected[to] = true, true
		pub.Moved[chID] = now
		// Its EVSEs stay in the Location they left, as REMOVED.
		v, err := c.chargerView(ctx, byID[chID])
		if err != nil {
			return err
		}
		rem, ok := pub.Removed[from]
		if !ok {
			rem = v
			rem.ID, rem.EVSEs = from, nil
			if ps, ok := pub.Sites[from]; ok {
				rem.Name = cmp.Or(ps.Name, from)
			}
		}
		for _, e := range v.EVSEs {
			e.Status, e.LastUpdated = evseRemoved, DateTime(now)
			rem.EVSEs = slices.DeleteFunc(rem.EVSEs, func(o EVSE) bool { return o.UID == e.UID })
			rem.EVSEs = append(rem.EVSEs, e)
		}
		rem.LastUpdated = DateTime(now)
		pub.Removed[from] = rem
	}
	if len(affected) == 0 {
		return nil
	}
	// An EVSE back in a Location it had left is live there again.
	for id, rem := range pub.Removed {
		rem.EVSEs = slices.DeleteFunc(rem.EVSEs, func(e EVSE) bool {
			ch, _, _ := splitEVSEUID(e.UID)
			_, exists := byID[ch]
			return exists && cmp.Or(after[ch], ch) == id
		})
		if len(rem.EVSEs) == 0 {
			delete(pub.Removed, id)
		} else {
			pub.Removed[id] = rem
		}
	}
	pub.Sites = cur
	// Stored before the pushes are queued, so that a pull right after a
	// push tells the same.
	prev, perr := c.docs.GetDoc(ctx, docLayout, layoutID)
	if perr != nil && !errors.Is(perr, charging.ErrNotFound) {
		return perr
	}
	b, err := json.Marshal(pub)
	if err != nil {
		return err
	}
	if err := c.docs.PutDoc(ctx, charging.Doc{Kind: docLayout, ID: layoutID, Body: b, Updated: now}); err != nil {
		return err
	}
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(affected)) {
		loc, ok, err := c.buildLocation(ctx, l, pub, id)
		if err == nil && ok {
			err = c.putLocation(ctx, st, loc)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("location %s: %w", id, err))
		}
	}
	if len(errs) > 0 {
		// The previous layout back: the next look pushes them again.
		if perr == nil {
			errs = append(errs, c.docs.PutDoc(ctx, prev))
		} else {
			errs = append(errs, c.docs.DeleteDoc(ctx, docLayout, layoutID))
		}
		return errors.Join(errs...)
	}
	return c.movedSessions(ctx, st, moved)
}

// movedSessions PATCHes the location_id of the open sessions whose
// charger moved to another Location.
func (c *CPO) movedSessions(ctx context.Context, st *evState, moved map[string]bool) error {
	if len(moved) == 0 {
		return nil
	}
	var ids []string
	for off := 0; ; {
		docs, total, err := c.docs.ListDocs(ctx, charging.DocQuery{Kind: docSession, Owner: sessionOpen, Offset: off, Limit: 500})
		if err != nil {
			return err
		}
		for _, d := range docs {
			var v Session
			if json.Unmarshal(d.Body, &v) != nil {
				continue
			}
			if ch, _, ok := splitEVSEUID(v.EVSEUID); ok && moved[ch] {
				ids = append(ids, d.ID)
			}
		}
		off += len(docs)
		if len(docs) == 0 || off >= total {
			break
		}
	}
	var errs []error
	for _, id := range ids {
		s, err := c.store.GetSession(ctx, id)
		if err == nil {
			err = c.sessionChanged(ctx, st, s, false)
		}
		if err != nil && !errors.Is(err, charging.ErrNotFound) {
			errs = append(errs, fmt.Errorf("session %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
