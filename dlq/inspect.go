package dlq

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// InspectOptions say what `warren dlq inspect` reads and how it groups.
type InspectOptions struct {
	Queue string
	// Limit is the most messages read (default DefaultInspectLimit):
	// each stays unacknowledged, so held by the broker for this
	// connection, until the inspection ends.
	Limit int
	// GroupBy are the dimensions of a group: reason, source,
	// header:NAME or field:JSON.PATH (default DefaultGroupBy).
	GroupBy []string
	// Show is how many messages to keep in full (headers and a body
	// of at most MaxBody bytes).
	Show    int
	MaxBody int
}

// DefaultGroupBy groups by why and where messages died, and by the
// event_type field of JSON bodies.
var DefaultGroupBy = []string{"reason", "source", "field:event_type"}

const (
	DefaultInspectLimit = 10000
	defaultMaxBody      = 2048
	// maxGroups bounds the groups kept: the rest count as one "other".
	maxGroups = 1000
)

// Inspection is what inspect read.
type Inspection struct {
	Queue   string   `json:"queue"`
	Depth   int      `json:"depth"` // messages ready when the inspection began
	Read    int      `json:"read"`
	GroupBy []string `json:"group_by"`
	Groups  []Group  `json:"groups"` // largest first
	Shown   []Shown  `json:"shown,omitempty"`
}

// Group is the messages that share one value of every GroupBy dimension.
type Group struct {
	Values []string `json:"values"` // parallel to GroupBy; "" where a message has none
	Count  int      `json:"count"`
	// FirstDied is the earliest first death; LastDied the latest death.
	FirstDied time.Time `json:"first_died"`
	LastDied  time.Time `json:"last_died"`
	// MaxDeaths is the most times one message of the group died
	// (the largest x-death count).
	MaxDeaths int64 `json:"max_deaths"`
}

// Shown is one message in full, its body bounded.
type Shown struct {
	MessageID   string     `json:"message_id,omitempty"`
	Redelivered bool       `json:"redelivered"`
	Properties  amqp.Table `json:"-"`
	Headers     amqp.Table `json:"-"`
	Deaths      []Death    `json:"deaths"`
	Body        string     `json:"body"`
	BodyBytes   int        `json:"body_bytes"`
}

// Inspect reads up to opts.Limit messages of opts.Queue without removing
// any: each is taken with basic.get and a manual acknowledgement that is
// never given; closing the channel at the end puts them all back
// (docs/dlq.md says what that does to their order and redelivered flag).
func Inspect(ctx context.Context, b Broker, opts InspectOptions) (Inspection, error) {
	if opts.Limit <= 0 {
		opts.Limit = DefaultInspectLimit
	}
	if len(opts.GroupBy) == 0 {
		opts.GroupBy = DefaultGroupBy
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = defaultMaxBody
	}
	if err := ValidateGroupBy(opts.GroupBy); err != nil {
		return Inspection{}, err
	}
	conn, err := b.dial(ctx, "reader")
	if err != nil {
		return Inspection{}, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return Inspection{}, fmt.Errorf("opening a channel: %w", err)
	}
	defer ch.Close() // requeues every message read
	q, err := ch.QueueDeclarePassive(opts.Queue, false, false, false, false, nil)
	if err != nil {
		return Inspection{}, fmt.Errorf("queue %s: %w", opts.Queue, err)
	}
	in := Inspection{Queue: opts.Queue, Depth: q.Messages, GroupBy: opts.GroupBy}
	g := newGrouper(opts.GroupBy)
	for in.Read < opts.Limit && ctx.Err() == nil {
		msg, ok, err := ch.Get(opts.Queue, false)
		if err != nil {
			return in, fmt.Errorf("basic.get from %s: %w", opts.Queue, err)
		}
		if !ok {
			break
		}
		in.Read++
		g.add(msg)
		if len(in.Shown) < opts.Show {
			in.Shown = append(in.Shown, show(msg, opts.MaxBody))
		}
	}
	in.Groups = g.sorted()
	return in, ctx.Err()
}

// ValidateGroupBy checks every dimension's spelling.
func ValidateGroupBy(dims []string) error {
	_, err := parseDimensions(dims)
	return err
}

func parseDimensions(names []string) ([]dimension, error) {
	dims := make([]dimension, len(names))
	for i, n := range names {
		d, err := parseDimension(n, "--group-by")
		if err != nil {
			return nil, err
		}
		dims[i] = d
	}
	return dims, nil
}

type grouper struct {
	dims   []dimension
	groups map[string]*Group
}

func newGrouper(names []string) *grouper {
	dims, _ := parseDimensions(names) // Inspect validated them
	return &grouper{dims: dims, groups: map[string]*Group{}}
}

