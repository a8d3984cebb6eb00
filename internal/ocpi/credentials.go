package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// VersionInfo is one entry of the versions list.
type VersionInfo struct {
	Version string `json:"version"`
	URL     string `json:"url"`
}

// VersionDetails is the answer of a version details endpoint.
type VersionDetails struct {
	Version   string     `json:"version"`
	Endpoints []Endpoint `json:"endpoints"`
}

// Credentials is the OCPI 2.2.1 Credentials object.
type Credentials struct {
	Token string            `json:"token"`
	URL   string            `json:"url"`
	Roles []CredentialsRole `json:"roles"`
}

// CredentialsRole is one role of a party.
type CredentialsRole struct {
	Role            string          `json:"role"`
	BusinessDetails BusinessDetails `json:"business_details"`
	PartyID         string          `json:"party_id"`
	CountryCode     string          `json:"country_code"`
}

// BusinessDetails names a party.
type BusinessDetails struct {
	Name    string          `json:"name"`
	Website string          `json:"website,omitempty"`
	Logo    json.RawMessage `json:"logo,omitempty"`
}

// Roles.
const (
	RoleCPO  = "CPO"
	RoleEMSP = "EMSP"
	RoleHub  = "HUB"
)

// modules lists our endpoints of 2.2.1 and their interface roles.
var modules = []Endpoint{
	{Identifier: "credentials", Role: RoleSender},
	{Identifier: "locations", Role: RoleSender},
	{Identifier: "sessions", Role: RoleSender},
	{Identifier: "cdrs", Role: RoleSender},
	{Identifier: "tariffs", Role: RoleSender},
	{Identifier: "tokens", Role: RoleReceiver},
	{Identifier: "commands", Role: RoleReceiver},
}

func (c *CPO) getVersions(w http.ResponseWriter, r *http.Request) error {
	c.writeResponse(w, http.StatusOK, []VersionInfo{{Version: Version, URL: c.publicURL() + "/ocpi/" + Version}})
	return nil
}

func (c *CPO) versionDetails() VersionDetails {
	d := VersionDetails{Version: Version}
	for _, m := range modules {
		if m.Identifier == "commands" && c.cmd == nil {
			continue
		}
		d.Endpoints = append(d.Endpoints, Endpoint{Identifier: m.Identifier, Role: m.Role, URL: c.moduleURL(m.Identifier)})
	}
	return d
}

func (c *CPO) getVersionDetails(w http.ResponseWriter, r *http.Request) error {
	c.writeResponse(w, http.StatusOK, c.versionDetails())
	return nil
}

// ourCredentials is our Credentials object with the token a peer calls us with.
func (c *CPO) ourCredentials(token string) Credentials {
	return Credentials{Token: token, URL: c.VersionsURL(), Roles: []CredentialsRole{{
		Role: RoleCPO, BusinessDetails: BusinessDetails{Name: c.cfg.BusinessName},
		PartyID: c.cfg.Party.PartyID, CountryCode: c.cfg.Party.CountryCode,
	}}}
}

func (c *CPO) getCredentials(w http.ResponseWriter, r *http.Request) error {
	c.writeResponse(w, http.StatusOK, c.ourCredentials(peerFrom(r.Context()).OurToken))
	return nil
}

// checkCredentials validates a peer's Credentials object.
func checkCredentials(cr Credentials) error {
	if !validToken(cr.Token) {
		return errorf(http.StatusBadRequest, StatusInvalidParams, "credentials token must be 1 to 64 printable ASCII characters without spaces")
	}
	u, err := url.Parse(cr.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorf(http.StatusBadRequest, StatusInvalidParams, "credentials url %q is not an http(s) URL", cr.URL)
	}
	if len(cr.Roles) == 0 {
		return errorf(http.StatusBadRequest, StatusInvalidParams, "credentials need at least one role")
	}
	for _, r := range cr.Roles {
		if r.Role == "" || validParty(r.CountryCode, r.PartyID) != nil {
			return errorf(http.StatusBadRequest, StatusInvalidParams, "credentials role %q %q %q: need role, a 2-letter country_code and a 3-character party_id", r.Role, r.CountryCode, r.PartyID)
		}
	}
	return nil
}

