package ocpi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// Token is the OCPI 2.2.1 Token object an eMSP pushes to us.
type Token struct {
	CountryCode        string          `json:"country_code"`
	PartyID            string          `json:"party_id"`
	UID                string          `json:"uid"`
	Type               string          `json:"type"`
	ContractID         string          `json:"contract_id"`
	VisualNumber       string          `json:"visual_number,omitempty"`
	Issuer             string          `json:"issuer"`
	GroupID            string          `json:"group_id,omitempty"`
	Valid              bool            `json:"valid"`
	Whitelist          string          `json:"whitelist"`
	Language           string          `json:"language,omitempty"`
	DefaultProfileType string          `json:"default_profile_type,omitempty"`
	EnergyContract     json.RawMessage `json:"energy_contract,omitempty"`
	LastUpdated        DateTime        `json:"last_updated"`
}

// Whitelist types.
const (
	WhitelistAlways         = "ALWAYS"
	WhitelistAllowed        = "ALLOWED"
	WhitelistAllowedOffline = "ALLOWED_OFFLINE"
	WhitelistNever          = "NEVER"
)

var tokenTypes = map[string]bool{"AD_HOC_USER": true, "APP_USER": true, "OTHER": true, "RFID": true}
var whitelists = map[string]bool{WhitelistAlways: true, WhitelistAllowed: true, WhitelistAllowedOffline: true, WhitelistNever: true}

func (t Token) cdrToken() CdrToken {
	return CdrToken{CountryCode: t.CountryCode, PartyID: t.PartyID, UID: t.UID, Type: t.Type, ContractID: t.ContractID}
}

// check validates a full Token.
func (t Token) check() error {
	switch {
	case validParty(t.CountryCode, t.PartyID) != nil:
		return errorf(http.StatusBadRequest, StatusInvalidParams, "token country_code %q / party_id %q invalid", t.CountryCode, t.PartyID)
	case t.UID == "" || len(t.UID) > 36:
		return errorf(http.StatusBadRequest, StatusInvalidParams, "token uid must be 1 to 36 characters")
	case !tokenTypes[t.Type]:
		return errorf(http.StatusBadRequest, StatusInvalidParams, "token type %q: use AD_HOC_USER, APP_USER, OTHER or RFID", t.Type)
	case t.ContractID == "" || len(t.ContractID) > 36:
		return errorf(http.StatusBadRequest, StatusInvalidParams, "token contract_id must be 1 to 36 characters")
	case t.Issuer == "":
		return errorf(http.StatusBadRequest, StatusInvalidParams, "token issuer is required")
	case !whitelists[t.Whitelist]:
		return errorf(http.StatusBadRequest, StatusInvalidParams, "token whitelist %q: use ALWAYS, ALLOWED, ALLOWED_OFFLINE or NEVER", t.Whitelist)
	case time.Time(t.LastUpdated).IsZero():
		return errorf(http.StatusBadRequest, StatusInvalidParams, "token last_updated is required")
	}
	return nil
}

// storedToken is a token document: the token and the peer that pushed it
// (whom real-time authorization asks).
type storedToken struct {
	Token Token  `json:"token"`
	Peer  string `json:"peer"`
}

func tokenDocID(cc, pid, uid, typ string) string {
	return strings.ToUpper(cc) + "/" + strings.ToUpper(pid) + "/" + uid + "/" + typ
}

// tokenStore reads tokens; shared by the CPO and the TokenAuthorizer.
type tokenStore struct{ docs charging.DocStore }

// byUID returns the newest token with an OCPP id tag's uid (tokens are
// documents owned by their uid).
func (ts tokenStore) byUID(ctx context.Context, uid string) (storedToken, bool, error) {
	if uid == "" {
		return storedToken{}, false, nil
	}
	docs, _, err := ts.docs.ListDocs(ctx, charging.DocQuery{Kind: docToken, Owner: uid, Newest: true, Limit: 1})
	if err != nil || len(docs) == 0 {
		return storedToken{}, false, err
	}
	var st storedToken
	if err := json.Unmarshal(docs[0].Body, &st); err != nil {
		return storedToken{}, false, err
	}
	return st, true, nil
}

func (c *CPO) tokenByUID(ctx context.Context, uid string) (Token, bool, error) {
	st, ok, err := tokenStore{c.docs}.byUID(ctx, uid)
	return st.Token, ok, err
}

