package beckn

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/chargebridge/chargebridge/internal/beckn/evsession"
)

// The message types below are chargebridge's own Go form of the parts of
// the core v2 (rc-eos) Order, Catalog, Item and Offer objects that an EV
// charging BPP reads or writes. Fields we only pass through (buyer,
// payment) stay raw JSON.

// Descriptor names a thing.
type Descriptor struct {
	Type      string `json:"@type"`
	Name      string `json:"schema:name,omitempty"`
	ShortDesc string `json:"beckn:shortDesc,omitempty"`
}

// Quantity is an amount with its unit (UN/CEFACT code).
type Quantity struct {
	UnitText     string           `json:"unitText,omitempty"`
	UnitCode     string           `json:"unitCode,omitempty"`
	UnitQuantity evsession.Amount `json:"unitQuantity"`
}

// PriceSpec is a price, optionally per an applicable quantity.
type PriceSpec struct {
	Currency           string           `json:"currency"`
	Value              evsession.Amount `json:"value"`
	ApplicableQuantity *Quantity        `json:"applicableQuantity,omitempty"`
}

// OrderValue is an order's price with its breakup.
type OrderValue struct {
	Currency   string           `json:"currency"`
	Value      evsession.Amount `json:"value"`
	Components []PriceComponent `json:"components,omitempty"`
}

// PriceComponent is one line of a price breakup (UNIT, FEE, SURCHARGE,
// DISCOUNT, TAX…).
type PriceComponent struct {
	Type        string           `json:"type"`
	Value       evsession.Amount `json:"value"`
	Currency    string           `json:"currency"`
	Description string           `json:"description,omitempty"`
}

// Offer is a priced offer of one or more items.
type Offer struct {
	Context         string          `json:"@context,omitempty"`
	Type            string          `json:"@type,omitempty"`
	ID              string          `json:"beckn:id"`
	Descriptor      *Descriptor     `json:"beckn:descriptor,omitempty"`
	Items           []string        `json:"beckn:items,omitempty"`
	Provider        string          `json:"beckn:provider,omitempty"`
	Price           *PriceSpec      `json:"beckn:price,omitempty"`
	PaymentMethods  []string        `json:"beckn:acceptedPaymentMethod,omitempty"`
	OfferAttributes *OfferAttribute `json:"beckn:offerAttributes,omitempty"`
}

// OfferAttribute is the EvChargingOffer attribute pack.
type OfferAttribute struct {
	Context     string `json:"@context"`
	Type        string `json:"@type"`
	TariffModel string `json:"tariffModel"`
}

// Order is a Beckn order as the EV flow uses it.
type Order struct {
	Context     string           `json:"@context,omitempty"`
	Type        string           `json:"@type,omitempty"`
	ID          string           `json:"beckn:id,omitempty"`
	Status      string           `json:"beckn:orderStatus,omitempty"`
	Seller      string           `json:"beckn:seller,omitempty"`
	Buyer       json.RawMessage  `json:"beckn:buyer,omitempty"`
	Items       []OrderItem      `json:"beckn:orderItems,omitempty"`
	Value       *OrderValue      `json:"beckn:orderValue,omitempty"`
	Fulfillment *Fulfillment     `json:"beckn:fulfillment,omitempty"`
	Payment     json.RawMessage  `json:"beckn:payment,omitempty"`
	Attributes  *OrderAttributes `json:"beckn:orderAttributes,omitempty"`
}

// OrderItem is one ordered item.
type OrderItem struct {
	OrderedItem   string     `json:"beckn:orderedItem"`
	Quantity      *Quantity  `json:"beckn:quantity,omitempty"`
	AcceptedOffer *Offer     `json:"beckn:acceptedOffer,omitempty"`
	Price         *PriceSpec `json:"beckn:price,omitempty"`
}

// Fulfillment is an order's fulfillment: for EV charging, a reservation
// whose delivery attributes are the EvChargingSession.
type Fulfillment struct {
	Context            string              `json:"@context,omitempty"`
	Type               string              `json:"@type,omitempty"`
	ID                 string              `json:"beckn:id,omitempty"`
	Mode               string              `json:"beckn:mode,omitempty"`
	DeliveryAttributes *DeliveryAttributes `json:"beckn:deliveryAttributes,omitempty"`
}

// DeliveryAttributes is the EvChargingSession in a fulfillment. On output
// it is the full session (Session); on input only the fields a BAP sets
// are read, leniently.
type DeliveryAttributes struct {
	*evsession.Session
	in inAttributes
}