// fetchVersion reads a peer's versions and the details of 2.2.1 with
// token. Failures are OCPI 3001 (or 3002 when 2.2.1 is not offered).
func (c *CPO) fetchVersion(ctx context.Context, p *Peer, token, versionsURL string) (VersionDetails, error) {
	data, _, err := c.call(ctx, p, token, http.MethodGet, versionsURL, nil)
	if err != nil {
		return VersionDetails{}, errorf(http.StatusOK, StatusClientAPIError, "get versions: %v", err)
	}
	var vs []VersionInfo
	if err := json.Unmarshal(data, &vs); err != nil {
		return VersionDetails{}, errorf(http.StatusOK, StatusClientAPIError, "versions at %s: %v", versionsURL, err)
	}
	detailsURL := ""
	for _, v := range vs {
		if v.Version == Version {
			detailsURL = v.URL
		}
	}
	if detailsURL == "" {
		return VersionDetails{}, errorf(http.StatusOK, StatusUnsupportedVersion, "%s offers no OCPI %s", versionsURL, Version)
	}
	data, _, err = c.call(ctx, p, token, http.MethodGet, detailsURL, nil)
	if err != nil {
		return VersionDetails{}, errorf(http.StatusOK, StatusClientAPIError, "get version details: %v", err)
	}
	var d VersionDetails
	if err := json.Unmarshal(data, &d); err != nil {
		return VersionDetails{}, errorf(http.StatusOK, StatusClientAPIError, "version details at %s: %v", detailsURL, err)
	}
	if d.Version == "" {
		d.Version = Version
	}
	return d, nil
}

// postCredentials is a peer registering with us (token A → B → C).
func (c *CPO) postCredentials(w http.ResponseWriter, r *http.Request) error {
	p := peerFrom(r.Context())
	if p.Status == PeerRegistered && !p.OurTokenIsA {
		return errorf(http.StatusMethodNotAllowed, StatusClientError, "already registered; use PUT to update credentials")
	}
	return c.acceptCredentials(w, r, p, http.StatusOK)
}

// putCredentials is a registered peer updating its credentials: new token
// B, endpoints fetched again, a new token C for it.
func (c *CPO) putCredentials(w http.ResponseWriter, r *http.Request) error {
	p := peerFrom(r.Context())
	if p.Status != PeerRegistered || p.OurTokenIsA {
		return errorf(http.StatusMethodNotAllowed, StatusClientError, "not registered; use POST to register")
	}
	return c.acceptCredentials(w, r, p, http.StatusOK)
}

func (c *CPO) acceptCredentials(w http.ResponseWriter, r *http.Request, p *Peer, status int) error {
	var cr Credentials
	if err := decodeBody(r, &cr); err != nil {
		return err
	}
	if err := checkCredentials(cr); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := c.fetchVersion(ctx, p, cr.Token, cr.URL)
	if err != nil {
		c.log.Warn("peer registration failed: cannot use its API", "peer", p.Key, "err", err)
		return err
	}
	if !hasRoleMatching(cr.Roles, p.CountryCode, p.PartyID) {
		c.log.Warn("peer registered with roles that do not name the party it was added as", "peer", p.Key, "roles", cr.Roles)
	}
	p.TheirToken, p.VersionsURL, p.Version, p.Endpoints, p.Roles = cr.Token, cr.URL, d.Version, d.Endpoints, cr.Roles
	p.Status = PeerRegistered
	tokenC := newUUID()
	if err := c.peers.setOurToken(ctx, p, tokenC, false, c.now()); err != nil {
		return err
	}
	c.log.Info("peer registered", "peer", p.Key, "roles", roleNames(cr.Roles), "endpoints", len(d.Endpoints))
	c.out.wake(p.Key)
	c.writeResponse(w, status, c.ourCredentials(tokenC))
	return nil
}

// deleteCredentials is a peer unregistering: its token stops working and
// pushes to it stop.
func (c *CPO) deleteCredentials(w http.ResponseWriter, r *http.Request) error {
	p := peerFrom(r.Context())
	if p.Status != PeerRegistered || p.OurTokenIsA {
		return errorf(http.StatusMethodNotAllowed, StatusClientError, "not registered")
	}
	if err := c.unregister(r.Context(), p); err != nil {
		return err
	}
	c.writeResponse(w, http.StatusOK, nil)
	return nil
}