// authRecord says how the next session of a token at a charger was
// authorized: by real-time authorization (AUTH_REQUEST) or a START_SESSION
// command (COMMAND), with the eMSP's reference.
type authRecord struct {
	Method    string    `json:"method"`
	Reference string    `json:"reference,omitempty"`
	Token     CdrToken  `json:"token"`
	At        time.Time `json:"at"`
}

const docAuth = "ocpi_auth"

// authRecordTTL is how long an authorization labels the sessions that
// follow it.
const authRecordTTL = 15 * time.Minute

func putAuthRecord(ctx context.Context, docs charging.DocStore, chargerID, uid string, r authRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return docs.PutDoc(ctx, charging.Doc{Kind: docAuth, ID: chargerID + "/" + uid, Owner: chargerID, Body: b, Updated: r.At})
}

// authorization returns the recent authorization of uid at a charger.
func (c *CPO) authorization(ctx context.Context, chargerID, uid string) (authRecord, bool, error) {
	d, err := c.docs.GetDoc(ctx, docAuth, chargerID+"/"+uid)
	if errors.Is(err, charging.ErrNotFound) {
		return authRecord{}, false, nil
	}
	if err != nil {
		return authRecord{}, false, err
	}
	var r authRecord
	if err := json.Unmarshal(d.Body, &r); err != nil {
		return authRecord{}, false, err
	}
	if c.now().Sub(r.At) > authRecordTTL {
		return authRecord{}, false, nil
	}
	return r, true, nil
}

// tokenPath reads {country_code}/{party_id}/{token_uid} and ?type.
func tokenPath(r *http.Request) (cc, pid, uid, typ string, err error) {
	cc, pid, uid = strings.ToUpper(r.PathValue("country_code")), strings.ToUpper(r.PathValue("party_id")), r.PathValue("token_uid")
	typ = r.URL.Query().Get("type")
	if typ == "" {
		typ = "RFID"
	}
	if validParty(cc, pid) != nil || uid == "" || len(uid) > 36 || !tokenTypes[typ] {
		return "", "", "", "", errorf(http.StatusBadRequest, StatusInvalidParams, "token path /%s/%s/%s?type=%s is invalid", cc, pid, uid, typ)
	}
	return cc, pid, uid, typ, nil
}

// ownParty checks that a peer writes objects of one of its own roles.
func ownParty(p *Peer, cc, pid string) error {
	if hasRoleMatching(p.Roles, cc, pid) || (strings.EqualFold(p.CountryCode, cc) && strings.EqualFold(p.PartyID, pid)) || p.HasRole(RoleHub) {
		return nil
	}
	return errorf(http.StatusForbidden, StatusClientError, "party %s-%s is not one of yours", cc, pid)
}

func (c *CPO) getToken(w http.ResponseWriter, r *http.Request) error {
	cc, pid, uid, typ, err := tokenPath(r)
	if err != nil {
		return err
	}
	d, err := c.docs.GetDoc(r.Context(), docToken, tokenDocID(cc, pid, uid, typ))
	if errors.Is(err, charging.ErrNotFound) {
		return errorf(http.StatusNotFound, StatusUnknownToken, "unknown token %s", uid)
	}
	if err != nil {
		return err
	}
	var st storedToken
	if err := json.Unmarshal(d.Body, &st); err != nil {
		return err
	}
	c.writeResponse(w, http.StatusOK, st.Token)
	return nil
}

func (c *CPO) putToken(w http.ResponseWriter, r *http.Request) error {
	cc, pid, uid, typ, err := tokenPath(r)
	if err != nil {
		return err
	}
	p := peerFrom(r.Context())
	if err := ownParty(p, cc, pid); err != nil {
		return err
	}
	var t Token
	if err := decodeBody(r, &t); err != nil {
		return err
	}
	if !strings.EqualFold(t.CountryCode, cc) || !strings.EqualFold(t.PartyID, pid) || t.UID != uid || t.Type != typ {
		return errorf(http.StatusBadRequest, StatusInvalidParams, "token body (%s %s %s %s) does not match the URL (%s %s %s %s)", t.CountryCode, t.PartyID, t.UID, t.Type, cc, pid, uid, typ)
	}
	if err := t.check(); err != nil {
		return err
	}
	id := tokenDocID(cc, pid, uid, typ)
	_, err = c.docs.GetDoc(r.Context(), docToken, id)
	created := errors.Is(err, charging.ErrNotFound)
	if err != nil && !created {
		return err
	}
	if err := c.storeToken(r.Context(), id, storedToken{Token: t, Peer: p.Key}); err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.writeResponse(w, status, nil)
	return nil
}

