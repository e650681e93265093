package management

import (
	"bytes"
	"encoding/json"
	"time"
)

// jsonObject is a JSON object that the management API writes as [] when
// empty (an empty Erlang proplist).
type jsonObject map[string]any

// UnmarshalJSON accepts an object, an empty array or null.
func (o *jsonObject) UnmarshalJSON(b []byte) error {
	if s := bytes.TrimSpace(b); len(s) == 0 || bytes.Equal(s, []byte("[]")) || bytes.Equal(s, []byte("null")) {
		*o = nil
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*o = m
	return nil
}

// deadLetterSettings reads a queue's dead-letter exchange and routing key:
// the x-arguments win over the policy, as in RabbitMQ.
func deadLetterSettings(arguments, policy map[string]any) (exchange string, hasExchange bool, key string, hasKey bool) {
	exchange, hasExchange = stringSetting(arguments, "x-dead-letter-exchange")
	if !hasExchange {
		exchange, hasExchange = stringSetting(policy, "dead-letter-exchange")
	}
	key, hasKey = stringSetting(arguments, "x-dead-letter-routing-key")
	if !hasKey {
		key, hasKey = stringSetting(policy, "dead-letter-routing-key")
	}
	return
}

// maxPriority is the x-max-priority argument, 0 when absent or not a
// positive number. RabbitMQ accepts it only as an argument (a policy
// cannot set it); JSON gives it as a number.
func maxPriority(arguments map[string]any) int {
	v, ok := arguments["x-max-priority"].(float64)
	if !ok || v < 1 {
		return 0
	}
	return int(min(v, 255))
}

// lowerSetting reads a queue setting in whole milliseconds that may be
// both an x-argument and a policy key: RabbitMQ applies the lower of the
// two when both are set (message TTL; consumer timeout from 3.12). Not
// negative.
func lowerSetting(arguments map[string]any, argument string, policy map[string]any, key string) (time.Duration, bool) {
	ms, ok := lower(numberSetting, arguments, argument, policy, key)
	if !ok {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

func numberSetting(m map[string]any, name string) (float64, bool) {
	v, ok := m[name].(float64)
	return v, ok && v >= 0
}

func stringSetting(m map[string]any, name string) (string, bool) {
	v, ok := m[name].(string)
	return v, ok
}
