package management

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// The shape checks. warren decodes the management API into its own types,
// and a response it does not know must fail the poll (invalid_response)
// with a message that names the field, never decode as zeros: a node
// listing without "running" would report every node down, a queue
// without a name would be exported as one, a sample without a timestamp
// would sit in 1970. What the broker does omit (message_stats of a queue
// nothing happened to, the statistics of a queue that has not emitted any
// yet) stays absent; the fixtures under testdata/contract and the live
// 3.10 node show which fields each version gives.

// decodeValue decodes the next JSON value into out; a value of the wrong
// JSON type is reported by its field.
func decodeValue(dec *json.Decoder, out any) error {
	if err := dec.Decode(out); err != nil {
		return describeJSONError(err)
	}
	return nil
}

// describeJSONError turns encoding/json's type errors, which speak of Go
// types, into the field path and the JSON the broker should have sent.
func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	if te.Field == "" {
		return fmt.Errorf("the response is a JSON %s, want %s", te.Value, jsonKind(te.Type))
	}
	return fmt.Errorf("field %q is a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type))
}

// jsonKind names the JSON a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, not negative"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// expectArray reads the opening of a listing.
func expectArray(dec *json.Decoder, of string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok && d == '[' {
		return nil
	}
	return fmt.Errorf("the response is %s, want a JSON array of %s", describeToken(tok), of)
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return "a JSON object"
		}
		return fmt.Sprintf("%q", v.String())
	case string:
		return "a JSON string"
	case float64, json.Number:
		return "a JSON number"
	case bool:
		return "true or false"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// decodeQueue decodes element i of a queue listing into a, which must be
// empty, and checks that it is a queue warren knows.
func decodeQueue(dec *json.Decoder, i int, a *apiQueue) error {
	err := dec.Decode(a)
	if err == nil {
		err = checkQueue(a)
	}
	if err == nil {
		return nil
	}
	// A type error leaves the rest of the element decoded: name the queue
	// where the broker named it.
	where := fmt.Sprintf("element %d of the queue listing", i)
	if a.Name != "" {
		where += fmt.Sprintf(" (queue %q in vhost %q)", a.Name, a.Vhost)
	}
	return fmt.Errorf("%s: %w", where, describeJSONError(err))
}

// checkQueue reports what a decoded queue lacks that every version gives.
func checkQueue(a *apiQueue) error {
	switch {
	case a.Name == "":
		return errors.New(`no "name": not a queue`)
	case a.Vhost == "":
		return errors.New(`no "vhost"`)
	}
	ms := &a.MessageStats
	for _, s := range []struct {
		field string
		list  []apiSample
	}{
		{"messages_details.samples", a.MessagesDetails.Samples},
		{"messages_unacknowledged_details.samples", a.UnackedDetails.Samples},
		{"message_stats.publish_details.samples", ms.PublishDetails.Samples},
		{"message_stats.deliver_get_details.samples", ms.DeliverGetDetails.Samples},
		{"message_stats.ack_details.samples", ms.AckDetails.Samples},
		{"message_stats.deliver_no_ack_details.samples", ms.DeliverNoAckDetails.Samples},
		{"message_stats.get_no_ack_details.samples", ms.GetNoAckDetails.Samples},
	} {
		for j, sample := range s.list {
			if sample.Timestamp <= 0 {
				return fmt.Errorf(`%s[%d] has no "timestamp"`, s.field, j)
			}
		}
	}
	return nil
}

// checkNode reports what a decoded node lacks that every version gives,
// stopped nodes included.
func checkNode(i int, n *apiNode) error {
	switch {
	case n.Name == "":
		return fmt.Errorf(`element %d of the node listing: no "name": not a node`, i)
	case n.Running == nil:
		return fmt.Errorf(`element %d of the node listing (node %q): no "running"`, i, n.Name)
	}
	return nil
}
