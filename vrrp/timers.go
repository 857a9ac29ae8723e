package vrrp

import "time"

// SkewTime returns Skew_Time for a router of the given priority.
//
// VRRPv3 (RFC 9568 §6.1): ((256 - Priority) * Master_Adver_Interval) / 256,
// with the interval the master advertises. VRRPv2 (RFC 3768 §6.1):
// (256 - Priority) / 256 seconds. The product is formed before the division so
// that priority 100 at 1 s gives 609.375 ms, not a truncated 468 ms.
func SkewTime(version uint8, priority uint8, masterAdverInterval time.Duration) time.Duration {
	if version == 2 {
		masterAdverInterval = time.Second
	}
	return time.Duration(256-int64(priority)) * masterAdverInterval / 256
}

// MasterDownInterval returns Master_Down_Interval: 3 * Master_Adver_Interval
// + Skew_Time for v3, 3 * Advertisement_Interval + Skew_Time for v2 (whose
// interval is never learnt from the master).
func MasterDownInterval(version uint8, priority uint8, masterAdverInterval time.Duration) time.Duration {
	return 3*masterAdverInterval + SkewTime(version, priority, masterAdverInterval)
}
