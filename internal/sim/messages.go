package sim

import "github.com/chargebridge/chargebridge/internal/ocpp/ocpp16"

// OCPP 1.6 payloads the simulator sends and receives. The ones the central
// system's handlers already declare are shared with package ocpp16; the
// others declare only the fields the simulator uses (optional ones are
// pointers or omitempty, so a missing transactionId can be told from 0).

type idTagInfo = ocpp16.IDTagInfo

type bootNotificationReq = ocpp16.BootNotificationReq

type bootNotificationConf = ocpp16.BootNotificationConf

type statusNotificationReq = ocpp16.StatusNotificationReq

type authorizeReq = ocpp16.AuthorizeReq

type authorizeConf = ocpp16.AuthorizeConf

type startTransactionReq struct {
	ConnectorID   int    `json:"connectorId"`
	IDTag         string `json:"idTag"`
	MeterStart    int64  `json:"meterStart"`
	ReservationID *int   `json:"reservationId,omitempty"`
	Timestamp     string `json:"timestamp"`
}

type startTransactionConf struct {
	IDTagInfo     idTagInfo `json:"idTagInfo"`
	TransactionID *int      `json:"transactionId"`
}

type sampledValue = ocpp16.SampledValue

type meterValue = ocpp16.MeterValue

type meterValuesReq struct {
	ConnectorID   int          `json:"connectorId"`
	TransactionID *int         `json:"transactionId,omitempty"`
	MeterValue    []meterValue `json:"meterValue"`
}

type stopTransactionReq struct {
	IDTag           string       `json:"idTag,omitempty"`
	MeterStop       int64        `json:"meterStop"`
	Timestamp       string       `json:"timestamp"`
	TransactionID   int          `json:"transactionId"`
	Reason          string       `json:"reason,omitempty"`
	TransactionData []meterValue `json:"transactionData,omitempty"`
}

type heartbeatConf = ocpp16.HeartbeatConf

type statusOnly struct {
	Status string `json:"status"`
}

type firmwareStatusReq struct {
	Status    string `json:"status"`
	RequestID *int   `json:"requestId,omitempty"`
}

type securityEventReq struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	TechInfo  string `json:"techInfo,omitempty"`
}

type signCertificateReq struct {
	CSR string `json:"csr"`
}

// Central system → charge point requests.

type remoteStartReq struct {
	ConnectorID     *int             `json:"connectorId"`
	IDTag           string           `json:"idTag"`
	ChargingProfile *chargingProfile `json:"chargingProfile"`
}

type remoteStopReq struct {
	TransactionID *int `json:"transactionId"`
}

type resetReq struct {
	Type string `json:"type"`
}

type connectorReq struct {
	ConnectorID *int `json:"connectorId"`
}

type changeAvailabilityReq struct {
	ConnectorID *int   `json:"connectorId"`
	Type        string `json:"type"`
}

type getConfigurationReq struct {
	Key []string `json:"key"`
}

type configurationKey struct {
	Key      string  `json:"key"`
	Readonly bool    `json:"readonly"`
	Value    *string `json:"value,omitempty"`
}

type getConfigurationConf struct {
	ConfigurationKey []configurationKey `json:"configurationKey,omitempty"`
	UnknownKey       []string           `json:"unknownKey,omitempty"`
}

