package ocpp201

import (
	"encoding/json"
	"time"
)

// The OCPP 2.0.1 messages chargebridge reads or writes, written from the
// official schemas (schemas/*.json). Optional fields are pointers or
// omitempty so that what is sent validates; every payload is validated
// against its schema before it is decoded into these types.

// IDToken is an IdTokenType: up to 36 characters and its type (Central,
// eMAID, ISO14443, ISO15693, KeyCode, Local, MacAddress, NoAuthorization).
type IDToken struct {
	IDToken        string           `json:"idToken"`
	Type           string           `json:"type"`
	AdditionalInfo []AdditionalInfo `json:"additionalInfo,omitempty"`
}

// AdditionalInfo is an AdditionalInfoType.
type AdditionalInfo struct {
	AdditionalIDToken string `json:"additionalIdToken"`
	Type              string `json:"type"`
}

// IDTokenInfo is an IdTokenInfoType.
type IDTokenInfo struct {
	Status              string     `json:"status"`
	CacheExpiryDateTime *time.Time `json:"cacheExpiryDateTime,omitempty"`
	ChargingPriority    *int       `json:"chargingPriority,omitempty"`
	Language1           string     `json:"language1,omitempty"`
	EVSEID              []int      `json:"evseId,omitempty"`
	GroupIDToken        *IDToken   `json:"groupIdToken,omitempty"`
}

// StatusInfo is a StatusInfoType.
type StatusInfo struct {
	ReasonCode     string `json:"reasonCode"`
	AdditionalInfo string `json:"additionalInfo,omitempty"`
}

// EVSE is an EVSEType: an EVSE id and optionally one of its connectors.
type EVSE struct {
	ID          int  `json:"id"`
	ConnectorID *int `json:"connectorId,omitempty"`
}

// BootNotificationReq is BootNotificationRequest.
type BootNotificationReq struct {
	ChargingStation ChargingStation `json:"chargingStation"`
	Reason          string          `json:"reason"`
}

// ChargingStation is a ChargingStationType.
type ChargingStation struct {
	SerialNumber    string `json:"serialNumber,omitempty"`
	Model           string `json:"model"`
	VendorName      string `json:"vendorName"`
	FirmwareVersion string `json:"firmwareVersion,omitempty"`
	Modem           *Modem `json:"modem,omitempty"`
}

// Modem is a ModemType.
type Modem struct {
	ICCID string `json:"iccid,omitempty"`
	IMSI  string `json:"imsi,omitempty"`
}

// BootNotificationConf is BootNotificationResponse.
type BootNotificationConf struct {
	CurrentTime time.Time   `json:"currentTime"`
	Interval    int         `json:"interval"`
	Status      string      `json:"status"`
	StatusInfo  *StatusInfo `json:"statusInfo,omitempty"`
}

// HeartbeatConf is HeartbeatResponse.
type HeartbeatConf struct {
	CurrentTime time.Time `json:"currentTime"`
}

// StatusNotificationReq is StatusNotificationRequest. ConnectorStatus is
// Available, Occupied, Reserved, Unavailable or Faulted.
type StatusNotificationReq struct {
	Timestamp       time.Time `json:"timestamp"`
	ConnectorStatus string    `json:"connectorStatus"`
	EVSEID          int       `json:"evseId"`
	ConnectorID     int       `json:"connectorId"`
}

// AuthorizeReq is AuthorizeRequest.
type AuthorizeReq struct {
	IDToken     IDToken         `json:"idToken"`
	Certificate string          `json:"certificate,omitempty"`
	HashData    json.RawMessage `json:"iso15118CertificateHashData,omitempty"`
}

// AuthorizeConf is AuthorizeResponse.
type AuthorizeConf struct {
	IDTokenInfo       IDTokenInfo `json:"idTokenInfo"`
	CertificateStatus string      `json:"certificateStatus,omitempty"`
}

// TransactionEventReq is TransactionEventRequest.
type TransactionEventReq struct {
	EventType          string          `json:"eventType"` // Started, Updated, Ended
	Timestamp          time.Time       `json:"timestamp"`
	TriggerReason      string          `json:"triggerReason"`
	SeqNo              int64           `json:"seqNo"`
	Offline            bool            `json:"offline,omitempty"`
	NumberOfPhasesUsed *int            `json:"numberOfPhasesUsed,omitempty"`
	CableMaxCurrent    *int            `json:"cableMaxCurrent,omitempty"`
	ReservationID      *int64          `json:"reservationId,omitempty"`
	TransactionInfo    TransactionInfo `json:"transactionInfo"`
	IDToken            *IDToken        `json:"idToken,omitempty"`
	EVSE               *EVSE           `json:"evse,omitempty"`
	MeterValue         []MeterValue    `json:"meterValue,omitempty"`
}