func (c *CPO) storeToken(ctx context.Context, id string, st storedToken) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return c.docs.PutDoc(ctx, charging.Doc{Kind: docToken, ID: id, Owner: st.Token.UID, Body: b, Updated: time.Time(st.Token.LastUpdated)})
}

// patchToken applies a partial Token: the fields present replace the
// stored ones; last_updated is required (transport_and_format, PATCH).
func (c *CPO) patchToken(w http.ResponseWriter, r *http.Request) error {
	cc, pid, uid, typ, err := tokenPath(r)
	if err != nil {
		return err
	}
	p := peerFrom(r.Context())
	if err := ownParty(p, cc, pid); err != nil {
		return err
	}
	var patch map[string]json.RawMessage
	if err := decodeBody(r, &patch); err != nil {
		return err
	}
	if _, ok := patch["last_updated"]; !ok {
		return errorf(http.StatusBadRequest, StatusInvalidParams, "a PATCH needs last_updated")
	}
	for _, k := range []string{"country_code", "party_id", "uid", "type"} {
		if _, ok := patch[k]; ok {
			return errorf(http.StatusBadRequest, StatusInvalidParams, "a PATCH cannot change %s", k)
		}
	}
	id := tokenDocID(cc, pid, uid, typ)
	d, err := c.docs.GetDoc(r.Context(), docToken, id)
	if errors.Is(err, charging.ErrNotFound) {
		return errorf(http.StatusNotFound, StatusUnknownToken, "unknown token %s; PUT it first", uid)
	}
	if err != nil {
		return err
	}
	var st storedToken
	if err := json.Unmarshal(d.Body, &st); err != nil {
		return err
	}
	cur, _ := json.Marshal(st.Token)
	var merged map[string]json.RawMessage
	_ = json.Unmarshal(cur, &merged)
	for k, v := range patch {
		merged[k] = v
	}
	mb, _ := json.Marshal(merged)
	var t Token
	if err := json.Unmarshal(mb, &t); err != nil {
		return errorf(http.StatusBadRequest, StatusInvalidParams, "token patch: %v", err)
	}
	if err := t.check(); err != nil {
		return err
	}
	st.Token, st.Peer = t, p.Key
	if err := c.storeToken(r.Context(), id, st); err != nil {
		return err
	}
	c.writeResponse(w, http.StatusOK, nil)
	return nil
}

// TokenAuthorizer authorizes eMSP tokens for the core
// (charging.TokenAuthorizer). A token that is not valid is refused. One
// whitelisted ALWAYS or ALLOWED is accepted from the stored copy. For
// ALLOWED_OFFLINE and NEVER the eMSP is asked in real time (POST
// tokens/{uid}/authorize, bounded by AuthTimeout); when it cannot be
// reached, ALLOWED_OFFLINE falls back to the stored copy (accepted) and
// NEVER is refused.
type TokenAuthorizer struct {
	tokens tokenStore
	docs   charging.DocStore
	log    *slog.Logger
	// cpo calls eMSPs; set by New (the authorizer is built before the
	// service, the CPO after it).
	cpo atomic.Pointer[CPO]
}

var _ charging.TokenAuthorizer = (*TokenAuthorizer)(nil)

// NewTokenAuthorizer returns an authorizer over the stored eMSP tokens.
func NewTokenAuthorizer(docs charging.DocStore, log *slog.Logger) *TokenAuthorizer {
	return &TokenAuthorizer{tokens: tokenStore{docs}, docs: docs, log: log}
}

// AuthorizationInfo is the eMSP's answer to a real-time authorization.
type AuthorizationInfo struct {
	Allowed                string          `json:"allowed"`
	Token                  Token           `json:"token"`
	Location               json.RawMessage `json:"location,omitempty"`
	AuthorizationReference string          `json:"authorization_reference,omitempty"`
	Info                   json.RawMessage `json:"info,omitempty"`
}

// LocationReferences names where a token asks to charge.
type LocationReferences struct {
	LocationID string   `json:"location_id"`
	EVSEUIDs   []string `json:"evse_uids,omitempty"`
}

