package dlq

import (
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Death is one entry of a dead letter's x-death header: the broker adds or
// updates one per (queue, reason) the message died in, most recent first.
type Death struct {
	Queue       string
	Reason      string // rejected, expired, maxlen or delivery_limit
	Exchange    string // the exchange the message had been published to
	RoutingKeys []string
	Count       int64
	Time        time.Time // when it last died this way
}

// Deaths decodes the x-death header; entries that are not tables are
// skipped (a header forged by a client is not trusted to be well formed).
func Deaths(headers amqp.Table) []Death {
	list, _ := headers["x-death"].([]any)
	out := make([]Death, 0, len(list))
	for _, e := range list {
		t, ok := e.(amqp.Table)
		if !ok {
			continue
		}
		d := Death{
			Queue:    stringField(t, "queue"),
			Reason:   stringField(t, "reason"),
			Exchange: stringField(t, "exchange"),
			Count:    intField(t, "count"),
		}
		if ts, ok := t["time"].(time.Time); ok {
			d.Time = ts
		}
		keys, _ := t["routing-keys"].([]any)
		for _, k := range keys {
			if s, ok := k.(string); ok {
				d.RoutingKeys = append(d.RoutingKeys, s)
			}
		}
		out = append(out, d)
	}
	return out
}

// FirstDeath is the message's first death: where the x-first-death-*
// headers point (RabbitMQ sets them once and never changes them), else the
// oldest x-death entry.
type FirstDeath struct {
	Queue, Reason, Exchange string
	RoutingKeys             []string
	Time                    time.Time // the x-death time of that entry, zero if unknown
}

// First returns the first death, and false for a message that never died
// (no x-death and no x-first-death-queue).
func First(headers amqp.Table) (FirstDeath, bool) {
	deaths := Deaths(headers)
	f := FirstDeath{
		Queue:    stringField(headers, "x-first-death-queue"),
		Reason:   stringField(headers, "x-first-death-reason"),
		Exchange: stringField(headers, "x-first-death-exchange"),
	}
	if f.Queue == "" {
		if len(deaths) == 0 {
			return FirstDeath{}, false
		}
		last := deaths[len(deaths)-1]
		f.Queue, f.Reason, f.Exchange = last.Queue, last.Reason, last.Exchange
	}
	for _, d := range deaths {
		if d.Queue == f.Queue && (f.Reason == "" || d.Reason == f.Reason) {
			f.RoutingKeys, f.Time = d.RoutingKeys, d.Time
			if f.Reason == "" {
				f.Reason = d.Reason
			}
			if _, ok := headers["x-first-death-exchange"]; !ok {
				f.Exchange = d.Exchange
			}
		}
	}
	return f, true
}

// LastDeath is the time of the most recent death, zero without x-death.
func LastDeath(headers amqp.Table) time.Time {
	var last time.Time
	for _, d := range Deaths(headers) {
		if d.Time.After(last) {
			last = d.Time
		}
	}
	return last
}

func stringField(t amqp.Table, key string) string {
	switch v := t[key].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

func intField(t amqp.Table, key string) int64 {
	switch v := t[key].(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case int16:
		return int64(v)
	case int8:
		return int64(v)
	case int:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	}
	return 0
}
