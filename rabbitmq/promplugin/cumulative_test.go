package promplugin

import "testing"

// poll feeds one poll's series values (channel → value) of one queue's
// acks and ends it.
func poll(c *cumulative, series map[string]float64) {
	c.begin()
	for channel, v := range series {
		c.add(seriesKey{endpoint: "e", channel: channel, vhost: "/", queue: "q", kind: acked}, v)
	}
	c.end(nil, func(totalKey) bool { return true })
}

func ackedOf(c *cumulative) float64 { return c.total(totalKey{"/", "q"})[acked] }

func TestCountersNeverGoBackwardsWhenChannelsCloseAndReopen(t *testing.T) {
	c := newCumulative()
	steps := []struct {
		series map[string]float64
		want   float64
	}{
		{map[string]float64{"<0.1.0>": 5}, 5},                // warren starts: what is there counts
		{map[string]float64{"<0.1.0>": 8, "<0.2.0>": 2}, 10}, // a second consumer channel
		{map[string]float64{"<0.2.0>": 4}, 12},               // the first closed: its 8 stay
		{map[string]float64{"<0.2.0>": 4, "<0.1.0>": 1}, 13}, // its pid reused by a new channel
		{map[string]float64{}, 13},                           // every channel closed
		{map[string]float64{"<0.3.0>": 3}, 16},               // a new one
		{map[string]float64{"<0.3.0>": 1}, 17},               // it went down: a reset counts from zero
	}
	for i, s := range steps {
		poll(c, s.series)
		if got := ackedOf(c); got != s.want {
			t.Fatalf("poll %d: acked %v, want %v", i, got, s.want)
		}
	}
}

func TestSeriesOfClosedChannelsAreForgottenAndTheirCountKept(t *testing.T) {
	c := newCumulative()
	for i := range 1000 {
		// A publisher that opens a channel per message.
		poll(c, map[string]float64{"<0." + string(rune('a'+i%26)) + "." + string(rune('a'+i/26)) + ">": 1})
	}
	if len(c.last) != 1 {
		t.Errorf("%d series kept, want only the one alive", len(c.last))
	}
	if got := ackedOf(c); got != 1000 {
		t.Errorf("acked %v, want 1000", got)
	}
}

func TestAFailedPollOrAnUnreadEndpointForgetsNoSeries(t *testing.T) {
	c := newCumulative()
	poll(c, map[string]float64{"<0.1.0>": 5})
	// A poll that failed half way: it saw nothing, and never ended.
	c.begin()
	c.begin()
	c.add(seriesKey{endpoint: "e", channel: "<0.1.0>", vhost: "/", queue: "q", kind: acked}, 7)
	// The endpoint e was not read this poll (its node is down).
	c.end(map[string]bool{"e": true}, func(totalKey) bool { return true })
	c.begin()
	c.end(map[string]bool{"e": true}, func(totalKey) bool { return true })
	poll(c, map[string]float64{"<0.1.0>": 9})
	if got := ackedOf(c); got != 9 {
		t.Errorf("acked %v, want 9: the series was counted once, up to its last value", got)
	}
}

func TestTotalsOfQueuesNoLongerWatchedAreForgotten(t *testing.T) {
	c := newCumulative()
	poll(c, map[string]float64{"<0.1.0>": 5})
	c.begin()
	c.end(nil, func(t totalKey) bool { return t.queue != "q" })
	if len(c.totals) != 0 || ackedOf(c) != 0 {
		t.Errorf("totals %v kept for a deleted queue", c.totals)
	}
}