// inAttributes are the session fields a BAP may send.
type inAttributes struct {
	SessionStatus string     `json:"sessionStatus,omitempty"`
	ConnectorType string     `json:"connectorType,omitempty"`
	VehicleMake   string     `json:"vehicleMake,omitempty"`
	VehicleModel  string     `json:"vehicleModel,omitempty"`
	Vehicle       *inVehicle `json:"vehicle,omitempty"`
}

type inVehicle struct {
	Make  string `json:"make,omitempty"`
	Model string `json:"model,omitempty"`
}

// MarshalJSON writes the session, or what was read when there is none.
func (d DeliveryAttributes) MarshalJSON() ([]byte, error) {
	if d.Session == nil {
		return json.Marshal(d.in)
	}
	return json.Marshal(d.Session)
}

// UnmarshalJSON reads the fields a BAP may send.
func (d *DeliveryAttributes) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, &d.in)
}

// OrderAttributes is the EvChargingSession pack in beckn:orderAttributes:
// the buyer finder fee and the charging window asked for.
type OrderAttributes struct {
	Context        string                    `json:"@context,omitempty"`
	Type           string                    `json:"@type,omitempty"`
	BuyerFinderFee *evsession.BuyerFinderFee `json:"buyerFinderFee,omitempty"`
	Preferences    *evsession.Preferences    `json:"preferences,omitempty"`
}

// orderMessage is the message of select, init, confirm, status, track,
// update and cancel, and of their callbacks.
type orderMessage struct {
	Order Order `json:"order"`
}

// discoverMessage is the message of discover.
type discoverMessage struct {
	TextSearch string         `json:"text_search,omitempty"`
	Filters    *Filters       `json:"filters,omitempty"`
	Spatial    []SpatialQuery `json:"spatial,omitempty"`
}

// Filters is a discover filter expression.
type Filters struct {
	Type       string `json:"type"`
	Expression string `json:"expression"`
}

// SpatialQuery is a discover spatial constraint. Only s_dwithin of a Point
// is applied.
type SpatialQuery struct {
	Op             string   `json:"op"`
	Targets        string   `json:"targets,omitempty"`
	Geometry       Geometry `json:"geometry"`
	DistanceMeters float64  `json:"distanceMeters,omitempty"`
}

// Geometry is a GeoJSON geometry; only Points are read.
type Geometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// onDiscoverMessage is the message of on_discover.
type onDiscoverMessage struct {
	Catalogs []Catalog `json:"catalogs"`
}

// Catalog is a provider's catalog of charging services.
type Catalog struct {
	Context    string     `json:"@context"`
	Type       string     `json:"@type"`
	ID         string     `json:"beckn:id"`
	Descriptor Descriptor `json:"beckn:descriptor"`
	BppID      string     `json:"beckn:bppId"`
	BppURI     string     `json:"beckn:bppUri"`
	Items      []Item     `json:"beckn:items"`
	Offers     []Offer    `json:"beckn:offers"`
}

// Item is one charging connector offered.
type Item struct {
	Context    string            `json:"@context"`
	Type       string            `json:"@type"`
	ID         string            `json:"beckn:id"`
	Descriptor Descriptor        `json:"beckn:descriptor"`
	Category   Category          `json:"beckn:category"`
	Window     []TimePeriod      `json:"beckn:availabilityWindow,omitempty"`
	Rateable   bool              `json:"beckn:rateable"`
	IsActive   bool              `json:"beckn:isActive"`
	Provider   ItemProvider      `json:"beckn:provider"`
	Attributes ServiceAttributes `json:"beckn:itemAttributes"`
}

// Category is an item's category code.
type Category struct {
	Type      string `json:"@type"`
	CodeValue string `json:"schema:codeValue"`
	Name      string `json:"schema:name"`
}

// TimePeriod is a daily time window.
type TimePeriod struct {
	Type      string `json:"@type"`
	StartTime string `json:"schema:startTime"`
	EndTime   string `json:"schema:endTime"`
}

// ItemProvider names an item's provider.
type ItemProvider struct {
	ID         string     `json:"beckn:id"`
	Descriptor Descriptor `json:"beckn:descriptor"`
}

// ServiceAttributes is the EvChargingService attribute pack of an item.
type ServiceAttributes struct {
	Context              string   `json:"@context"`
	Type                 string   `json:"@type"`
	EvseID               string   `json:"evseId,omitempty"`
	ConnectorType        string   `json:"connectorType"`
	MaxPowerKW           float64  `json:"maxPowerKW"`
	ReservationSupported bool     `json:"reservationSupported"`
	Station              *Station `json:"chargingStation,omitempty"`
	PowerType            string   `json:"powerType,omitempty"`
	ConnectorFormat      string   `json:"connectorFormat,omitempty"`
}