func (g *grouper) add(msg amqp.Delivery) {
	fs := factsOf(msg)
	values := make([]string, len(g.dims))
	for i, d := range g.dims {
		values[i] = fs.value(d)
	}
	key := strings.Join(values, "\x00")
	grp, ok := g.groups[key]
	if !ok {
		if len(g.groups) >= maxGroups {
			key, values = "\x01other", otherValues(len(g.dims))
			grp = g.groups[key]
		}
		if grp == nil {
			grp = &Group{Values: values}
			g.groups[key] = grp
		}
	}
	grp.count(msg.Headers, fs.first)
}

func otherValues(n int) []string {
	v := make([]string, n)
	for i := range v {
		v[i] = "(other)"
	}
	return v
}

func (grp *Group) count(headers amqp.Table, first FirstDeath) {
	grp.Count++
	if !first.Time.IsZero() && (grp.FirstDied.IsZero() || first.Time.Before(grp.FirstDied)) {
		grp.FirstDied = first.Time
	}
	if last := LastDeath(headers); last.After(grp.LastDied) {
		grp.LastDied = last
	}
	for _, d := range Deaths(headers) {
		grp.MaxDeaths = max(grp.MaxDeaths, d.Count)
	}
}

func (g *grouper) sorted() []Group {
	out := make([]Group, 0, len(g.groups))
	for _, grp := range g.groups {
		out = append(out, *grp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return strings.Join(out[i].Values, "\x00") < strings.Join(out[j].Values, "\x00")
	})
	return out
}

// decodeJSON is the body as JSON, nil when it is not JSON.
func decodeJSON(body []byte) any {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	return v
}

// jsonPath walks a dotted path of object keys.
func jsonPath(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// boundedValue is a header or field value as a short string: a group
// key must not hold a whole payload.
func boundedValue(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		s = fmt.Sprint(v)
	}
	const most = 80
	if len(s) > most {
		s = s[:most] + "…"
	}
	return s
}

func show(msg amqp.Delivery, maxBody int) Shown {
	body := msg.Body
	if len(body) > maxBody {
		body = body[:maxBody]
	}
	return Shown{
		MessageID: msg.MessageId, Redelivered: msg.Redelivered, Headers: msg.Headers, Deaths: Deaths(msg.Headers),
		Properties: properties(msg), Body: string(body), BodyBytes: len(msg.Body),
	}
}

// properties are the message's set AMQP properties, by their names.
func properties(msg amqp.Delivery) amqp.Table {
	p := amqp.Table{}
	set := func(k string, v any, isSet bool) {
		if isSet {
			p[k] = v
		}
	}
	set("content_type", msg.ContentType, msg.ContentType != "")
	set("content_encoding", msg.ContentEncoding, msg.ContentEncoding != "")
	set("delivery_mode", msg.DeliveryMode, msg.DeliveryMode != 0)
	set("priority", msg.Priority, msg.Priority != 0)
	set("correlation_id", msg.CorrelationId, msg.CorrelationId != "")
	set("reply_to", msg.ReplyTo, msg.ReplyTo != "")
	set("expiration", msg.Expiration, msg.Expiration != "")
	set("timestamp", msg.Timestamp, !msg.Timestamp.IsZero())
	set("type", msg.Type, msg.Type != "")
	set("user_id", msg.UserId, msg.UserId != "")
	set("app_id", msg.AppId, msg.AppId != "")
	return p
}

// Line is the group as one line for a terminal, e.g. "412 rejected from
// billing.worker, event_type order.paid, first died 02:14, last died
// 02:31". Times are UTC; the date shows unless it is now's.
func (grp Group) Line(dims []string, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", grp.Count)
	sep := " "
	for i, d := range dims {
		v := grp.Values[i]
		if v == "" {
			continue
		}
		kind, arg, _ := strings.Cut(d, ":")
		switch kind {
		case "reason":
			fmt.Fprintf(&b, "%s%s", sep, v)
		case "source":
			fmt.Fprintf(&b, "%sfrom %s", sep, v)
		default:
			fmt.Fprintf(&b, "%s%s %s", sep, arg, v)
		}
		sep = ", "
		if kind == "reason" && i+1 < len(dims) && dims[i+1] == "source" {
			sep = " "
		}
	}
	if !grp.FirstDied.IsZero() {
		fmt.Fprintf(&b, ", first died %s", clock(grp.FirstDied, now))
	}
	if !grp.LastDied.IsZero() && !grp.LastDied.Equal(grp.FirstDied) {
		fmt.Fprintf(&b, ", last died %s", clock(grp.LastDied, now))
	}
	if grp.MaxDeaths > 1 {
		fmt.Fprintf(&b, ", died up to %d times", grp.MaxDeaths)
	}
	return b.String()
}

func clock(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04")
	}
	return t.Format("2006-01-02 15:04")
}