type changeConfigurationReq struct {
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

type dataTransferReq = ocpp16.DataTransferReq

type triggerMessageReq struct {
	RequestedMessage string `json:"requestedMessage"`
	ConnectorID      *int   `json:"connectorId"`
}

type reserveNowReq struct {
	ConnectorID   *int   `json:"connectorId"`
	ExpiryDate    string `json:"expiryDate"`
	IDTag         string `json:"idTag"`
	ParentIDTag   string `json:"parentIdTag"`
	ReservationID *int   `json:"reservationId"`
}

type cancelReservationReq struct {
	ReservationID *int `json:"reservationId"`
}

type authorizationData struct {
	IDTag     string     `json:"idTag"`
	IDTagInfo *idTagInfo `json:"idTagInfo"`
}

type sendLocalListReq struct {
	ListVersion            *int                `json:"listVersion"`
	LocalAuthorizationList []authorizationData `json:"localAuthorizationList"`
	UpdateType             string              `json:"updateType"`
}

type getLocalListVersionConf struct {
	ListVersion int `json:"listVersion"`
}

type chargingSchedulePeriod struct {
	StartPeriod  int     `json:"startPeriod"`
	Limit        float64 `json:"limit"`
	NumberPhases *int    `json:"numberPhases,omitempty"`
}

type chargingSchedule struct {
	Duration               *int                     `json:"duration,omitempty"`
	StartSchedule          string                   `json:"startSchedule,omitempty"`
	ChargingRateUnit       string                   `json:"chargingRateUnit"`
	ChargingSchedulePeriod []chargingSchedulePeriod `json:"chargingSchedulePeriod"`
	MinChargingRate        *float64                 `json:"minChargingRate,omitempty"`
}

type chargingProfile struct {
	ChargingProfileID      int              `json:"chargingProfileId"`
	TransactionID          *int             `json:"transactionId,omitempty"`
	StackLevel             int              `json:"stackLevel"`
	ChargingProfilePurpose string           `json:"chargingProfilePurpose"`
	ChargingProfileKind    string           `json:"chargingProfileKind"`
	RecurrencyKind         string           `json:"recurrencyKind,omitempty"`
	ValidFrom              string           `json:"validFrom,omitempty"`
	ValidTo                string           `json:"validTo,omitempty"`
	ChargingSchedule       chargingSchedule `json:"chargingSchedule"`
}

type setChargingProfileReq struct {
	ConnectorID        *int             `json:"connectorId"`
	CSChargingProfiles *chargingProfile `json:"csChargingProfiles"`
}

type clearChargingProfileReq struct {
	ID                     *int   `json:"id"`
	ConnectorID            *int   `json:"connectorId"`
	ChargingProfilePurpose string `json:"chargingProfilePurpose"`
	StackLevel             *int   `json:"stackLevel"`
}

type getCompositeScheduleReq struct {
	ConnectorID      *int   `json:"connectorId"`
	Duration         *int   `json:"duration"`
	ChargingRateUnit string `json:"chargingRateUnit"`
}

type getCompositeScheduleConf struct {
	Status           string            `json:"status"`
	ConnectorID      *int              `json:"connectorId,omitempty"`
	ScheduleStart    string            `json:"scheduleStart,omitempty"`
	ChargingSchedule *chargingSchedule `json:"chargingSchedule,omitempty"`
}

type updateFirmwareReq struct {
	Location     string `json:"location"`
	RetrieveDate string `json:"retrieveDate"`
}

type getDiagnosticsReq struct {
	Location string `json:"location"`
}

type getDiagnosticsConf struct {
	FileName string `json:"fileName,omitempty"`
}

type extendedTriggerMessageReq = triggerMessageReq

type getLogReq struct {
	LogType   string `json:"logType"`
	RequestID *int   `json:"requestId"`
	Log       *struct {
		RemoteLocation string `json:"remoteLocation"`
	} `json:"log"`
}

type getLogConf struct {
	Status   string `json:"status"`
	Filename string `json:"filename,omitempty"`
}

type signedUpdateFirmwareReq struct {
	RequestID *int `json:"requestId"`
	Firmware  *struct {
		Location           string `json:"location"`
		RetrieveDateTime   string `json:"retrieveDateTime"`
		InstallDateTime    string `json:"installDateTime"`
		SigningCertificate string `json:"signingCertificate"`
		Signature          string `json:"signature"`
	} `json:"firmware"`
}

type certificateSignedReq struct {
	CertificateChain string `json:"certificateChain"`
}

type installCertificateReq struct {
	CertificateType string `json:"certificateType"`
	Certificate     string `json:"certificate"`
}

type certificateHashData struct {
	HashAlgorithm  string `json:"hashAlgorithm"`
	IssuerNameHash string `json:"issuerNameHash"`
	IssuerKeyHash  string `json:"issuerKeyHash"`
	SerialNumber   string `json:"serialNumber"`
}

type deleteCertificateReq struct {
	CertificateHashData *certificateHashData `json:"certificateHashData"`
}

type getInstalledCertificateIDsReq struct {
	CertificateType string `json:"certificateType"`
}

type getInstalledCertificateIDsConf struct {
	CertificateHashData []certificateHashData `json:"certificateHashData,omitempty"`
	Status              string                `json:"status"`
}
