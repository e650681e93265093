package dlq

import (
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Filter selects the dead letters a replay moves: every condition must
// hold. The zero Filter selects all.
type Filter []condition

// condition is DIMENSION=VALUE, or DIMENSION!=VALUE when negated; a value
// is compared as --group-by shows it ("" where the message has none).
type condition struct {
	dim     dimension
	value   string
	negated bool
}

// ParseFilter reads a --filter expression: conditions separated by
// commas, each DIMENSION=VALUE or DIMENSION!=VALUE, where DIMENSION is
// one of --group-by's (reason, source, header:NAME, field:JSON.PATH).
// For example reason=rejected,source=billing.worker,field:event_type=order.paid.
func ParseFilter(expr string) (Filter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	var f Filter
	for _, part := range strings.Split(expr, ",") {
		name, value, negated := strings.Cut(part, "!=")
		if !negated {
			var ok bool
			if name, value, ok = strings.Cut(part, "="); !ok {
				return nil, fmt.Errorf("--filter %q: a condition is DIMENSION=VALUE or DIMENSION!=VALUE", part)
			}
		}
		d, err := parseDimension(strings.TrimSpace(name), "--filter")
		if err != nil {
			return nil, err
		}
		f = append(f, condition{dim: d, value: value, negated: negated})
	}
	return f, nil
}

// Match reports whether msg meets every condition.
func (f Filter) Match(msg amqp.Delivery) bool {
	if len(f) == 0 {
		return true
	}
	fs := factsOf(msg)
	for _, c := range f {
		if (fs.value(c.dim) == c.value) == c.negated {
			return false
		}
	}
	return true
}

// String is the expression the filter was read from, normalised.
func (f Filter) String() string {
	parts := make([]string, len(f))
	for i, c := range f {
		name := c.dim.kind
		if c.dim.arg != "" {
			name += ":" + c.dim.arg
		}
		op := "="
		if c.negated {
			op = "!="
		}
		parts[i] = name + op + c.value
	}
	return strings.Join(parts, ",")
}