// AuthorizeToken implements charging.TokenAuthorizer.
func (a *TokenAuthorizer) AuthorizeToken(ctx context.Context, chargerID string, connectorID int, idTag string) (charging.IDTagInfo, bool, error) {
	if c := a.cpo.Load(); c != nil {
		// A START_SESSION or RESERVE_NOW is the eMSP's authorization.
		if rec, ok, err := c.authorization(ctx, chargerID, idTag); err != nil {
			return charging.IDTagInfo{}, false, err
		} else if ok && rec.Method == "COMMAND" {
			return charging.IDTagInfo{Status: charging.AuthAccepted}, true, nil
		}
	}
	st, ok, err := a.tokens.byUID(ctx, idTag)
	if err != nil || !ok {
		return charging.IDTagInfo{}, false, err
	}
	t := st.Token
	if !t.Valid {
		return charging.IDTagInfo{Status: charging.AuthBlocked}, true, nil
	}
	accepted := charging.IDTagInfo{Status: charging.AuthAccepted}
	if t.Whitelist == WhitelistAlways || t.Whitelist == WhitelistAllowed {
		return accepted, true, nil
	}
	c := a.cpo.Load()
	if c == nil {
		return a.fallback(t), true, nil
	}
	info, err := c.authorizeRealTime(ctx, st, chargerID, connectorID)
	if err != nil {
		a.log.Warn("real-time authorization failed; using the token's whitelist", "token", t.UID, "peer", st.Peer, "whitelist", t.Whitelist, "err", err)
		return a.fallback(t), true, nil
	}
	status := charging.AuthInvalid
	switch info.Allowed {
	case "ALLOWED":
		status = charging.AuthAccepted
	case "BLOCKED":
		status = charging.AuthBlocked
	case "EXPIRED":
		status = charging.AuthExpired
	}
	if status == charging.AuthAccepted {
		rec := authRecord{Method: "AUTH_REQUEST", Reference: info.AuthorizationReference, Token: t.cdrToken(), At: c.now()}
		if err := putAuthRecord(ctx, a.docs, chargerID, t.UID, rec); err != nil {
			a.log.Warn("authorization reference not kept", "token", t.UID, "err", err)
		}
	}
	return charging.IDTagInfo{Status: status}, true, nil
}

func (a *TokenAuthorizer) fallback(t Token) charging.IDTagInfo {
	if t.Whitelist == WhitelistNever {
		return charging.IDTagInfo{Status: charging.AuthInvalid}
	}
	return charging.IDTagInfo{Status: charging.AuthAccepted}
}

// authorizeRealTime asks the eMSP that pushed the token.
func (c *CPO) authorizeRealTime(ctx context.Context, st storedToken, chargerID string, connectorID int) (AuthorizationInfo, error) {
	p, err := c.peers.get(ctx, st.Peer)
	if err != nil {
		return AuthorizationInfo{}, err
	}
	if p.Status != PeerRegistered {
		return AuthorizationInfo{}, fmt.Errorf("party %s is %s", p.Key, p.Status)
	}
	base := p.EndpointURL("tokens", RoleSender)
	if base == "" {
		return AuthorizationInfo{}, fmt.Errorf("party %s has no tokens endpoint", p.Key)
	}
	u := strings.TrimRight(base, "/") + "/" + url.PathEscape(st.Token.UID) + "/authorize?type=" + url.QueryEscape(st.Token.Type)
	locID, err := c.locationIDOf(ctx, chargerID)
	if err != nil {
		return AuthorizationInfo{}, err
	}
	loc := LocationReferences{LocationID: locID}
	if connectorID > 0 {
		loc.EVSEUIDs = []string{EVSEUID(chargerID, connectorID)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AuthTimeout)
	defer cancel()
	data, _, err := c.call(ctx, &p, p.TheirToken, http.MethodPost, u, loc)
	var ce *callError
	if errors.As(err, &ce) && ce.Code == StatusUnknownToken {
		return AuthorizationInfo{Allowed: "NOT_ALLOWED"}, nil
	}
	if err != nil {
		return AuthorizationInfo{}, err
	}
	var info AuthorizationInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return AuthorizationInfo{}, fmt.Errorf("authorization answer: %w", err)
	}
	return info, nil
}
