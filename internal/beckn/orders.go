package beckn

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Document kinds the BPP keeps in the core's document store.
const (
	// DocOrder is an order, by order id, owned by its charger.
	DocOrder = "beckn_order"
	// DocOrderSession maps a canonical session id to its order id.
	DocOrderSession = "beckn_order_session"
	// DocRating is a rating a BAP submitted, by message id and index.
	DocRating = "beckn_rating"
)

// Order statuses written in beckn:orderStatus.
const (
	OrderCreated    = "CREATED"
	OrderConfirmed  = "CONFIRMED"
	OrderInProgress = "INPROGRESS"
	OrderCompleted  = "COMPLETED"
	OrderCancelled  = "CANCELLED"
)

// requestedBy names the BPP in the command log.
const requestedBy = "beckn"

// record is an order as stored: what the BAP ordered, what we quoted, and
// the reservation and session that fulfil it.
type record struct {
	ID            string           `json:"id"`
	TransactionID string           `json:"transaction_id"`
	BapID         string           `json:"bap_id"`
	BapURI        string           `json:"bap_uri"`
	Domain        string           `json:"domain,omitempty"`
	Version       string           `json:"version,omitempty"`
	ItemID        string           `json:"item_id"`
	ChargerID     string           `json:"charger_id"`
	ConnectorID   int              `json:"connector_id"`
	Currency      string           `json:"currency"`
	PerKWh        decimal.Decimal  `json:"per_kwh"`
	VATPercent    decimal.Decimal  `json:"vat_percent"`
	QuantityKWh   *decimal.Decimal `json:"quantity_kwh,omitempty"`
	Status        string           `json:"status"`
	SessionID     string           `json:"session_id,omitempty"`
	ReservationID int64            `json:"reservation_id,omitempty"`
	IDTag         string           `json:"id_tag,omitempty"`
	GraceMinutes  float64          `json:"grace_minutes,omitempty"`
	Buyer         json.RawMessage  `json:"buyer,omitempty"`
	Payment       json.RawMessage  `json:"payment,omitempty"`
	Attributes    *OrderAttributes `json:"attributes,omitempty"`
	VehicleMake   string           `json:"vehicle_make,omitempty"`
	VehicleModel  string           `json:"vehicle_model,omitempty"`
	// Notified is the sessionStatus the BAP was last told.
	Notified evsession.SessionStatus `json:"notified,omitempty"`
	// Starting is set while an update (start) waits for the charger, so
	// that the start is told once, in its on_update.
	Starting bool      `json:"starting,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

func (r *record) rate() Rate {
	return Rate{Currency: r.Currency, PerKWh: r.PerKWh, VATPercent: r.VATPercent}
}

// lock serializes changes to one order, across the nodes sharing the
// store when it provides the lock (Config.Locks); the caller calls unlock
// once. A lock that cannot be had (ctx ended, the store is unreachable)
// is a business error the BAP may retry.
func (b *BPP) lock(ctx context.Context, orderID string) (unlock func(), e *Error) {
	unlock, err := b.locks.Lock(ctx, orderLockKey(orderID))
	if err != nil {
		if ctx.Err() == nil {
			b.log.Error("beckn: order not locked", "order", orderID, "err", err)
		}
		return nil, errorf(CodeBusinessError, "the order is busy or unavailable; retry later")
	}
	return unlock, nil
}

// orderLockKey is the Locker key of an order.
func orderLockKey(orderID string) string { return "beckn order " + orderID }

func (b *BPP) load(ctx context.Context, id string) (*record, error) {
	d, err := b.docs.GetDoc(ctx, DocOrder, id)
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(d.Body, &r); err != nil {
		return nil, fmt.Errorf("order %s: %w", id, err)
	}
	return &r, nil
}

func (b *BPP) save(ctx context.Context, r *record) error {
	r.Updated = b.clock.Now()
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return b.docs.PutDoc(ctx, charging.Doc{Kind: DocOrder, ID: r.ID, Owner: r.ChargerID, Body: body, Updated: r.Updated})
}

// loadFor loads an order of the requesting BAP; another BAP's order is
// not found.
func (b *BPP) loadFor(ctx context.Context, id, bapID string) (*record, *Error) {
	r, err := b.load(ctx, id)
	if errors.Is(err, charging.ErrNotFound) || (err == nil && r.BapID != bapID) {
		return nil, &Error{Code: CodeOrderNotFound, Message: fmt.Sprintf("order %s not found", id), Paths: "message.order.beckn:id"}
	}
	if err != nil {
		return nil, errorf(CodeBusinessError, "the order is unavailable; retry later")
	}
	return r, nil
}

// handle carries out one acknowledged request.
func (b *BPP) handle(ctx context.Context, j job, log *slog.Logger) (any, *Error) {
	c := j.req.Context
	switch m := j.msg.(type) {
	case *discoverMessage:
		return b.discover(ctx, m)
	case *ratingMessage:
		return b.rating(ctx, c, m)
	case *supportMessage:
		return b.support(ctx, c, m)
	case *orderMessage:
		o := &m.Order
		switch c.Action {
		case "select":
			return b.selectOrder(ctx, c, o)
		case "init":
			return b.initOrder(ctx, c, o)
		case "confirm":
			return b.confirm(ctx, c, o, log)
		case "status", "track":
			return b.status(ctx, c, o)
		case "update":
			return b.update(ctx, c, o, j, log)
		case "cancel":
			return b.cancel(ctx, c, o, log)
		}
	}
	return nil, errorf(CodeActionNotApplicable, "%s is not supported", c.Action)
}

// quoted is an order's item resolved and priced.
type quoted struct {
	chargerID   string
	connectorID int
	charger     charging.Charger
	rate        Rate
	qty         *decimal.Decimal
}

// quote resolves and prices the ordered item.
func (b *BPP) quote(ctx context.Context, o *Order) (*quoted, *Error) {
	if len(o.Items) != 1 {
		return nil, &Error{Code: CodeQuantityUnavailable, Message: "an order charges at one connector: order exactly one item", Paths: "message.order.beckn:orderItems"}
	}
	it := o.Items[0]
	notFound := &Error{Code: CodeItemNotFound, Message: fmt.Sprintf("item %s not found", it.OrderedItem), Paths: "message.order.beckn:orderItems[0].beckn:orderedItem"}
	chID, conn, err := ParseItemID(it.OrderedItem)
	if err != nil {
		return nil, notFound
	}
	ch, err := b.core.Store().GetCharger(ctx, chID)
	if errors.Is(err, charging.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, errorf(CodeBusinessError, "the catalog is unavailable; retry later")
	}
	known := false
	for _, cn := range ch.Connectors {
		known = known || cn.ConnectorID == conn
	}
	if !known {
		return nil, notFound
	}
	q := &quoted{chargerID: chID, connectorID: conn, charger: ch}
	if q.rate, err = b.cfg.Pricer.Rate(ctx, chID, conn); err != nil {
		return nil, errorf(CodeBusinessError, "the price is unavailable; retry later")
	}
	if it.Quantity != nil {
		if u := strings.ToUpper(it.Quantity.UnitCode); u != "" && u != "KWH" {
			return nil, &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("quantity unit %q is not supported; order energy in KWH", it.Quantity.UnitCode),
				Paths: "message.order.beckn:orderItems[0].beckn:quantity.unitCode"}
		}
		qty := it.Quantity.UnitQuantity.Decimal
		if qty.IsNegative() || qty.GreaterThan(decimal.NewFromInt(10000)) {
			return nil, &Error{Code: CodeQuantityUnavailable, Message: "quantity must be between 0 and 10000 kWh",
				Paths: "message.order.beckn:orderItems[0].beckn:quantity.unitQuantity"}
		}
		q.qty = &qty
	}
	return q, nil
}

// perKWh is the price a driver pays per kWh.
func perKWh(r Rate) *PriceSpec {
	return &PriceSpec{Currency: r.Currency, Value: evsession.NewAmount(r.PerKWhInclVAT()),
		ApplicableQuantity: &Quantity{UnitText: "Kilowatt Hour", UnitCode: "KWH", UnitQuantity: evsession.NewAmount(decimal.NewFromInt(1))}}
}

// estimate prices the ordered quantity at a rate (nil without a
// quantity).
func estimate(r Rate, kwh *decimal.Decimal) *OrderValue {
	if kwh == nil {
		return nil
	}
	return orderValue(r.Currency, r.Cost(*kwh),
		fmt.Sprintf("Estimated energy: %s kWh at %s %s/kWh excl. VAT", kwh.String(), r.PerKWh.String(), r.Currency))
}

// orderValue is an order's price with its breakup: the energy (UNIT, excl.
// VAT) and the VAT (TAX).
func orderValue(currency string, p tariff.Price, unitText string) *OrderValue {
	incl := p.ExclVAT.Decimal
	if p.InclVAT != nil {
		incl = p.InclVAT.Decimal
	}
	v := &OrderValue{Currency: currency, Value: evsession.NewAmount(incl), Components: []PriceComponent{{
		Type: "UNIT", Value: evsession.NewAmount(p.ExclVAT.Decimal), Currency: currency, Description: unitText,
	}}}
	if tax := incl.Sub(p.ExclVAT.Decimal); !tax.IsZero() {
		v.Components = append(v.Components, PriceComponent{Type: "TAX", Value: evsession.NewAmount(tax), Currency: currency, Description: "VAT"})
	}
	return v
}

// quotedOrder is the order a select or init is answered with.
func (b *BPP) quotedOrder(o *Order, q *quoted, id string) Order {
	it := o.Items[0]
	offer := Offer{Context: CoreContext, Type: "beckn:Offer", ID: "offer-" + it.OrderedItem, Items: []string{it.OrderedItem},
		Provider: b.cfg.Catalog.ProviderID, Price: perKWh(q.rate)}
	out := Order{
		Context: CoreContext, Type: "beckn:Order", ID: id, Status: OrderCreated, Seller: b.cfg.Catalog.ProviderID,
		Buyer: o.Buyer,
		Items: []OrderItem{{OrderedItem: it.OrderedItem, Quantity: it.Quantity, AcceptedOffer: &offer, Price: perKWh(q.rate)}},
		Value: estimate(q.rate, q.qty), Payment: o.Payment, Attributes: orderAttrs(o.Attributes),
	}
	return out
}

func orderAttrs(a *OrderAttributes) *OrderAttributes {
	if a == nil || (a.BuyerFinderFee == nil && a.Preferences == nil) {
		return nil
	}
	return &OrderAttributes{Context: evsession.ContextURL, Type: evsession.Type, BuyerFinderFee: a.BuyerFinderFee, Preferences: a.Preferences}
}

func (b *BPP) selectOrder(ctx context.Context, c Context, o *Order) (any, *Error) {
	q, e := b.quote(ctx, o)
	if e != nil {
		return nil, e
	}
	return orderMessage{Order: b.quotedOrder(o, q, "")}, nil
}

func (b *BPP) initOrder(ctx context.Context, c Context, o *Order) (any, *Error) {
	q, e := b.quote(ctx, o)
	if e != nil {
		return nil, e
	}
	id := o.ID
	if id == "" {
		id = "order-" + charging.NewID()
	}
	unlock, e := b.lock(ctx, id)
	if e != nil {
		return nil, e
	}
	defer unlock()
	r, err := b.load(ctx, id)
	switch {
	case err == nil && (r.BapID != c.BapID || r.Status != OrderCreated):
		return nil, &Error{Code: CodeOrderNotFound, Message: fmt.Sprintf("order %s cannot be initialized again", id), Paths: "message.order.beckn:id"}
	case err != nil && !errors.Is(err, charging.ErrNotFound):
		return nil, errorf(CodeBusinessError, "the order is unavailable; retry later")
	}
	r = b.newRecord(c, o, q, id)
	if err := b.save(ctx, r); err != nil {
		return nil, errorf(CodeBusinessError, "the order could not be stored; retry later")
	}
	return orderMessage{Order: b.quotedOrder(o, q, id)}, nil
}

func (b *BPP) newRecord(c Context, o *Order, q *quoted, id string) *record {
	now := b.clock.Now()
	r := &record{
		ID: id, TransactionID: c.TransactionID, BapID: c.BapID, BapURI: c.BapURI, Domain: c.Domain, Version: c.Version,
		ItemID: o.Items[0].OrderedItem, ChargerID: q.chargerID, ConnectorID: q.connectorID,
		Currency: q.rate.Currency, PerKWh: q.rate.PerKWh, VATPercent: q.rate.VATPercent, QuantityKWh: q.qty,
		Status: OrderCreated, Buyer: o.Buyer, Payment: o.Payment, Attributes: orderAttrs(o.Attributes), Created: now,
	}
	r.takeVehicle(o)
	return r
}

// takeVehicle keeps the vehicle a BAP names in the fulfillment.
func (r *record) takeVehicle(o *Order) {
	if o.Fulfillment == nil || o.Fulfillment.DeliveryAttributes == nil {
		return
	}
	in := o.Fulfillment.DeliveryAttributes.in
	r.VehicleMake, r.VehicleModel = in.VehicleMake, in.VehicleModel
	if in.Vehicle != nil {
		r.VehicleMake, r.VehicleModel = in.Vehicle.Make, in.Vehicle.Model
	}
}

// confirm reserves the connector through the command port, which makes
// the core hold a reserved session.
func (b *BPP) confirm(ctx context.Context, c Context, o *Order, log *slog.Logger) (any, *Error) {
	id := o.ID
	if id == "" {
		id = "order-" + charging.NewID()
	}
	unlock, e := b.lock(ctx, id)
	if e != nil {
		return nil, e
	}
	defer unlock()
	r, err := b.load(ctx, id)
	switch {
	case errors.Is(err, charging.ErrNotFound):
		q, e := b.quote(ctx, o)
		if e != nil {
			return nil, e
		}
		r = b.newRecord(c, o, q, id)
	case err != nil:
		return nil, errorf(CodeBusinessError, "the order is unavailable; retry later")
	case r.BapID != c.BapID:
		return nil, &Error{Code: CodeOrderNotFound, Message: fmt.Sprintf("order %s not found", id), Paths: "message.order.beckn:id"}
	case r.SessionID != "" || r.Status == OrderCancelled:
		return b.orderAnswer(ctx, r) // a repeated confirm: the order as it is
	}
	if len(o.Payment) > 0 {
		r.Payment = o.Payment
	}
	if o.Buyer != nil {
		r.Buyer = o.Buyer
	}
	if a := orderAttrs(o.Attributes); a != nil {
		r.Attributes = a
	}
	r.takeVehicle(o)
	r.TransactionID, r.BapURI = c.TransactionID, c.BapURI

	now := b.clock.Now()
	start := now
	if r.Attributes != nil && r.Attributes.Preferences != nil && r.Attributes.Preferences.StartTime.After(now) {
		start = r.Attributes.Preferences.StartTime
	}
	expiry := start.Add(b.cfg.GracePeriod).UTC()
	tag := newIDTag()
	if _, err := b.core.RegisterTag(ctx, charging.IDTag{ID: tag, Status: charging.AuthAccepted}); err != nil {
		log.Error("beckn: id tag not registered", "err", err)
		return nil, errorf(CodeBusinessError, "the reservation could not be made; retry later")
	}
	resID := newReservationID()
	res, err := b.cmd.Reserve(ctx, charging.Reserve{ChargerID: r.ChargerID, ConnectorID: r.ConnectorID, IDTag: tag,
		ReservationID: resID, ExpiresAt: expiry, RequestedBy: requestedBy})
	if errors.Is(err, charging.ErrRejected) {
		return nil, errorf(CodeQuantityUnavailable, "the connector cannot be reserved: the charger answered %s", rejection(err))
	}
	if err != nil {
		log.Warn("beckn: reserve failed", "charger", r.ChargerID, "err", err)
		return nil, commandError(err, "the charger %s cannot take a reservation now", r.ChargerID)
	}
	sess := charging.Session{ID: res.SessionID}
	r.SessionID, r.ReservationID, r.IDTag = sess.ID, resID, tag
	r.GraceMinutes = b.cfg.GracePeriod.Minutes()
	r.Status, r.Notified = OrderConfirmed, evsession.StatusPending
	if err := b.save(ctx, r); err != nil {
		return nil, errorf(CodeBusinessError, "the order could not be stored")
	}
	idx, _ := json.Marshal(map[string]string{"order_id": r.ID})
	if err := b.docs.PutDoc(ctx, charging.Doc{Kind: DocOrderSession, ID: sess.ID, Owner: r.ChargerID, Body: idx, Updated: now}); err != nil {
		log.Error("beckn: order index not stored; session changes will not be told", "order", r.ID, "err", err)
	}
	log.Info("beckn order confirmed", "order", r.ID, "charger", r.ChargerID, "connector", r.ConnectorID, "reservation", resID, "session", sess.ID)
	return b.orderAnswer(ctx, r)
}

// commandErrorCodes maps the core's command errors onto Beckn error codes,
// tried in order. Every error of charging.CommandErrors is here (a test
// says so); the actions give a rejection a code of their own first.
var commandErrorCodes = []struct {
	err  error
	code string
}{
	{charging.ErrNotConnected, CodeAgentUnavailable},
	{charging.ErrTimeout, CodeAgentUnavailable},
	{charging.ErrChargerError, CodeAgentUnavailable},
	{charging.ErrInvalidAnswer, CodeAgentUnavailable},
	{charging.ErrNotSupported, CodeActionNotApplicable},
	{charging.ErrRejected, CodeUpdateNotPossible},
	{charging.ErrConflict, CodeUpdateNotPossible},
	{charging.ErrNotFound, CodeOrderNotFound},
	{charging.ErrInvalidInput, CodeBusinessError},
}

// commandError is the Beckn error for a command that failed: the code from
// the table, and the message given.
func commandError(err error, format string, args ...any) *Error {
	for _, m := range commandErrorCodes {
		if errors.Is(err, m.err) {
			return errorf(m.code, format, args...)
		}
	}
	return errorf(CodeBusinessError, format, args...)
}

// rejection is the charger's own word for a command it did not accept.
func rejection(err error) string {
	var r *charging.Rejection
	if errors.As(err, &r) && r.Result.Answer != "" {
		return r.Result.Answer
	}
	return "Rejected"
}

// newIDTag returns a fresh OCPP id tag (at most 20 characters) for an
// order: the driver never types it; the BPP starts the charge with it.
func newIDTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "BKN" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// newReservationID returns a random positive 31-bit reservation id (OCPP
// reservationId is an integer; chargers often hold it in 32 bits).
func newReservationID() int64 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint32(b[:])&0x7fffffff) | 1
}

// orderAnswer is the order with its live session, as status answers it.
func (b *BPP) orderAnswer(ctx context.Context, r *record) (any, *Error) {
	o, err := b.liveOrder(ctx, r)
	if err != nil {
		return nil, errorf(CodeBusinessError, "the session is unavailable; retry later")
	}
	return orderMessage{Order: o}, nil
}

// liveOrder renders an order with the current state of its session.
func (b *BPP) liveOrder(ctx context.Context, r *record) (Order, error) {
	out := Order{
		Context: CoreContext, Type: "beckn:Order", ID: r.ID, Status: r.Status, Seller: b.cfg.Catalog.ProviderID,
		Buyer: r.Buyer,
		Items: []OrderItem{{OrderedItem: r.ItemID, Price: perKWh(r.rate()),
			Quantity: quantity(r.QuantityKWh)}},
		Value: estimate(r.rate(), r.QuantityKWh), Payment: r.Payment, Attributes: r.Attributes,
	}
	if r.SessionID == "" {
		return out, nil
	}
	sess, err := b.core.Store().GetSession(ctx, r.SessionID)
	if err != nil {
		return Order{}, err
	}
	view, err := b.view(ctx, r, sess)
	if err != nil {
		return Order{}, err
	}
	out.Status = orderStatusOf(r, sess)
	if sess.TransactionID != "" && sess.Status.Final() && view.TotalCost != nil && view.TotalCost.ExclVAT != nil {
		p := tariff.Price{ExclVAT: tariff.Number{Decimal: view.TotalCost.ExclVAT.Decimal}}
		if view.TotalCost.InclVAT != nil {
			p.InclVAT = &tariff.Number{Decimal: view.TotalCost.InclVAT.Decimal}
		}
		out.Value = orderValue(r.Currency, p, fmt.Sprintf("Delivered energy: %.3f kWh", sess.KWh()))
	}
	out.Fulfillment = &Fulfillment{Context: CoreContext, Type: "beckn:Fulfillment", ID: r.SessionID, Mode: "RESERVATION",
		DeliveryAttributes: &DeliveryAttributes{Session: view}}
	return out, nil
}

func quantity(q *decimal.Decimal) *Quantity {
	if q == nil {
		return nil
	}
	return &Quantity{UnitText: "Kilowatt Hour", UnitCode: "KWH", UnitQuantity: evsession.NewAmount(*q)}
}

// orderStatusOf derives the order status from its session.
func orderStatusOf(r *record, s charging.Session) string {
	if r.Status == OrderCancelled {
		return OrderCancelled
	}
	switch s.Status {
	case charging.SessionReserved, charging.SessionPending:
		return OrderConfirmed
	case charging.SessionActive, charging.SessionStopping:
		return OrderInProgress
	}
	if s.TransactionID == "" { // the reservation ended without charging
		return OrderCancelled
	}
	return OrderCompleted
}

// view is the session's EvChargingSession.
func (b *BPP) view(ctx context.Context, r *record, s charging.Session) (*evsession.Session, error) {
	st := b.core.Store()
	var samples []charging.MeterSample
	if s.TransactionID != "" {
		var err error
		if samples, err = st.SessionSamples(ctx, s.ID); err != nil {
			return nil, err
		}
	}
	sc := SessionContext{
		Units: b.cfg.Units, ConnectorType: b.cfg.Catalog.ConnectorType, Now: b.clock.Now(),
		VehicleMake: r.VehicleMake, VehicleModel: r.VehicleModel,
	}
	if r.ReservationID != 0 {
		sc.ReservationID = strconv.FormatInt(r.ReservationID, 10)
		g := r.GraceMinutes
		sc.GracePeriodMinutes = &g
	}
	if r.Attributes != nil {
		sc.Preferences, sc.BuyerFinderFee = r.Attributes.Preferences, r.Attributes.BuyerFinderFee
	}
	if ch, err := st.GetCharger(ctx, s.ChargerID); err == nil {
		for i := range ch.Connectors {
			if ch.Connectors[i].ConnectorID == s.ConnectorID {
				sc.Connector = &ch.Connectors[i]
				// The plug is that of the connector used, when the
				// EVSE has several.
				used := ch.Connectors[i]
				for _, c := range used.EVSEConnectors {
					if c.EVSEConnectorID == s.EVSEConnectorID {
						used = c
					}
				}
				sc.ConnectorType = b.plugOf(used).connectorType
			}
		}
	}
	if s.TransactionID != "" {
		cost, err := b.cfg.Pricer.SessionCost(ctx, s, samples)
		if err != nil {
			return nil, err
		}
		sc.TotalCost = cost
	}
	return SessionView(s, samples, sc)
}

// OrderView is an order as the operator's dashboard lists it.
type OrderView struct {
	ID            string `json:"id"`
	TransactionID string `json:"transaction_id"`
	BapID         string `json:"bap_id"`
	BapURI        string `json:"bap_uri"`
	Status        string `json:"status"`
	ChargerID     string `json:"charger_id"`
	ConnectorID   int    `json:"connector_id"`
	SessionID     string `json:"session_id,omitempty"`
	Currency      string `json:"currency"`
	PerKWh        string `json:"per_kwh"`
	QuantityKWh   string `json:"quantity_kwh,omitempty"`
	Notified      string `json:"notified,omitempty"`
	// Callbacks counts the on_* callbacks of the order's transaction sent
	// to the BAP since the server started.
	Callbacks Tally     `json:"callbacks"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// Orders returns the latest orders, newest first (at most limit), and how
// many there are in all.
func (b *BPP) Orders(ctx context.Context, limit int) ([]OrderView, int, error) {
	docs, total, err := b.docs.ListDocs(ctx, charging.DocQuery{Kind: DocOrder, Limit: limit, Newest: true})
	if err != nil {
		return nil, 0, fmt.Errorf("list orders: %w", err)
	}
	out := make([]OrderView, 0, len(docs))
	for _, d := range docs {
		var r record
		if err := json.Unmarshal(d.Body, &r); err != nil {
			return nil, 0, fmt.Errorf("order %s: %w", d.ID, err)
		}
		v := OrderView{ID: r.ID, TransactionID: r.TransactionID, BapID: r.BapID, BapURI: r.BapURI, Status: r.Status,
			ChargerID: r.ChargerID, ConnectorID: r.ConnectorID, SessionID: r.SessionID, Currency: r.Currency,
			PerKWh: r.PerKWh.String(), Notified: string(r.Notified), Callbacks: b.send.tallyOf(r.TransactionID), Created: r.Created, Updated: r.Updated}
		if r.QuantityKWh != nil {
			v.QuantityKWh = r.QuantityKWh.String()
		}
		out = append(out, v)
	}
	return out, total, nil
}
