package management

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/rabbitmq/brokerhttp"
)

// queueWithHistory is a queue listing element with samples in each of the
// seven series warren asks for, counters in the billions.
func queueWithHistory(name string, samples int) string {
	var series strings.Builder
	series.WriteString(`{"samples":[`)
	for i := range samples {
		if i > 0 {
			series.WriteByte(',')
		}
		fmt.Fprintf(&series, `{"sample":%d,"timestamp":%d}`, 18446744073709551615-uint64(i), 1796134970000-int64(i)*1000)
	}
	series.WriteString(`]}`)
	s := series.String()
	return fmt.Sprintf(`{"name":%q,"vhost":"/","messages":1,"messages_details":%s,"messages_unacknowledged_details":%s,`+
		`"message_stats":{"publish_details":%s,"ack_details":%s,"deliver_get_details":%s,"deliver_no_ack_details":%s,"get_no_ack_details":%s}}`,
		name, s, s, s, s, s, s, s)
}

func listingServer(t *testing.T, body string) *client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := newClient(srv.URL, "u", func() (string, error) { return "p", nil }, nil, 10*time.Second, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A target polled every hour at a 1 s stats interval asks for 3,600
// samples a series: its queues are larger than any bound of a fixed size
// would allow, and the bound grows with the history asked for.
func TestTheQueueBoundGrowsWithTheSampleHistoryAskedFor(t *testing.T) {
	hour := sampleHistory{age: time.Hour + 2*time.Second, incr: time.Second, deliveries: true}
	element := queueWithHistory("orders", 3603)
	if int64(len(element)) <= maxValueBytes {
		t.Fatalf("the element takes %d bytes, want more than maxValueBytes for the test to mean anything", len(element))
	}
	c := listingServer(t, "["+element+","+element+"]")
	var got []int
	if _, err := c.queues(context.Background(), "queues", historyQuery(hour), func(a *apiQueue) { got = append(got, len(a.MessagesDetails.Samples)) }); err != nil {
		t.Fatalf("a listing of queues with an hour of samples: %v", err)
	}
	if len(got) != 2 || got[0] != 3603 {
		t.Errorf("decoded queues with %v samples, want two with 3603", got)
	}
	_, err := c.queues(context.Background(), "queues", historyQuery(sampleHistory{}), func(*apiQueue) {})
	if !errors.Is(err, brokerhttp.ErrValueTooLarge) {
		t.Errorf("the same queues where no history was asked for: %v, want ErrValueTooLarge", err)
	}
}
