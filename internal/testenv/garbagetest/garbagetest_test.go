package garbagetest

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestBodiesHaveExactlyTheirSizeAndAreTheJSONTheyClaim(t *testing.T) {
	const size = 3*64<<10 + 17
	bodies := map[string]io.Reader{
		"unterminated string": UnterminatedString(`[{"name":`, size),
		"endless array":       EndlessArray(func(int) []byte { return []byte(`{"name":"q"}`) }, size),
		"endless object":      EndlessObject(`{"rabbitmq_version":"3.10.8"`, size),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			b, err := io.ReadAll(body)
			if err != nil || len(b) != size {
				t.Fatalf("read %d bytes, %v; want %d", len(b), err, size)
			}
			// Valid JSON all along, cut off: the decoder wants more.
			var v any
			if err := json.Unmarshal(b, &v); err == nil || !strings.Contains(err.Error(), "unexpected end of JSON input") {
				t.Errorf("decoding: %v, want unexpected end of JSON input", err)
			}
		})
	}
}

func TestEndlessArrayElementsAreNumberedAndSeparated(t *testing.T) {
	b, _ := io.ReadAll(EndlessArray(func(i int) []byte { return []byte(`{"n":` + string(rune('0'+i)) + `}`) }, 24))
	if want := `[{"n":0},{"n":1},{"n":2}`; string(b[:len(want)]) != want {
		t.Errorf("body %s, want it to start %s", b, want)
	}
	if _, err := Reader("", func(int) []byte { return []byte("x") }, 0).Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("an empty body: %v, want EOF", err)
	}
}

func TestBusyQueueIsOneQueueOfTheListingNamedByItsNumber(t *testing.T) {
	var q struct {
		Name         string `json:"name"`
		MessageStats struct {
			Publish        int `json:"publish"`
			PublishDetails struct {
				Samples []struct{ Sample, Timestamp int64 } `json:"samples"`
			} `json:"publish_details"`
		} `json:"message_stats"`
	}
	if err := json.Unmarshal(BusyQueue(42), &q); err != nil {
		t.Fatal(err)
	}
	if q.Name != "orders.payment-service.events-42" || q.MessageStats.Publish == 0 || len(q.MessageStats.PublishDetails.Samples) != 7 {
		t.Errorf("decoded %+v, want queue ...-42 with a publish counter and seven samples", q)
	}
}