// Station is the charging station of an item.
type Station struct {
	ID       string    `json:"id"`
	Location *Location `json:"serviceLocation,omitempty"`
}

// Location is a GeoJSON point.
type Location struct {
	Type string        `json:"@type"`
	Geo  PointGeometry `json:"geo"`
}

// PointGeometry is a GeoJSON Point: [longitude, latitude].
type PointGeometry struct {
	Type        string     `json:"type"`
	Coordinates [2]float64 `json:"coordinates"`
}

// ratingMessage is the message of rating.
type ratingMessage struct {
	Ratings []RatingInput `json:"ratings"`
}

// RatingInput is one rating a BAP submits.
type RatingInput struct {
	ID          string            `json:"id"`
	RatingValue evsession.Amount  `json:"ratingValue"`
	BestRating  *evsession.Amount `json:"bestRating,omitempty"`
	WorstRating *evsession.Amount `json:"worstRating,omitempty"`
	Category    string            `json:"category,omitempty"`
	Feedback    json.RawMessage   `json:"feedback,omitempty"`
}

// onRatingMessage is the message of on_rating.
type onRatingMessage struct {
	Received bool `json:"received"`
}

// supportMessage is the message of support.
type supportMessage struct {
	RefID   string          `json:"refId,omitempty"`
	RefType string          `json:"refType,omitempty"`
	Support json.RawMessage `json:"support,omitempty"`
}

// SupportInfo is how a driver reaches the operator.
type SupportInfo struct {
	Context  string   `json:"@context"`
	Type     string   `json:"@type"`
	Name     string   `json:"name,omitempty"`
	Phone    string   `json:"phone,omitempty"`
	Email    string   `json:"email,omitempty"`
	URL      string   `json:"url,omitempty"`
	Hours    string   `json:"hours,omitempty"`
	Channels []string `json:"channels,omitempty"`
}

// onSupportMessage is the message of on_support.
type onSupportMessage struct {
	Support SupportInfo `json:"support"`
}

// decodeMessage reads a request's message for its action, so that a
// malformed body is refused before it is acknowledged. It returns the
// decoded message or a NACK error naming the bad part.
func decodeMessage(action string, raw json.RawMessage) (any, *Error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, &Error{Code: CodeInvalidRequest, Message: "message is required", Paths: "message"}
	}
	var v any
	switch action {
	case "discover":
		v = &discoverMessage{}
	case "rating":
		v = &ratingMessage{}
	case "support":
		v = &supportMessage{}
	default:
		v = &orderMessage{}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("message is not a valid %s message: %v", action, err), Paths: "message"}
	}
	if e := checkMessage(action, v); e != nil {
		return nil, e
	}
	return v, nil
}

// checkMessage checks what each action's message must carry.
func checkMessage(action string, v any) *Error {
	bad := func(path, format string, args ...any) *Error {
		return &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf(format, args...), Paths: path}
	}
	switch m := v.(type) {
	case *discoverMessage:
		if m.Filters != nil {
			if m.Filters.Type != "" && m.Filters.Type != "jsonpath" {
				return bad("message.filters.type", "filters.type %q is not supported; use jsonpath", m.Filters.Type)
			}
			if _, err := parseFilter(m.Filters.Expression); err != nil {
				return bad("message.filters.expression", "filters.expression: %v", err)
			}
		}
		for i, s := range m.Spatial {
			if _, err := s.point(); err != nil {
				return bad(fmt.Sprintf("message.spatial[%d]", i), "spatial[%d]: %v", i, err)
			}
		}
	case *orderMessage:
		o := &m.Order
		switch action {
		case "select", "init", "confirm":
			if len(o.Items) == 0 {
				return bad("message.order.beckn:orderItems", "order.beckn:orderItems must name the connector (item) to charge at")
			}
			for i, it := range o.Items {
				if it.OrderedItem == "" {
					return bad(fmt.Sprintf("message.order.beckn:orderItems[%d].beckn:orderedItem", i), "beckn:orderedItem is required")
				}
			}
		default:
			if o.ID == "" {
				return bad("message.order.beckn:id", "order.beckn:id is required")
			}
		}
	case *ratingMessage:
		if len(m.Ratings) == 0 {
			return bad("message.ratings", "ratings must hold at least one rating")
		}
	}
	return nil
}
