package management

import (
	"math"

	"github.com/warrenhq/warren/snapshot"
)

// lengthLimit reads a queue's length limits and overflow mode as RabbitMQ
// applies them: where both the x-argument and the policy set a limit, the
// lower wins; the x-overflow argument wins over the overflow policy key;
// without either, a limited queue drops from its head.
func lengthLimit(arguments, policy map[string]any) snapshot.LengthLimit {
	var l snapshot.LengthLimit
	l.MaxLength, l.HasMaxLength = lower(intSetting, arguments, "x-max-length", policy, "max-length")
	l.MaxLengthBytes, l.HasMaxLengthBytes = lower(intSetting, arguments, "x-max-length-bytes", policy, "max-length-bytes")
	if !l.Limited() {
		return l
	}
	overflow, ok := stringSetting(arguments, "x-overflow")
	if !ok {
		overflow, ok = stringSetting(policy, "overflow")
	}
	switch o := snapshot.Overflow(overflow); {
	case !ok:
		l.Overflow = snapshot.DropHead
	case o == snapshot.DropHead || o == snapshot.RejectPublish || o == snapshot.RejectPublishDLX:
		l.Overflow = o
	default:
		l.Overflow = snapshot.DropHead // the broker refuses other values; never guess a safer mode
	}
	return l
}

// lower is the lower of a queue's x-argument and its policy's key, as
// read reads each, where either is set: RabbitMQ applies the lower of
// the two for the numeric settings warren reads.
func lower[T int64 | float64](read func(map[string]any, string) (T, bool), arguments map[string]any, argument string, policy map[string]any, key string) (T, bool) {
	a, hasA := read(arguments, argument)
	p, hasP := read(policy, key)
	switch {
	case hasA && hasP:
		return min(a, p), true
	case hasA:
		return a, true
	}
	return p, hasP
}

// intSetting reads a non-negative whole number; JSON numbers decode as
// float64.
func intSetting(m map[string]any, name string) (int64, bool) {
	v, ok := m[name].(float64)
	if !ok || v < 0 || v != math.Trunc(v) || v > math.MaxInt64/2 {
		return 0, false
	}
	return int64(v), true
}