func (c *CPO) unregister(ctx context.Context, p *Peer) error {
	old := p.OurToken
	p.Status, p.OurToken, p.TheirToken, p.Updated = PeerUnregistered, "", "", c.now()
	if err := c.peers.put(ctx, *p); err != nil {
		return err
	}
	if err := c.peers.unindexToken(ctx, old); err != nil {
		return err
	}
	c.log.Info("peer unregistered", "peer", p.Key)
	return nil
}

func hasRoleMatching(roles []CredentialsRole, cc, pid string) bool {
	for _, r := range roles {
		if strings.EqualFold(r.CountryCode, cc) && strings.EqualFold(r.PartyID, pid) {
			return true
		}
	}
	return false
}

func roleNames(roles []CredentialsRole) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.Role + ":" + r.CountryCode + "-" + r.PartyID
	}
	return out
}

// Register registers us with a peer from its versions URL and the token A
// it gave us out of band: we fetch its versions and endpoints, POST our
// credentials with a new token B, and keep the token C it answers with.
// The peer calls us back during the POST, so our server must be reachable
// at the public URL.
func (c *CPO) Register(ctx context.Context, versionsURL, tokenA string) (Peer, error) {
	if !validToken(tokenA) {
		return Peer{}, fmt.Errorf("%w: token A must be 1 to 64 printable ASCII characters", charging.ErrInvalidInput)
	}
	now := c.now()
	// Until the peer says who it is, its record has a provisional key.
	p := Peer{Key: "PENDING-" + newUUID()[:8], Status: PeerRegistering, Created: now, Updated: now}
	d, err := c.fetchVersion(ctx, &p, tokenA, versionsURL)
	if err != nil {
		return Peer{}, fmt.Errorf("register at %s: %w", versionsURL, err)
	}
	p.VersionsURL, p.Version, p.Endpoints = versionsURL, d.Version, d.Endpoints
	credURL := p.EndpointURL("credentials", "")
	if credURL == "" {
		return Peer{}, fmt.Errorf("register at %s: the peer lists no credentials endpoint", versionsURL)
	}
	tokenB := newUUID()
	if err := c.peers.setOurToken(ctx, &p, tokenB, false, now); err != nil {
		return Peer{}, err
	}
	cleanup := func() {
		_ = c.peers.unindexToken(context.WithoutCancel(ctx), tokenB)
		_ = c.docs.DeleteDoc(context.WithoutCancel(ctx), docPeer, p.Key)
	}
	data, _, err := c.call(ctx, &p, tokenA, http.MethodPost, credURL, c.ourCredentials(tokenB))
	if err != nil {
		cleanup()
		return Peer{}, fmt.Errorf("register at %s: %w", versionsURL, err)
	}
	var cr Credentials
	if err := json.Unmarshal(data, &cr); err == nil {
		err = checkCredentials(cr)
	}
	if err != nil {
		cleanup()
		return Peer{}, fmt.Errorf("register at %s: the peer's credentials: %w", versionsURL, err)
	}
	return c.adoptRegistration(ctx, p, cr)
}

