package management

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/warrenhq/warren/snapshot"
)

// apiStreamConsumer is one entry of /api/stream/consumers, as 3.10.8 gives
// it (rabbitmq_stream_management): connection_details, consumed, credits,
// offset, offset_lag, properties, queue {name, vhost}, subscription_id.
// AMQP 0-9-1 consumers of a stream are not listed there (they appear in
// /api/consumers with their x-stream-offset argument and no offset).
type apiStreamConsumer struct {
	ConnectionDetails struct {
		Name string `json:"name"`
	} `json:"connection_details"`
	Consumed  uint64 `json:"consumed"`
	Offset    int64  `json:"offset"`
	OffsetLag int64  `json:"offset_lag"`
	Queue     struct {
		Name  string `json:"name"`
		Vhost string `json:"vhost"`
	} `json:"queue"`
	SubscriptionID int `json:"subscription_id"`
}

// streamConsumers reads the stream-protocol consumers of the listed
// streams. It asks only when some listed queue is a stream, so targets
// without streams pay nothing. A broker without the stream management
// plugin has no such endpoint, and the consumers are then not known: the
// path falls through to the plugin's static files, which answer warren's
// Accept: application/json with 406 (404 without that header), on 3.10
// as on 4.3.
func (s *Source) streamConsumers(ctx context.Context, queues []snapshot.Queue) ([]snapshot.StreamConsumer, bool, error) {
	streams := map[snapshot.QueueKey]bool{}
	for i := range queues {
		if queues[i].Type == "stream" {
			streams[queues[i].Key()] = true
		}
	}
	if len(streams) == 0 {
		return nil, false, nil
	}
	var out []snapshot.StreamConsumer
	if _, err := list(ctx, s.client, "stream/consumers", nil, "stream consumers", maxValueBytes, plain, func(c *apiStreamConsumer) {
		k := snapshot.QueueKey{Vhost: c.Queue.Vhost, Name: c.Queue.Name}
		if !streams[k] {
			return
		}
		out = append(out, snapshot.StreamConsumer{
			Vhost: intern(k.Vhost), Stream: intern(k.Name), Connection: c.ConnectionDetails.Name,
			SubscriptionID: c.SubscriptionID, Offset: c.Offset, OffsetLag: max(0, c.OffsetLag), Consumed: c.Consumed,
		})
	}); err != nil {
		if isNoSuchEndpoint(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	slices.SortFunc(out, func(a, b snapshot.StreamConsumer) int {
		return cmp.Or(strings.Compare(a.Vhost, b.Vhost), strings.Compare(a.Stream, b.Stream),
			strings.Compare(a.Connection, b.Connection), cmp.Compare(a.SubscriptionID, b.SubscriptionID))
	})
	return out, true, nil
}

// isNoSuchEndpoint reports whether err is the broker's answer to a path
// no plugin of it serves: 406 to a JSON-only request, or 404.
func isNoSuchEndpoint(err error) bool {
	var re *snapshot.ReadError
	return isNotFound(err) || errors.As(err, &re) && re.Reason == snapshot.ReasonHTTPStatus && re.StatusCode == http.StatusNotAcceptable
}
