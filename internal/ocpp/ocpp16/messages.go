package ocpp16

// Messages a charge point sends to the central system, as OCPP 1.6 defines
// them. Timestamps stay strings here: the handler parses them with the
// charger's tolerance policy.

// IDTagInfo is OCPP 1.6 IdTagInfo.
type IDTagInfo struct {
	Status      string `json:"status"`
	ExpiryDate  string `json:"expiryDate,omitempty"`
	ParentIDTag string `json:"parentIdTag,omitempty"`
}

// BootNotificationReq is a BootNotification request.
type BootNotificationReq struct {
	ChargePointVendor       string `json:"chargePointVendor"`
	ChargePointModel        string `json:"chargePointModel"`
	ChargePointSerialNumber string `json:"chargePointSerialNumber,omitempty"`
	ChargeBoxSerialNumber   string `json:"chargeBoxSerialNumber,omitempty"`
	FirmwareVersion         string `json:"firmwareVersion,omitempty"`
	Iccid                   string `json:"iccid,omitempty"`
	Imsi                    string `json:"imsi,omitempty"`
	MeterType               string `json:"meterType,omitempty"`
	MeterSerialNumber       string `json:"meterSerialNumber,omitempty"`
}

// BootNotificationConf answers a BootNotification.
type BootNotificationConf struct {
	Status      string `json:"status"`
	CurrentTime string `json:"currentTime"`
	Interval    int    `json:"interval"`
}

// HeartbeatConf answers a Heartbeat.
type HeartbeatConf struct {
	CurrentTime string `json:"currentTime"`
}

// StatusNotificationReq is a StatusNotification request.
type StatusNotificationReq struct {
	ConnectorID     int    `json:"connectorId"`
	ErrorCode       string `json:"errorCode"`
	Info            string `json:"info,omitempty"`
	Status          string `json:"status"`
	Timestamp       string `json:"timestamp,omitempty"`
	VendorID        string `json:"vendorId,omitempty"`
	VendorErrorCode string `json:"vendorErrorCode,omitempty"`
}

// AuthorizeReq is an Authorize request.
type AuthorizeReq struct {
	IDTag string `json:"idTag"`
}

// AuthorizeConf answers an Authorize.
type AuthorizeConf struct {
	IDTagInfo IDTagInfo `json:"idTagInfo"`
}

// StartTransactionReq is a StartTransaction request.
type StartTransactionReq struct {
	ConnectorID   int    `json:"connectorId"`
	IDTag         string `json:"idTag"`
	MeterStart    int64  `json:"meterStart"`
	ReservationID *int64 `json:"reservationId,omitempty"`
	Timestamp     string `json:"timestamp"`
}

// StartTransactionConf answers a StartTransaction.
type StartTransactionConf struct {
	IDTagInfo     IDTagInfo `json:"idTagInfo"`
	TransactionID int64     `json:"transactionId"`
}

// SampledValue is OCPP 1.6 SampledValue; absent fields take the spec's
// defaults when converted (see ConvertSampledValue).
type SampledValue struct {
	Value     string `json:"value"`
	Context   string `json:"context,omitempty"`
	Format    string `json:"format,omitempty"`
	Measurand string `json:"measurand,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Location  string `json:"location,omitempty"`
	Unit      string `json:"unit,omitempty"`
}

// MeterValue is OCPP 1.6 MeterValue.
type MeterValue struct {
	Timestamp    string         `json:"timestamp"`
	SampledValue []SampledValue `json:"sampledValue"`
}

// MeterValuesReq is a MeterValues request.
type MeterValuesReq struct {
	ConnectorID   int          `json:"connectorId"`
	TransactionID *int64       `json:"transactionId,omitempty"`
	MeterValue    []MeterValue `json:"meterValue"`
}

// StopTransactionReq is a StopTransaction request.
type StopTransactionReq struct {
	IDTag           string       `json:"idTag,omitempty"`
	MeterStop       int64        `json:"meterStop"`
	Timestamp       string       `json:"timestamp"`
	TransactionID   int64        `json:"transactionId"`
	Reason          string       `json:"reason,omitempty"`
	TransactionData []MeterValue `json:"transactionData,omitempty"`
}

// StopTransactionConf answers a StopTransaction.
type StopTransactionConf struct {
	IDTagInfo *IDTagInfo `json:"idTagInfo,omitempty"`
}

// DataTransferReq is a DataTransfer request (either direction).
type DataTransferReq struct {
	VendorID  string `json:"vendorId"`
	MessageID string `json:"messageId,omitempty"`
	Data      string `json:"data,omitempty"`
}

// DataTransferConf answers a DataTransfer.
type DataTransferConf struct {
	Status string `json:"status"`
	Data   string `json:"data,omitempty"`
}

// SignCertificateConf answers a SignCertificate.
type SignCertificateConf struct {
	Status string `json:"status"`
}

// chargerActions are the actions a charge point may send; every other
// action with a schema is one the central system sends.
var chargerActions = map[string]bool{
	"Authorize": true, "BootNotification": true, "DataTransfer": true,
	"DiagnosticsStatusNotification": true, "FirmwareStatusNotification": true,
	"Heartbeat": true, "MeterValues": true, "StartTransaction": true,
	"StatusNotification": true, "StopTransaction": true,
	"SecurityEventNotification": true, "SignedFirmwareStatusNotification": true,
	"LogStatusNotification": true, "SignCertificate": true,
}
