package dlq

import (
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// dimension is one thing a dead letter is described by, as --group-by and
// --filter name it: reason and source (of its first death), header:NAME
// or field:JSON.PATH (of a JSON body).
type dimension struct {
	kind, arg string
}

// parseDimension reads a dimension's name; flag names the flag it came
// from, for the error.
func parseDimension(s, flag string) (dimension, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch {
	case (s == "reason" || s == "source") && arg == "":
	case (kind == "header" || kind == "field") && arg != "":
	default:
		return dimension{}, fmt.Errorf("%s %q: use reason, source, header:NAME or field:JSON.PATH", flag, s)
	}
	return dimension{kind: kind, arg: arg}, nil
}

// facts are what a dead letter's dimensions are read from: its first
// death and, decoded once when a field is asked for, its JSON body.
type facts struct {
	msg     amqp.Delivery
	first   FirstDeath
	body    any
	decoded bool
}

func factsOf(msg amqp.Delivery) *facts {
	first, _ := First(msg.Headers)
	return &facts{msg: msg, first: first}
}

// value is the message's value of d, bounded; "" where it has none.
func (f *facts) value(d dimension) string {
	switch d.kind {
	case "reason":
		return f.first.Reason
	case "source":
		return f.first.Queue
	case "header":
		return boundedValue(f.msg.Headers[d.arg])
	}
	if !f.decoded {
		f.body, f.decoded = decodeJSON(f.msg.Body), true
	}
	return boundedValue(jsonPath(f.body, d.arg))
}
