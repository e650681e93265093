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
	"github.com/warrenhq/warren/snapshot"
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

// tinyListing is a queue listing of n queues of one name and vhost each.
func tinyListing(n int) string {
	elements := make([]string, n)
	for i := range elements {
		elements[i] = fmt.Sprintf(`{"name":"q%d","vhost":"/"}`, i)
	}
	return "[" + strings.Join(elements, ",") + "]"
}

// A listing may hold the queues the overview counted twice over and
// queueCountSlack more (queues declared between the two requests); one
// more fails it as invalid_response, with the queues decoded so far the
// only memory it took, and a broker that gave no count is bounded by
// max_response_size alone.
func TestTheOverviewsQueueCountBoundsTheQueueListing(t *testing.T) {
	counted := &Overview{Queues: 50, QueuesCounted: true}
	most := 2*counted.Queues + queueCountSlack
	decoded := 0
	c := listingServer(t, tinyListing(most))
	if _, err := c.queues(context.Background(), "queues", counted.bound(historyQuery(sampleHistory{})), func(*apiQueue) { decoded++ }); err != nil || decoded != most {
		t.Fatalf("a listing of %d queues where the overview counted 50: %d decoded, %v; want all, no error", most, decoded, err)
	}

	decoded = 0
	c = listingServer(t, tinyListing(most+1))
	_, err := c.queues(context.Background(), "queues", counted.bound(historyQuery(sampleHistory{})), func(*apiQueue) { decoded++ })
	var re *snapshot.ReadError
	if !errors.As(err, &re) || re.Reason != snapshot.ReasonInvalidResponse || !strings.Contains(err.Error(), "more than 1100 queues") || !strings.Contains(err.Error(), "counted 50") {
		t.Errorf("a listing of %d queues where the overview counted 50: %v, want invalid_response naming the bound and the count", most+1, err)
	}
	if decoded != most {
		t.Errorf("%d queues decoded before the bound, want %d", decoded, most)
	}

	uncounted := &Overview{}
	if _, err := c.queues(context.Background(), "queues", uncounted.bound(historyQuery(sampleHistory{})), func(*apiQueue) {}); err != nil {
		t.Errorf("the same listing from a broker whose overview counted no queues: %v, want no error", err)
	}
}
