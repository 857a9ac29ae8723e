package vrrp

import (
	"errors"
	"fmt"
)

// Sentinel errors for malformed adverts. Decode wraps one of them in a
// *DecodeError, so callers can both test the class with errors.Is and read
// the detail (and the Reason, for per-reason drop counters).
var (
	ErrTruncated     = errors.New("truncated")
	ErrVersion       = errors.New("unsupported version")
	ErrType          = errors.New("unsupported packet type")
	ErrChecksum      = errors.New("bad checksum")
	ErrAddrCount     = errors.New("address count does not match length")
	ErrIntervalZero  = errors.New("advert interval is zero")
	ErrAuthType      = errors.New("unknown auth type")
	ErrFamily        = errors.New("address family mismatch")
	ErrInvalidVRID   = errors.New("invalid VRID")
	ErrInvalidAdvert = errors.New("advert cannot be encoded")
)

// Reason classifies a decode failure in a form cheap enough to use as a
// counter index on the receive path.
type Reason uint8

// Decode failure reasons, one per sentinel error.
const (
	ReasonNone Reason = iota
	ReasonTruncated
	ReasonVersion
	ReasonType
	ReasonChecksum
	ReasonAddrCount
	ReasonIntervalZero
	ReasonAuthType
	ReasonFamily
	ReasonInvalidVRID
	numReasons
)

var reasonErrors = [numReasons]error{
	ReasonTruncated:    ErrTruncated,
	ReasonVersion:      ErrVersion,
	ReasonType:         ErrType,
	ReasonChecksum:     ErrChecksum,
	ReasonAddrCount:    ErrAddrCount,
	ReasonIntervalZero: ErrIntervalZero,
	ReasonAuthType:     ErrAuthType,
	ReasonFamily:       ErrFamily,
	ReasonInvalidVRID:  ErrInvalidVRID,
}

var reasonNames = [numReasons]string{
	ReasonNone:         "none",
	ReasonTruncated:    "truncated",
	ReasonVersion:      "version",
	ReasonType:         "type",
	ReasonChecksum:     "checksum",
	ReasonAddrCount:    "addr_count",
	ReasonIntervalZero: "interval_zero",
	ReasonAuthType:     "auth_type",
	ReasonFamily:       "family",
	ReasonInvalidVRID:  "vrid",
}

// String returns a short snake_case name, suitable as a metric label.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Reasons lists every decode failure reason, for callers that pre-create counters.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := ReasonTruncated; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// DecodeError says what is wrong with an advert that failed to decode.
type DecodeError struct {
	Reason Reason
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "vrrp: " + reasonErrors[e.Reason].Error()
	}
	return "vrrp: " + reasonErrors[e.Reason].Error() + ": " + e.Detail
}

// Unwrap makes errors.Is(err, ErrChecksum) and friends work.
func (e *DecodeError) Unwrap() error { return reasonErrors[e.Reason] }

func decodeErr(r Reason, format string, args ...any) error {
	return &DecodeError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the decode failure reason carried by err, or ReasonNone.
func ReasonOf(err error) Reason {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ReasonNone
}