// TransactionInfo is a TransactionType.
type TransactionInfo struct {
	TransactionID     string `json:"transactionId"`
	ChargingState     string `json:"chargingState,omitempty"`
	TimeSpentCharging *int   `json:"timeSpentCharging,omitempty"`
	StoppedReason     string `json:"stoppedReason,omitempty"`
	RemoteStartID     *int64 `json:"remoteStartId,omitempty"`
}

// TransactionEventConf is TransactionEventResponse.
type TransactionEventConf struct {
	TotalCost        *float64     `json:"totalCost,omitempty"`
	ChargingPriority *int         `json:"chargingPriority,omitempty"`
	IDTokenInfo      *IDTokenInfo `json:"idTokenInfo,omitempty"`
}

// MeterValue is a MeterValueType.
type MeterValue struct {
	Timestamp    time.Time      `json:"timestamp"`
	SampledValue []SampledValue `json:"sampledValue"`
}

// SampledValue is a SampledValueType: a number, scaled by its unit's
// multiplier (a power of ten), with an optional signed meter value kept
// verbatim.
type SampledValue struct {
	Value            float64          `json:"value"`
	Context          string           `json:"context,omitempty"`
	Measurand        string           `json:"measurand,omitempty"`
	Phase            string           `json:"phase,omitempty"`
	Location         string           `json:"location,omitempty"`
	SignedMeterValue *json.RawMessage `json:"signedMeterValue,omitempty"`
	UnitOfMeasure    *UnitOfMeasure   `json:"unitOfMeasure,omitempty"`
}

// UnitOfMeasure is a UnitOfMeasureType; the schema's defaults are unit Wh
// and multiplier 0.
type UnitOfMeasure struct {
	Unit       string `json:"unit,omitempty"`
	Multiplier int    `json:"multiplier,omitempty"`
}

// MeterValuesReq is MeterValuesRequest (values outside a transaction; evse 0
// is the main meter).
type MeterValuesReq struct {
	EVSEID     int          `json:"evseId"`
	MeterValue []MeterValue `json:"meterValue"`
}

// RequestStartTransactionReq is RequestStartTransactionRequest.
type RequestStartTransactionReq struct {
	EVSEID        *int     `json:"evseId,omitempty"`
	RemoteStartID int64    `json:"remoteStartId"`
	IDToken       IDToken  `json:"idToken"`
	GroupIDToken  *IDToken `json:"groupIdToken,omitempty"`
}

// RequestStartTransactionConf is RequestStartTransactionResponse.
type RequestStartTransactionConf struct {
	Status        string      `json:"status"`
	TransactionID string      `json:"transactionId,omitempty"`
	StatusInfo    *StatusInfo `json:"statusInfo,omitempty"`
}

// RequestStopTransactionReq is RequestStopTransactionRequest.
type RequestStopTransactionReq struct {
	TransactionID string `json:"transactionId"`
}

// RequestStopTransactionConf is RequestStopTransactionResponse.
type RequestStopTransactionConf struct {
	Status     string      `json:"status"`
	StatusInfo *StatusInfo `json:"statusInfo,omitempty"`
}

// CertificateConf answers Get15118EVCertificate and GetCertificateStatus
// while no certificate provider is configured.
type CertificateConf struct {
	Status      string      `json:"status"`
	ExiResponse *string     `json:"exiResponse,omitempty"`
	StatusInfo  *StatusInfo `json:"statusInfo,omitempty"`
}

// DataTransferConf is DataTransferResponse.
type DataTransferConf struct {
	Status     string      `json:"status"`
	StatusInfo *StatusInfo `json:"statusInfo,omitempty"`
}

// ReserveNowReq is ReserveNowRequest (no evseId: any EVSE).
type ReserveNowReq struct {
	ID             int64     `json:"id"`
	ExpiryDateTime time.Time `json:"expiryDateTime"`
	ConnectorType  string    `json:"connectorType,omitempty"`
	IDToken        IDToken   `json:"idToken"`
	EVSEID         *int      `json:"evseId,omitempty"`
	GroupIDToken   *IDToken  `json:"groupIdToken,omitempty"`
}

// CancelReservationReq is CancelReservationRequest.
type CancelReservationReq struct {
	ReservationID int64 `json:"reservationId"`
}

// UnlockConnectorReq is UnlockConnectorRequest.
type UnlockConnectorReq struct {
	EVSEID      int `json:"evseId"`
	ConnectorID int `json:"connectorId"`
}

