package slo

import (
	"math"
	"testing"
	"time"
	"unsafe"
)

// base is deliberately not aligned on any bucket.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func mustSeries(t testing.TB, w time.Duration) *EventHistory {
	t.Helper()
	s, err := NewSeries(w)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustAdd(t testing.TB, s interface {
	Add(time.Time, float64, float64) error
}, at time.Time, good, total float64) {
	t.Helper()
	if err := s.Add(at, good, total); err != nil {
		t.Fatal(err)
	}
}

func approx(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestMemoryPerSLOIsBoundedAndDocumented(t *testing.T) {
	for _, w := range []time.Duration{MinWindow, time.Hour, 7 * day, 28 * day, 30 * day, 90 * day, 365 * day} {
		s := mustSeries(t, w)
		l := s.Layout()
		bucketBytes := l.Buckets() * int(unsafe.Sizeof(bucket{}))
		t.Logf("window %-10v fine %5d × %-12v coarse %5d × %-12v = %d buckets, %d bytes of buckets, %d bytes in all",
			w, l.FineBuckets, l.FineWidth, l.CoarseBuckets, l.CoarseWidth, l.Buckets(), bucketBytes, s.Bytes())
		if l.Buckets() > 4684 || bucketBytes > 74_944 || s.Bytes()-bucketBytes > 200 {
			t.Errorf("window %v: %d buckets (%d bytes), the documentation promises at most 4684 (74,944 bytes)", w, l.Buckets(), bucketBytes)
		}
		if s.Bytes() > BytesPerSLO || (l.Buckets() == 4684 && s.Bytes() != BytesPerSLO) {
			t.Errorf("window %v: %d bytes > BytesPerSLO %d", w, s.Bytes(), BytesPerSLO)
		}
	}
	// 28 days divides evenly: exactly 361 + 4321 buckets.
	if l := LayoutFor(28 * day); l.FineBuckets != 361 || l.CoarseBuckets != 4321 || l.FineWidth != 56*time.Second || l.CoarseWidth != 560*time.Second {
		t.Errorf("28d layout %+v", l)
	}
}

func TestEveryWindowIsCoveredByAtLeastFiveBuckets(t *testing.T) {
	for _, w := range []time.Duration{MinWindow, time.Hour, 28 * day, 30 * day} {
		o := Objective{Name: "x", Target: 0.99, Window: w}
		l := LayoutFor(w)
		for _, ew := range append(ExportWindows(), RefWindow{"slo", ReferenceWindow}) {
			win := o.Scale(ew.Ref)
			width := l.CoarseWidth
			if win <= l.FineSpan() {
				width = l.FineWidth
			}
			if win < 5*width {
				t.Errorf("window %v: %s (%v) covers only %.1f buckets of %v", w, ew.Label, win, float64(win)/float64(width), width)
			}
			if win > l.CoarseSpan() {
				t.Errorf("window %v: %s (%v) beyond the coarse span %v", w, ew.Label, win, l.CoarseSpan())
			}
		}
	}
}

func TestSLIIsTheExactRatioOfSumsNotAnAverageOfRatios(t *testing.T) {
	// 1000 good events in one 5-minute slice, 10 bad in another: the hour's
	// SLI is 1000/1010 ≈ 99%, while averaging the two 5m ratios would say 50%.
	s := mustSeries(t, 30*day)
	mustAdd(t, s, base.Add(-50*time.Minute), 1000, 1000)
	mustAdd(t, s, base.Add(-10*time.Minute), 0, 10)
	sli, ok := s.Window(base, time.Hour).SLI()
	if !ok || sli != 1000.0/1010 {
		t.Fatalf("SLI = %v, %v; want %v", sli, ok, 1000.0/1010)
	}
}

func TestOldestBucketIsProRated(t *testing.T) {
	// One event per second up to now: every 5-minute window holds 300
	// events wherever it starts within a bucket.
	for _, off := range []time.Duration{0, 15 * time.Second, 30 * time.Second, 59 * time.Second} {
		s := mustSeries(t, 30*day) // 1-minute fine buckets
		now := base.Truncate(time.Hour).Add(off)
		for ts := now.Add(-time.Hour); !ts.After(now); ts = ts.Add(time.Second) {
			mustAdd(t, s, ts, 1, 1)
		}
		// The bucket of now holds the off+1 events up to now, whole; the
		// one straddling now−5m counts 60−off of its 60.
		got := s.Window(now, 5*time.Minute).Total
		if !approx(got, 300, 1.01) {
			t.Errorf("offset %v: total %v, want 300±1", off, got)
		}
		// Without pro-rating the same window would count 360 − off or
		// 300 − off events.
		if off == 30*time.Second && got != 301 {
			t.Errorf("offset 30s: total %v, want 30 + 4×60 + 31 = 301", got)
		}
	}
}

func TestNoEventsIsNoDataNotNaNNorOne(t *testing.T) {
	s := mustSeries(t, 28*day)
	c := s.Window(base, time.Hour)
	sli, ok := c.SLI()
	if ok || sli != 0 {
		t.Fatalf("SLI of nothing = %v, %v; want no data", sli, ok)
	}
	if b := c.BurnRate(0.999); b != 0 {
		t.Fatalf("burn of nothing = %v, want 0", b)
	}
}

func TestEventsOlderThanTheWindowAreDropped(t *testing.T) {
	s := mustSeries(t, 28*day)
	mustAdd(t, s, base, 5, 10)
	mustAdd(t, s, base.Add(-29*day), 3, 3)
	if d := s.Dropped(); d != 3 {
		t.Fatalf("dropped %v, want 3", d)
	}
	if c := s.Window(base, 28*day); c != (Counts{5, 10}) {
		t.Fatalf("window %+v", c)
	}
}

func TestAddingIntoThePastWithinTheWindowGoesToItsBucket(t *testing.T) {
	s := mustSeries(t, 28*day)
	mustAdd(t, s, base, 1, 1)
	mustAdd(t, s, base.Add(-2*time.Hour), 0, 1) // late, 2h in the past
	if c := s.Window(base, time.Hour); c != (Counts{1, 1}) {
		t.Errorf("last hour %+v, want only the recent event", c)
	}
	if c := s.Window(base, 3*time.Hour); c.Total != 2 || c.Good != 1 {
		t.Errorf("last 3h %+v, want both", c)
	}
	mustAdd(t, s, base.Add(-3*day), 0, 1) // beyond the fine ring, within the coarse one
	if c := s.Window(base, 4*day); c.Total != 3 {
		t.Errorf("last 4d %+v, want 3 events", c)
	}
	if s.Dropped() != 0 {
		t.Errorf("dropped %v", s.Dropped())
	}
}

func TestAJumpForwardClearsTheBucketsItPasses(t *testing.T) {
	s := mustSeries(t, 28*day)
	mustAdd(t, s, base, 1, 1)
	later := base.Add(60 * day)
	mustAdd(t, s, later, 0, 2)
	if c := s.Window(later, 28*day); c != (Counts{0, 2}) {
		t.Fatalf("window after jump %+v", c)
	}
	// The ring wraps: the old slot of base must not reappear.
	if c := s.Window(later, 5*time.Minute); c != (Counts{0, 2}) {
		t.Fatalf("fine window after jump %+v", c)
	}
}

func TestEventsAfterNowAreNotCounted(t *testing.T) {
	s := mustSeries(t, 28*day)
	mustAdd(t, s, base, 1, 1)
	if c := s.Window(base.Add(-10*time.Minute), time.Hour); c.Total != 0 {
		t.Fatalf("evaluating before the event counted it: %+v", c)
	}
}

func TestAddRejectsImpossibleCounts(t *testing.T) {
	s := mustSeries(t, 28*day)
	for _, c := range [][2]float64{{-1, 1}, {1, -1}, {2, 1}, {math.NaN(), 1}, {1, math.Inf(1)}} {
		if err := s.Add(base, c[0], c[1]); err == nil {
			t.Errorf("Add(%v, %v): no error", c[0], c[1])
		}
	}
	if c := s.Window(base, time.Hour); c.Total != 0 {
		t.Fatalf("rejected counts were added: %+v", c)
	}
	// Floating-point noise on good is forgiven.
	mustAdd(t, s, base, 0.1+0.2, 0.3)
}

func TestEventsBeforeTheUnixEpochWork(t *testing.T) {
	s := mustSeries(t, time.Hour)
	at := time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC)
	mustAdd(t, s, at, 1, 2)
	if c := s.Window(at, time.Minute); c != (Counts{1, 2}) {
		t.Fatalf("%+v", c)
	}
}
