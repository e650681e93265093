package snapshot

import "fmt"

// ReadError is a failed read of the broker, classified for
// warren_poll_errors_total. Its message never holds credentials.
type ReadError struct {
	Reason Reason
	// Op names what failed, such as "GET queues".
	Op string
	// StatusCode is the HTTP status for ReasonHTTPStatus and ReasonAuth.
	StatusCode int
	Err        error
}

func (e *ReadError) Error() string { return fmt.Sprintf("%s: %s: %v", e.Op, e.Reason, e.Err) }

func (e *ReadError) Unwrap() error { return e.Err }

// Reason classifies a failed read; it is the reason label.
type Reason string

// The reasons a read fails.
const (
	ReasonTimeout         Reason = "timeout"
	ReasonConnection      Reason = "connection"
	ReasonTLS             Reason = "tls"
	ReasonAuth            Reason = "auth"
	ReasonHTTPStatus      Reason = "http_status"
	ReasonInvalidResponse Reason = "invalid_response"
	ReasonCredentials     Reason = "credentials"
	// ReasonStatisticsDisabled is a management API that answers but
	// collects no statistics (management_agent.disable_metrics_collector),
	// read by a target whose source is the management API alone.
	ReasonStatisticsDisabled Reason = "statistics_disabled"
)

// Reasons lists every reason, for creating each error series at zero.
var Reasons = []Reason{ReasonTimeout, ReasonConnection, ReasonTLS, ReasonAuth, ReasonHTTPStatus, ReasonInvalidResponse, ReasonCredentials, ReasonStatisticsDisabled}