// ResetReq is ResetRequest: Immediate or OnIdle, for the station or one
// EVSE.
type ResetReq struct {
	Type   string `json:"type"`
	EVSEID *int   `json:"evseId,omitempty"`
}

// ChangeAvailabilityReq is ChangeAvailabilityRequest (no evse: the whole
// station).
type ChangeAvailabilityReq struct {
	OperationalStatus string `json:"operationalStatus"`
	EVSE              *EVSE  `json:"evse,omitempty"`
}

// SetChargingProfileReq is SetChargingProfileRequest (evseId 0: the grid
// connection, or every EVSE for a TxDefaultProfile).
type SetChargingProfileReq struct {
	EVSEID          int             `json:"evseId"`
	ChargingProfile ChargingProfile `json:"chargingProfile"`
}

// ChargingProfile is a ChargingProfileType.
type ChargingProfile struct {
	ID                     int                `json:"id"`
	StackLevel             int                `json:"stackLevel"`
	ChargingProfilePurpose string             `json:"chargingProfilePurpose"`
	ChargingProfileKind    string             `json:"chargingProfileKind"`
	RecurrencyKind         string             `json:"recurrencyKind,omitempty"`
	ValidFrom              *time.Time         `json:"validFrom,omitempty"`
	ValidTo                *time.Time         `json:"validTo,omitempty"`
	TransactionID          string             `json:"transactionId,omitempty"`
	ChargingSchedule       []ChargingSchedule `json:"chargingSchedule"`
}

// ChargingSchedule is a ChargingScheduleType.
type ChargingSchedule struct {
	ID                     int                      `json:"id"`
	StartSchedule          *time.Time               `json:"startSchedule,omitempty"`
	Duration               *int                     `json:"duration,omitempty"`
	ChargingRateUnit       string                   `json:"chargingRateUnit"`
	ChargingSchedulePeriod []ChargingSchedulePeriod `json:"chargingSchedulePeriod"`
	MinChargingRate        *float64                 `json:"minChargingRate,omitempty"`
}

// ChargingSchedulePeriod is a ChargingSchedulePeriodType.
type ChargingSchedulePeriod struct {
	StartPeriod  int     `json:"startPeriod"`
	Limit        float64 `json:"limit"`
	NumberPhases *int    `json:"numberPhases,omitempty"`
	PhaseToUse   *int    `json:"phaseToUse,omitempty"`
}

// Component is a ComponentType: a name, an instance, an EVSE.
type Component struct {
	Name     string `json:"name"`
	Instance string `json:"instance,omitempty"`
	EVSE     *EVSE  `json:"evse,omitempty"`
}

// Variable is a VariableType.
type Variable struct {
	Name     string `json:"name"`
	Instance string `json:"instance,omitempty"`
}

// GetVariablesReq is GetVariablesRequest.
type GetVariablesReq struct {
	GetVariableData []GetVariableData `json:"getVariableData"`
}

// GetVariableData is a GetVariableDataType.
type GetVariableData struct {
	AttributeType string    `json:"attributeType,omitempty"`
	Component     Component `json:"component"`
	Variable      Variable  `json:"variable"`
}

// GetVariablesConf is GetVariablesResponse.
type GetVariablesConf struct {
	GetVariableResult []GetVariableResult `json:"getVariableResult"`
}

// GetVariableResult is a GetVariableResultType.
type GetVariableResult struct {
	AttributeStatus string    `json:"attributeStatus"`
	AttributeType   string    `json:"attributeType,omitempty"`
	AttributeValue  *string   `json:"attributeValue,omitempty"`
	Component       Component `json:"component"`
	Variable        Variable  `json:"variable"`
}

// SetVariablesReq is SetVariablesRequest.
type SetVariablesReq struct {
	SetVariableData []SetVariableData `json:"setVariableData"`
}

// SetVariableData is a SetVariableDataType.
type SetVariableData struct {
	AttributeType  string    `json:"attributeType,omitempty"`
	AttributeValue string    `json:"attributeValue"`
	Component      Component `json:"component"`
	Variable       Variable  `json:"variable"`
}

// SetVariablesConf is SetVariablesResponse.
type SetVariablesConf struct {
	SetVariableResult []SetVariableResult `json:"setVariableResult"`
}

// SetVariableResult is a SetVariableResultType: Accepted, Rejected,
// UnknownComponent, UnknownVariable, NotSupportedAttributeType or
// RebootRequired.
type SetVariableResult struct {
	AttributeType   string      `json:"attributeType,omitempty"`
	AttributeStatus string      `json:"attributeStatus"`
	Component       Component   `json:"component"`
	Variable        Variable    `json:"variable"`
	StatusInfo      *StatusInfo `json:"attributeStatusInfo,omitempty"`
}
