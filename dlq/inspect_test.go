package dlq

import (
	"strings"
	"testing"
	"time"
)

// TestInspectGroupsDeadLettersByReasonAndSourceAndLeavesThemAll makes
// 1,000 dead letters from two sources, 600 rejected by a failing
// consumer and 400 expired by a TTL, and reads them all.
func TestInspectGroupsDeadLettersByReasonAndSourceAndLeavesThemAll(t *testing.T) {
	t.Parallel()
	conn, s, _ := mixedDeadLetters(t, "inspect", 400, 600)

	in, err := Inspect(ctxTimeout(t, time.Minute), brokerOf(broker), InspectOptions{Queue: s.dlq, Show: 2, MaxBody: 10})
	if err != nil {
		t.Fatal(err)
	}
	if in.Read != 1000 || in.Depth != 1000 || len(in.Groups) != 2 {
		t.Fatalf("read %d of %d, groups %+v", in.Read, in.Depth, in.Groups)
	}
	now := time.Now()
	want := []string{"600 rejected from inspect.billing, event_type order.paid, first died ", "400 expired from inspect.shipping, event_type shipment.due, first died "}
	for i, g := range in.Groups {
		line := g.Line(in.GroupBy, now)
		t.Log(line)
		if !strings.HasPrefix(line, want[i]) {
			t.Errorf("group %d: %q, want it to begin %q", i, line, want[i])
		}
	}
	if len(in.Shown) != 2 || len(in.Shown[0].Body) != 10 || in.Shown[0].BodyBytes <= 10 || len(in.Shown[0].Deaths) != 1 {
		t.Errorf("shown %+v", in.Shown)
	}

	bySource, err := Inspect(ctxTimeout(t, time.Minute), brokerOf(broker), InspectOptions{Queue: s.dlq, GroupBy: []string{"source"}, Limit: 500})
	if err != nil || bySource.Read != 500 {
		t.Fatalf("limited: %+v, %v", bySource, err)
	}
	waitDepth(t, conn, s.dlq, 1000) // closing the channel gave every message back
}

func TestGroupLineReadsAsASentence(t *testing.T) {
	died := time.Date(2026, 12, 1, 2, 14, 0, 0, time.UTC)
	g := Group{Values: []string{"rejected", "billing.worker", "order.paid"}, Count: 412, FirstDied: died, LastDied: died.Add(17 * time.Minute), MaxDeaths: 3}
	got := g.Line(DefaultGroupBy, died.Add(time.Hour))
	want := "412 rejected from billing.worker, event_type order.paid, first died 02:14, last died 02:31, died up to 3 times"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := g.Line(DefaultGroupBy, died.AddDate(0, 0, 2)); !strings.Contains(got, "first died 2026-12-01 02:14") {
		t.Errorf("another day's death without its date: %q", got)
	}
}

func TestValidateGroupByRejectsUnknownDimensions(t *testing.T) {
	for _, bad := range []string{"queue", "header:", "field", "reason:x"} {
		if ValidateGroupBy([]string{bad}) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ValidateGroupBy([]string{"reason", "source", "header:x-tenant", "field:a.b"}); err != nil {
		t.Error(err)
	}
}
