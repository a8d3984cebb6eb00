package ocpi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Document kinds the OCPI adapter keeps in the core's DocStore.
const (
	docPeer   = "ocpi_peer"   // a connected party: roles, endpoints, tokens
	docCred   = "ocpi_cred"   // credentials token (hashed) → peer
	docToken  = "ocpi_token"  // an eMSP's Token object, owner the token uid
	docCDR    = "ocpi_cdr"    // a CDR we issued (immutable)
	docOutbox = "ocpi_outbox" // a push waiting to be delivered, owner the peer
	docSite   = "ocpi_site"   // a charger's site and tariffs as last pushed
)

// PeerStatus is where a peer is in the credentials handshake.
type PeerStatus string

// Peer statuses.
const (
	// PeerPending: token A was issued; the peer has not registered yet.
	PeerPending PeerStatus = "PENDING"
	// PeerRegistering: we are registering with the peer (our token B is
	// out, its token C not yet in).
	PeerRegistering PeerStatus = "REGISTERING"
	// PeerRegistered: tokens exchanged; pushes and pulls flow.
	PeerRegistered PeerStatus = "REGISTERED"
	// PeerUnregistered: either side ended the connection (DELETE).
	PeerUnregistered PeerStatus = "UNREGISTERED"
)

// Peer is a party we exchange OCPI messages with (an eMSP or a hub), as
// stored.
type Peer struct {
	// Key is COUNTRY-PARTY, upper case, e.g. "NL-ABC".
	Key         string     `json:"key"`
	CountryCode string     `json:"country_code"`
	PartyID     string     `json:"party_id"`
	Status      PeerStatus `json:"status"`
	// OurToken is the token the peer uses to call us: token A until the
	// handshake, then token C (or, when we registered, our token B).
	OurToken string `json:"our_token"`
	// OurTokenIsA: OurToken is a registration token A, good for versions
	// and credentials only.
	OurTokenIsA bool `json:"our_token_is_a,omitempty"`
	// TheirToken is the token we use to call the peer.
	TheirToken  string            `json:"their_token,omitempty"`
	VersionsURL string            `json:"versions_url,omitempty"`
	Version     string            `json:"version,omitempty"`
	Roles       []CredentialsRole `json:"roles,omitempty"`
	Endpoints   []Endpoint        `json:"endpoints,omitempty"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
}

// Endpoint is an OCPI version details endpoint.
type Endpoint struct {
	Identifier string `json:"identifier"`
	Role       string `json:"role"`
	URL        string `json:"url"`
}

// Interface roles of an Endpoint.
const (
	RoleSender   = "SENDER"
	RoleReceiver = "RECEIVER"
)

// EndpointURL returns the peer's URL of a module in a role, or "".
func (p *Peer) EndpointURL(module, role string) string {
	for _, e := range p.Endpoints {
		if e.Identifier == module && (role == "" || e.Role == role || e.Role == "") {
			return e.URL
		}
	}
	return ""
}

// HasRole reports whether the peer registered in a role (e.g. "EMSP").
func (p *Peer) HasRole(role string) bool {
	for _, r := range p.Roles {
		if r.Role == role {
			return true
		}
	}
	return false
}

// PeerKey is the key of a party: "NL-ABC".
func PeerKey(countryCode, partyID string) string {
	return strings.ToUpper(countryCode) + "-" + strings.ToUpper(partyID)
}

// credRef is what a credentials token (by its hash) points at.
type credRef struct {
	Peer string `json:"peer"`
}

// tokenHash is the id a credentials token is indexed under: its SHA-256,
// so the index holds no usable token.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// peers keeps Peer documents and the token index.
type peers struct {
	docs charging.DocStore
}

func (ps peers) get(ctx context.Context, key string) (Peer, error) {
	d, err := ps.docs.GetDoc(ctx, docPeer, key)
	if err != nil {
		return Peer{}, err
	}
	var p Peer
	if err := json.Unmarshal(d.Body, &p); err != nil {
		return Peer{}, fmt.Errorf("peer %s: %w", key, err)
	}
	return p, nil
}

func (ps peers) put(ctx context.Context, p Peer) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return ps.docs.PutDoc(ctx, charging.Doc{Kind: docPeer, ID: p.Key, Body: b, Updated: p.Updated})
}

// list returns every peer.
func (ps peers) list(ctx context.Context) ([]Peer, error) {
	var out []Peer
	for off := 0; ; {
		docs, total, err := ps.docs.ListDocs(ctx, charging.DocQuery{Kind: docPeer, Offset: off, Limit: 500})
		if err != nil {
			return nil, err
		}
		for _, d := range docs {
			var p Peer
			if err := json.Unmarshal(d.Body, &p); err != nil {
				return nil, fmt.Errorf("peer %s: %w", d.ID, err)
			}
			out = append(out, p)
		}
		off += len(docs)
		if len(docs) == 0 || off >= total {
			return out, nil
		}
	}
}

// byToken returns the peer a credentials token belongs to, or ErrNotFound.
func (ps peers) byToken(ctx context.Context, token string) (Peer, error) {
	d, err := ps.docs.GetDoc(ctx, docCred, tokenHash(token))
	if err != nil {
		return Peer{}, err
	}
	var ref credRef
	if err := json.Unmarshal(d.Body, &ref); err != nil {
		return Peer{}, err
	}
	p, err := ps.get(ctx, ref.Peer)
	if err != nil {
		return Peer{}, err
	}
	if p.OurToken != token {
		// A stale index entry (a replaced token): not valid any more.
		return Peer{}, charging.ErrNotFound
	}
	return p, nil
}

func (ps peers) indexToken(ctx context.Context, token, peer string, at time.Time) error {
	b, _ := json.Marshal(credRef{Peer: peer})
	return ps.docs.PutDoc(ctx, charging.Doc{Kind: docCred, ID: tokenHash(token), Owner: peer, Body: b, Updated: at})
}

func (ps peers) unindexToken(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	err := ps.docs.DeleteDoc(ctx, docCred, tokenHash(token))
	if errors.Is(err, charging.ErrNotFound) {
		return nil
	}
	return err
}

// setOurToken replaces the token the peer calls us with: the new one is
// indexed before the peer document names it, and the old one removed
// after, so a crash in between leaves at most a stale index entry (which
// byToken refuses).
func (ps peers) setOurToken(ctx context.Context, p *Peer, token string, isA bool, at time.Time) error {
	old := p.OurToken
	if err := ps.indexToken(ctx, token, p.Key, at); err != nil {
		return err
	}
	p.OurToken, p.OurTokenIsA, p.Updated = token, isA, at
	if err := ps.put(ctx, *p); err != nil {
		return err
	}
	if old != "" && old != token {
		return ps.unindexToken(ctx, old)
	}
	return nil
}

// AddPeer creates a party that will register with us: it issues the
// registration token A that the operator hands to the peer out of band
// with our versions URL. Adding a party again issues a new token A, unless
// it is registered.
func AddPeer(ctx context.Context, docs charging.DocStore, countryCode, partyID string, now time.Time) (tokenA string, err error) {
	if err := validParty(countryCode, partyID); err != nil {
		return "", err
	}
	ps := peers{docs}
	key := PeerKey(countryCode, partyID)
	p, err := ps.get(ctx, key)
	switch {
	case errors.Is(err, charging.ErrNotFound):
		p = Peer{Key: key, CountryCode: strings.ToUpper(countryCode), PartyID: strings.ToUpper(partyID), Created: now}
	case err != nil:
		return "", err
	case p.Status == PeerRegistered:
		return "", fmt.Errorf("%w: party %s is registered; unregister it first (its token C stays valid until then)", charging.ErrExists, key)
	}
	p.Status = PeerPending
	tokenA = newUUID()
	if err := ps.setOurToken(ctx, &p, tokenA, true, now); err != nil {
		return "", fmt.Errorf("add party %s: %w", key, err)
	}
	return tokenA, nil
}

// ListPeers returns every party we know, registered or not.
func ListPeers(ctx context.Context, docs charging.DocStore) ([]Peer, error) {
	return peers{docs}.list(ctx)
}

// validParty checks an OCPI country code (2 letters) and party id (3
// characters).
func validParty(countryCode, partyID string) error {
	if len(countryCode) != 2 || !isAlpha(countryCode) {
		return fmt.Errorf("%w: country code %q: use the two-letter ISO 3166 code, e.g. NL", charging.ErrInvalidInput, countryCode)
	}
	if len(partyID) != 3 || !isAlnum(partyID) {
		return fmt.Errorf("%w: party id %q: use three letters or digits, e.g. ABC", charging.ErrInvalidInput, partyID)
	}
	return nil
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && !isAlpha(s[i:i+1]) {
			return false
		}
	}
	return true
}