// adoptRegistration stores the peer under the key its credentials name,
// with the token C it gave us.
func (c *CPO) adoptRegistration(ctx context.Context, tmp Peer, cr Credentials) (Peer, error) {
	role := cr.Roles[0]
	for _, r := range cr.Roles {
		if r.Role == RoleEMSP {
			role = r
			break
		}
	}
	key := PeerKey(role.CountryCode, role.PartyID)
	p, err := c.peers.get(ctx, key)
	if err != nil && !errors.Is(err, charging.ErrNotFound) {
		return Peer{}, err
	}
	oldToken := ""
	if err == nil {
		oldToken = p.OurToken
	} else {
		p = Peer{Key: key, Created: tmp.Created}
	}
	p.CountryCode, p.PartyID = strings.ToUpper(role.CountryCode), strings.ToUpper(role.PartyID)
	p.Status, p.Roles, p.TheirToken = PeerRegistered, cr.Roles, cr.Token
	p.VersionsURL, p.Version, p.Endpoints = tmp.VersionsURL, tmp.Version, tmp.Endpoints
	p.OurToken, p.OurTokenIsA, p.Updated = tmp.OurToken, false, c.now()
	if err := c.peers.put(ctx, p); err != nil {
		return Peer{}, err
	}
	if err := c.peers.indexToken(ctx, p.OurToken, key, p.Updated); err != nil {
		return Peer{}, err
	}
	if oldToken != "" && oldToken != p.OurToken {
		_ = c.peers.unindexToken(ctx, oldToken)
	}
	if err := c.docs.DeleteDoc(ctx, docPeer, tmp.Key); err != nil && !errors.Is(err, charging.ErrNotFound) {
		return Peer{}, err
	}
	c.log.Info("registered with peer", "peer", key, "roles", roleNames(cr.Roles), "endpoints", len(p.Endpoints))
	c.out.wake(key)
	return p, nil
}

// UpdateCredentials renews the token a registered peer calls us with: we
// PUT our credentials with a new token B and keep the token C the peer
// answers with. The old token stops working once the peer accepted.
func (c *CPO) UpdateCredentials(ctx context.Context, key string) (Peer, error) {
	p, err := c.peers.get(ctx, key)
	if err != nil {
		return Peer{}, fmt.Errorf("update credentials of %s: %w", key, err)
	}
	if p.Status != PeerRegistered {
		return Peer{}, fmt.Errorf("update credentials of %s: %w: the party is %s", key, charging.ErrConflict, p.Status)
	}
	credURL := p.EndpointURL("credentials", "")
	if credURL == "" {
		return Peer{}, fmt.Errorf("update credentials of %s: no credentials endpoint", key)
	}
	newB := newUUID()
	// Both tokens work while the peer switches.
	if err := c.peers.indexToken(ctx, newB, key, c.now()); err != nil {
		return Peer{}, err
	}
	data, _, err := c.call(ctx, &p, p.TheirToken, http.MethodPut, credURL, c.ourCredentials(newB))
	if err != nil {
		_ = c.peers.unindexToken(context.WithoutCancel(ctx), newB)
		return Peer{}, fmt.Errorf("update credentials of %s: %w", key, err)
	}
	var cr Credentials
	if err := json.Unmarshal(data, &cr); err == nil {
		err = checkCredentials(cr)
	}
	if err != nil {
		_ = c.peers.unindexToken(context.WithoutCancel(ctx), newB)
		return Peer{}, fmt.Errorf("update credentials of %s: the peer's credentials: %w", key, err)
	}
	if d, err := c.fetchVersion(ctx, &p, cr.Token, cr.URL); err == nil {
		p.VersionsURL, p.Version, p.Endpoints = cr.URL, d.Version, d.Endpoints
	} else {
		c.log.Warn("credentials updated but the peer's endpoints could not be read again", "peer", key, "err", err)
	}
	p.TheirToken, p.Roles = cr.Token, cr.Roles
	if err := c.peers.setOurToken(ctx, &p, newB, false, c.now()); err != nil {
		return Peer{}, err
	}
	return p, nil
}

// Unregister ends the connection with a peer: we DELETE our credentials
// at the peer (best effort) and stop accepting its token.
func (c *CPO) Unregister(ctx context.Context, key string) error {
	p, err := c.peers.get(ctx, key)
	if err != nil {
		return fmt.Errorf("unregister %s: %w", key, err)
	}
	if p.Status == PeerRegistered && p.TheirToken != "" {
		if u := p.EndpointURL("credentials", ""); u != "" {
			if _, _, err := c.call(ctx, &p, p.TheirToken, http.MethodDelete, u, nil); err != nil {
				c.log.Warn("peer did not accept our unregistration; unregistered here anyway", "peer", key, "err", err)
			}
		}
	}
	return c.unregister(ctx, &p)
}

// Peers returns every party we know.
func (c *CPO) Peers(ctx context.Context) ([]Peer, error) { return c.peers.list(ctx) }
