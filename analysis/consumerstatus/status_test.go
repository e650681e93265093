package consumerstatus

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenhq/warren/analysis/queuehistory"
	"github.com/warrenhq/warren/snapshot"
)

// statusT0 is the time of the first poll in these tests.
var statusT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testWindow   = 60 * time.Second
	testInterval = 10 * time.Second
	// fullWindowPoll is the index of the first poll whose history spans
	// the whole window (at testInterval, polls 0..6 cover 60s).
	fullWindowPoll = int(testWindow / testInterval)
)

// poll is one queue's state at one poll.
type poll struct {
	ready, unacked int64
	consumers      int64
	published      uint64
	completed      uint64
	headAge        time.Duration // 0: the broker gives no head timestamp
}

// Queue is a queue of a poll and the status the tracker gave it.
type Queue struct {
	snapshot.Queue
	Status Status
}

// tracker keeps a queue history and evaluates every queue of each poll,
// as a target's pipeline does.
type tracker struct {
	history *queuehistory.History
	window  time.Duration
}

func NewStatusTracker(window time.Duration) *tracker {
	return &tracker{history: queuehistory.New(window), window: window}
}

// Observe records the queues of a poll taken at now and sets each
// queue's Status.
func (t *tracker) Observe(now time.Time, queues []Queue) {
	snap := &snapshot.Snapshot{Time: now}
	for _, q := range queues {
		snap.Queues = append(snap.Queues, q.Queue)
	}
	t.history.Observe(snap)
	for i := range queues {
		queues[i].Status = Evaluate(t.history.Of(queues[i].Key()), t.window)
	}
}

func (p poll) queue(vhost, name string, now time.Time) Queue {
	q := Queue{Queue: snapshot.Queue{
		Vhost: vhost, Name: name, Type: "classic", StatsKnown: true,
		Ready: p.ready, Unacked: p.unacked, Consumers: p.consumers,
		Counters: snapshot.Counters{Published: p.published, Completed: p.completed, Acked: p.completed},
	}}
	if p.headAge > 0 {
		q.HeadTimestamp = now.Add(-p.headAge)
	}
	return q
}

// pollAt is the time of poll i.
func pollAt(i int, interval time.Duration) time.Time {
	return statusT0.Add(time.Duration(i) * interval)
}

// observeQueue feeds one queue's polls, taken every interval, to a new
// tracker with the given window and returns the status after each poll.
func observeQueue(window, interval time.Duration, polls []poll) []Status {
	s := NewStatusTracker(window)
	statuses := make([]Status, len(polls))
	for i, p := range polls {
		now := pollAt(i, interval)
		qs := []Queue{p.queue("/", "q", now)}
		s.Observe(now, qs)
		statuses[i] = qs[0].Status
	}
	return statuses
}

// repeat returns n copies of p.
func repeat(n int, p poll) []poll {
	ps := make([]poll, n)
	for i := range ps {
		ps[i] = p
	}
	return ps
}

// series builds n polls, poll i being f(i).
func series(n int, f func(i int) poll) []poll {
	ps := make([]poll, n)
	for i := range ps {
		ps[i] = f(i)
	}
	return ps
}

func TestConsumerStatusRules(t *testing.T) {
	n := fullWindowPoll + 1 // exactly one full window of history at the end
	tests := []struct {
		name     string
		interval time.Duration
		polls    []poll
		want     Status
	}{
		{
			name:  "empty queue with nothing published is idle",
			polls: repeat(n, poll{consumers: 1, published: 5, completed: 5}),
			want:  Idle,
		},
		{
			name:  "empty queue without consumers is idle, not no_consumers",
			polls: repeat(n, poll{}),
			want:  Idle,
		},
		{
			name:  "empty queue that messages flowed through is ok",
			polls: series(n, func(i int) poll { return poll{consumers: 1, published: uint64(i), completed: uint64(i)} }),
			want:  OK,
		},
		{
			name: "empty queue whose last publish is older than the window is idle",
			polls: series(2*n, func(i int) poll {
				if i < 2 {
					return poll{consumers: 1, published: uint64(i), completed: uint64(i)}
				}
				return poll{consumers: 1, published: 1, completed: 1}
			}),
			want: Idle,
		},
		{
			name:  "backlog without consumers is no_consumers",
			polls: repeat(n, poll{ready: 10, published: 10}),
			want:  NoConsumers,
		},
		{
			name:  "unacked messages without consumers are no_consumers",
			polls: repeat(n, poll{unacked: 3, published: 10, completed: 7}),
			want:  NoConsumers,
		},
		{
			name:  "backlog with consumers and no progress over a full window is stalled",
			polls: repeat(n, poll{ready: 100, consumers: 2, published: 100}),
			want:  Stalled,
		},
		{
			name: "backlog with consumers and steady progress is ok",
			polls: series(n, func(i int) poll {
				return poll{ready: 100, consumers: 1, published: uint64(100 + i), completed: uint64(i)}
			}),
			want: OK,
		},
		{
			name: "progress with a backlog that shrinks is ok",
			polls: series(n, func(i int) poll {
				return poll{ready: int64(100 - 10*i), consumers: 1, published: 100, completed: uint64(10 * i)}
			}),
			want: OK,
		},
		{
			name: "progress with a backlog that grows every poll is lagging",
			polls: series(n, func(i int) poll {
				return poll{ready: int64(100 + 10*i), consumers: 1, published: uint64(100 + 11*i), completed: uint64(i)}
			}),
			want: Lagging,
		},
		{
			name: "backlog that grows but dips once in the window is ok",
			polls: series(n, func(i int) poll {
				ready := int64(100 + 10*i)
				if i == 3 {
					ready = 105 // below poll 2's 120
				}
				return poll{ready: ready, consumers: 1, published: uint64(1000 + i), completed: uint64(i)}
			}),
			want: OK,
		},
		{
			name: "backlog that never shrinks but ends where it began is ok",
			polls: series(n, func(i int) poll {
				return poll{ready: 100, consumers: 1, published: uint64(100 + i), completed: uint64(i)}
			}),
			want: OK,
		},
		{
			name: "growing backlog whose head age grows is lagging",
			polls: series(n, func(i int) poll {
				return poll{ready: int64(100 + 10*i), consumers: 1, published: uint64(100 + 11*i), completed: uint64(i),
					headAge: time.Duration(30+10*i) * time.Second}
			}),
			want: Lagging,
		},
		{
			name: "growing backlog whose head age does not grow is ok",
			polls: series(n, func(i int) poll {
				return poll{ready: int64(100 + 10*i), consumers: 1, published: uint64(100 + 11*i), completed: uint64(i),
					headAge: 30 * time.Second}
			}),
			want: OK,
		},
		{
			name: "growing backlog whose head got younger is ok",
			polls: series(n, func(i int) poll {
				return poll{ready: int64(100 + 10*i), consumers: 1, published: uint64(100 + 11*i), completed: uint64(i),
					headAge: time.Duration(90-10*i) * time.Second}
			}),
			want: OK,
		},
		{
			// At an interval equal to the window, the history is two
			// samples: too few to call the trend lagging.
			name:     "growing backlog seen in only two samples is not lagging",
			interval: testWindow,
			polls: series(5, func(i int) poll {
				return poll{ready: int64(100 + 10*i), consumers: 1, published: uint64(100 + 11*i), completed: uint64(i)}
			}),
			want: OK,
		},
		{
			name:     "growing backlog seen in three samples is lagging",
			interval: testWindow / 2,
			polls: series(3, func(i int) poll {
				return poll{ready: int64(100 + 10*i), consumers: 1, published: uint64(100 + 11*i), completed: uint64(i)}
			}),
			want: Lagging,
		},
		{
			name:     "two samples a full window apart without progress are stalled",
			interval: testWindow,
			polls:    repeat(2, poll{ready: 5, consumers: 1, published: 5}),
			want:     Stalled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			interval := tt.interval
			if interval == 0 {
				interval = testInterval
			}
			got := observeQueue(testWindow, interval, tt.polls)
			if last := got[len(got)-1]; last != tt.want {
				t.Errorf("status after %d polls = %s, want %s (all: %v)", len(got), last, tt.want, got)
			}
		})
	}
}

func TestBacklogWithConsumersIsOKBeforeAFullWindow(t *testing.T) {
	tests := []struct {
		name string
		p    func(i int) poll
	}{
		{"no progress", func(int) poll { return poll{ready: 100, consumers: 1, published: 100} }},
		{"growing backlog", func(i int) poll {
			return poll{ready: int64(100 + 10*i), consumers: 1, published: uint64(100 + 11*i), completed: uint64(i)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := observeQueue(testWindow, testInterval, series(fullWindowPoll, tt.p))
			for i, st := range got {
				if st != OK {
					t.Errorf("poll %d (%v into the window) = %s, want ok: not enough evidence yet",
						i, time.Duration(i)*testInterval, st)
				}
			}
		})
	}
}

func TestStalledNeedsExactlyAFullWindow(t *testing.T) {
	got := observeQueue(testWindow, testInterval, repeat(fullWindowPoll+3, poll{ready: 100, consumers: 1, published: 100}))
	for i, st := range got {
		want := OK
		if i >= fullWindowPoll {
			want = Stalled
		}
		if st != want {
			t.Errorf("poll %d: status = %s, want %s", i, st, want)
		}
	}
}

func TestIdleQueueIsNeverStalled(t *testing.T) {
	// Histories that would be stalled if the queue were not empty now.
	tests := []struct {
		name  string
		polls []poll
		want  Status
	}{
		{
			name:  "consumers attached to an empty queue for a long time",
			polls: repeat(5*fullWindowPoll, poll{consumers: 3, published: 7, completed: 7}),
			want:  Idle,
		},
		{
			name: "stalled backlog, then purged",
			polls: append(repeat(2*fullWindowPoll, poll{ready: 100, consumers: 1, published: 100}),
				poll{consumers: 1, published: 100}),
			want: Idle,
		},
		{
			name: "stalled unacked messages, then the consumer let go and they expired",
			polls: append(repeat(2*fullWindowPoll, poll{unacked: 10, consumers: 1, published: 10}),
				poll{consumers: 0, published: 10}),
			want: Idle,
		},
		{
			name: "publishes then an empty queue with consumers that never ack",
			polls: series(3*fullWindowPoll, func(i int) poll {
				return poll{consumers: 1, published: uint64(i)}
			}),
			want: OK, // messages flowed through: ok, never stalled
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := observeQueue(testWindow, testInterval, tt.polls)
			if last := got[len(got)-1]; last != tt.want {
				t.Errorf("final status = %s, want %s", last, tt.want)
			}
		})
	}
}

// Whatever the history, an empty queue's status is idle or ok.
func TestEmptyQueueIsNeverStalledWhateverTheHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := 0; run < 500; run++ {
		s := NewStatusTracker(testWindow)
		var pub, done uint64
		n := 1 + rng.IntN(30)
		for i := 0; i < n; i++ {
			now := statusT0.Add(time.Duration(i)*testInterval + time.Duration(rng.IntN(3000))*time.Millisecond)
			if rng.IntN(10) == 0 {
				pub, done = 0, 0 // re-created
			}
			pub += uint64(rng.IntN(3))
			done += uint64(rng.IntN(2))
			p := poll{consumers: int64(rng.IntN(3)), published: pub, completed: done}
			if i < n-1 && rng.IntN(2) == 0 {
				p.ready, p.unacked = int64(rng.IntN(100)), int64(rng.IntN(5))
			}
			if rng.IntN(3) == 0 {
				p.headAge = time.Duration(1+rng.IntN(100)) * time.Second
			}
			qs := []Queue{p.queue("/", "q", now)}
			s.Observe(now, qs)
			if i == n-1 {
				if st := qs[0].Status; st != Idle && st != OK {
					t.Fatalf("run %d: empty queue after %d polls is %s, want idle or ok", run, n, st)
				}
			}
		}
	}
}

func TestSlowProgressingConsumerWithLargeBacklogIsNeverStalled(t *testing.T) {
	// Completed advances by 1 every `every` polls, for every period up to
	// the window: every full window sees at least one completion.
	for every := 1; every <= fullWindowPoll; every++ {
		t.Run(fmt.Sprintf("one ack every %d polls", every), func(t *testing.T) {
			polls := series(20*fullWindowPoll, func(i int) poll {
				done := uint64(i / every)
				return poll{ready: 9999, unacked: 1, consumers: 1, published: 10000 + done, completed: done}
			})
			for i, st := range observeQueue(testWindow, testInterval, polls) {
				if st == Stalled {
					t.Fatalf("poll %d: stalled, but the consumer completes a message every %v",
						i, time.Duration(every)*testInterval)
				}
			}
		})
	}
}

func TestConsumerSlowerThanTheWindowIsStalled(t *testing.T) {
	// The counterpart of the test above: one completion every window
	// plus one poll leaves a full window without progress.
	every := fullWindowPoll + 1
	polls := series(5*every, func(i int) poll {
		done := uint64(i / every)
		return poll{ready: 9999, consumers: 1, published: 10000, completed: done}
	})
	got := observeQueue(testWindow, testInterval, polls)
	if !slices.Contains(got, Stalled) {
		t.Errorf("never stalled with one completion per %v and a %v window: %v",
			time.Duration(every)*testInterval, testWindow, got)
	}
}

func TestUnackedMessagesWithoutAcksForAFullWindowAreStalled(t *testing.T) {
	// The consumer took its prefetch and never acks: nothing ready, all
	// unacked, Completed frozen.
	polls := repeat(fullWindowPoll+1, poll{ready: 0, unacked: 50, consumers: 1, published: 50, completed: 0})
	got := observeQueue(testWindow, testInterval, polls)
	if last := got[len(got)-1]; last != Stalled {
		t.Errorf("status = %s, want stalled (all: %v)", last, got)
	}
}

func TestNoAckConsumerWithProgressIsNotStalled(t *testing.T) {
	// Completed includes deliveries in automatic-acknowledgement mode,
	// so a no-ack consumer (Acked frozen) is not stalled.
	s := NewStatusTracker(testWindow)
	for i := 0; i <= 2*fullWindowPoll; i++ {
		now := pollAt(i, testInterval)
		q := Queue{Queue: snapshot.Queue{Vhost: "/", Name: "q", StatsKnown: true, Ready: 100, Consumers: 1,
			Counters: snapshot.Counters{Published: uint64(1000 + i), Delivered: uint64(i), Completed: uint64(i)}}}
		qs := []Queue{q}
		s.Observe(now, qs)
		if qs[0].Status == Stalled {
			t.Fatalf("poll %d: stalled although no-ack deliveries advance", i)
		}
	}
}

func TestConsumerThatJustAttachedIsNotStalled(t *testing.T) {
	// A backlog sat without consumers; a consumer attaches and has not
	// completed anything yet.
	attach := 4
	polls := series(fullWindowPoll+attach+1, func(i int) poll {
		p := poll{ready: 100, published: 100}
		if i >= attach {
			p.consumers = 1
		}
		return p
	})
	got := observeQueue(testWindow, testInterval, polls)
	for i, st := range got {
		var want Status
		switch {
		case i < attach:
			want = NoConsumers
		case i < attach+fullWindowPoll:
			// Consumers were 0 earlier in the window.
			want = OK
		default:
			// A full window with consumers and no progress.
			want = Stalled
		}
		if st != want {
			t.Errorf("poll %d: status = %s, want %s", i, st, want)
		}
	}
}

func TestBacklogThatAppearedWithinTheWindowIsNotStalled(t *testing.T) {
	// Consumers attached all along; the queue was empty until a burst
	// arrived mid-window and the consumer has not finished one yet.
	burst := 3
	polls := series(burst+fullWindowPoll+1, func(i int) poll {
		if i < burst {
			return poll{consumers: 1}
		}
		return poll{ready: 100, consumers: 1, published: 100}
	})
	got := observeQueue(testWindow, testInterval, polls)
	for i := burst; i < burst+fullWindowPoll; i++ {
		if got[i] == Stalled {
			t.Errorf("poll %d: stalled, but the backlog is only %v old", i, time.Duration(i-burst)*testInterval)
		}
	}
	if last := got[len(got)-1]; last != Stalled {
		t.Errorf("after a full window of backlog without progress: %s, want stalled", last)
	}
}

func TestCounterResetClearsStatusHistory(t *testing.T) {
	tests := []struct {
		name  string
		reset poll
	}{
		{"published and completed go back", poll{ready: 100, consumers: 1, published: 3, completed: 0}},
		{"only completed goes back", poll{ready: 100, consumers: 1, published: 500, completed: 1}},
		{"only published goes back", poll{ready: 100, consumers: 1, published: 100, completed: 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := poll{ready: 100, consumers: 1, published: 400, completed: 10}
			polls := append(repeat(2*fullWindowPoll, before), repeat(fullWindowPoll+1, tt.reset)...)
			got := observeQueue(testWindow, testInterval, polls)
			reset := 2 * fullWindowPoll
			if got[reset-1] != Stalled {
				t.Fatalf("before the reset: %s, want stalled", got[reset-1])
			}
			for i := reset; i < reset+fullWindowPoll; i++ {
				if got[i] != OK {
					t.Errorf("%v after the reset: %s, want ok (no full window since the reset)",
						time.Duration(i-reset)*testInterval, got[i])
				}
			}
			if last := got[len(got)-1]; last != Stalled {
				t.Errorf("a full window after the reset: %s, want stalled", last)
			}
		})
	}
}

func TestStatusHistoryAfterCounterResetHoldsOnlyTheNewSample(t *testing.T) {
	s := NewStatusTracker(testWindow)
	k := snapshot.QueueKey{Vhost: "/", Name: "q"}
	for i := 0; i < 3; i++ {
		now := pollAt(i, testInterval)
		s.Observe(now, []Queue{poll{ready: 1, consumers: 1, published: 50, completed: 10}.queue("/", "q", now)})
	}
	now := pollAt(3, testInterval)
	s.Observe(now, []Queue{poll{ready: 1, consumers: 1, published: 2, completed: 0}.queue("/", "q", now)})
	if h := s.history.Of(k).Points; len(h) != 1 || h[0].Counters.Published != 2 || !h[0].Time.Equal(now) {
		t.Errorf("history after a reset = %+v, want only the new sample", h)
	}
}

func TestStatusTrackerForgetsQueueAbsentFromAPoll(t *testing.T) {
	s := NewStatusTracker(testWindow)
	stuck := poll{ready: 100, consumers: 1, published: 100}
	i := 0
	observe := func(present bool) Status {
		now := pollAt(i, testInterval)
		i++
		other := poll{}.queue("/", "other", now)
		if !present {
			s.Observe(now, []Queue{other})
			return Unknown
		}
		qs := []Queue{other, stuck.queue("/", "q", now)}
		s.Observe(now, qs)
		return qs[1].Status
	}
	var st Status
	for range fullWindowPoll + 1 {
		st = observe(true)
	}
	if st != Stalled {
		t.Fatalf("before it went missing: %s, want stalled", st)
	}
	observe(false)
	if s.history.Of(snapshot.QueueKey{Vhost: "/", Name: "q"}) != nil {
		t.Errorf("history of a queue absent from the last poll is kept")
	}
	if s.history.Of(snapshot.QueueKey{Vhost: "/", Name: "other"}) == nil {
		t.Errorf("history of a present queue was dropped")
	}
	if st := observe(true); st != OK {
		t.Errorf("back after going missing: %s, want ok (its history starts again)", st)
	}
}

func TestConsumerStatusIsTrackedPerVhostAndName(t *testing.T) {
	s := NewStatusTracker(testWindow)
	var last []Queue
	for i := 0; i <= fullWindowPoll; i++ {
		now := pollAt(i, testInterval)
		last = []Queue{
			// a/q: stuck.
			poll{ready: 100, consumers: 1, published: 100}.queue("a", "q", now),
			// b/q: same name, other vhost, progressing.
			poll{ready: 100, consumers: 1, published: uint64(100 + i), completed: uint64(i)}.queue("b", "q", now),
			// a/r: no consumers.
			poll{ready: 5, published: 5}.queue("a", "r", now),
			// b/r: idle.
			poll{}.queue("b", "r", now),
		}
		s.Observe(now, last)
	}
	want := []Status{Stalled, OK, NoConsumers, Idle}
	for i, q := range last {
		if q.Status != want[i] {
			t.Errorf("%s/%s: status = %s, want %s", q.Vhost, q.Name, q.Status, want[i])
		}
	}
}

func TestStatusHistoryStaysBoundedByTheWindow(t *testing.T) {
	s := NewStatusTracker(testWindow)
	k := snapshot.QueueKey{Vhost: "/", Name: "q"}
	for i := 0; i < 1000; i++ {
		now := pollAt(i, testInterval)
		s.Observe(now, []Queue{poll{ready: 100, consumers: 1, published: 100, completed: uint64(i)}.queue("/", "q", now)})
		h := s.history.Of(k).Points
		if limit := fullWindowPoll + 1; len(h) > limit {
			t.Fatalf("poll %d: %d samples kept, want at most %d", i, len(h), limit)
		}
		if i >= fullWindowPoll && h[0].Time.After(now.Add(-testWindow)) {
			t.Fatalf("poll %d: oldest sample %v is inside the window: history no longer spans it", i, h[0].Time)
		}
	}
}

func TestIrregularPollsStillNeedAFullWindowForStalled(t *testing.T) {
	// Polls at uneven intervals: stalled exactly when the oldest kept
	// sample is at least a window old.
	offsets := []time.Duration{0, 7 * time.Second, 31 * time.Second, 59 * time.Second, 60 * time.Second, 95 * time.Second}
	want := []Status{OK, OK, OK, OK, Stalled, Stalled}
	s := NewStatusTracker(testWindow)
	for i, off := range offsets {
		now := statusT0.Add(off)
		qs := []Queue{poll{ready: 10, consumers: 1, published: 10}.queue("/", "q", now)}
		s.Observe(now, qs)
		if qs[0].Status != want[i] {
			t.Errorf("poll at +%v: status = %s, want %s", off, qs[0].Status, want[i])
		}
	}
}

func TestAllListsEveryStatusOnce(t *testing.T) {
	want := []Status{OK, Idle, NoConsumers, Stalled, Lagging}
	got := slices.Clone(All)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("All = %v, want %v", All, want)
	}
}

func TestStatusesAreOrderedByHowMuchTheyNeedALook(t *testing.T) {
	want := []Status{Idle, Unknown, OK, Lagging, NoConsumers, Stalled}
	for i := 1; i < len(want); i++ {
		if Compare(want[i-1], want[i]) >= 0 {
			t.Errorf("%s should need a look less than %s", want[i-1], want[i])
		}
	}
	if Compare(0, Unknown) != 0 || Status(0).String() != "unknown" {
		t.Errorf("the zero value should be unknown")
	}
}

func TestParseReadsWhatStringWrites(t *testing.T) {
	for _, s := range append(All, Unknown) {
		if got := Parse(s.String()); got != s {
			t.Errorf("Parse(%q) = %s", s.String(), got)
		}
	}
	if Parse("bogus") != Unknown {
		t.Errorf("an unknown name should parse as unknown")
	}
}

func TestExplainNamesTheRuleThatDecidedWithItsNumbers(t *testing.T) {
	h := queuehistory.New(testWindow)
	key := snapshot.QueueKey{Vhost: "/", Name: "orders"}
	observe := func(i int, ready, consumers int64, published, completed uint64) {
		h.Observe(&snapshot.Snapshot{Time: statusT0.Add(time.Duration(i) * testInterval), Queues: []snapshot.Queue{{
			Vhost: key.Vhost, Name: key.Name, StatsKnown: true, Ready: ready, Consumers: consumers,
			Counters: snapshot.Counters{Published: published, Completed: completed},
		}}})
	}
	for i := 0; i <= fullWindowPoll; i++ {
		observe(i, 120, 1, 500, 380)
	}
	v := Explain(h.Of(key), testWindow)
	if v.Status != Stalled || v.Status != Evaluate(h.Of(key), testWindow) {
		t.Fatalf("status %v, want stalled, as Evaluate says", v.Status)
	}
	for _, want := range []string{"stalled:", "120 messages", "consumers (now 1)", "1m0s", "no message completed"} {
		if !strings.Contains(v.Reason, want) {
			t.Errorf("reason %q lacks %q", v.Reason, want)
		}
	}
	observe(fullWindowPoll+1, 120, 0, 500, 380)
	if v := Explain(h.Of(key), testWindow); v.Status != NoConsumers || v.Reason != "no_consumers: 120 messages waiting and no consumer" {
		t.Errorf("without consumers: %+v", v)
	}
	if v := Explain(nil, testWindow); v.Status != Unknown || !strings.HasPrefix(v.Reason, "unknown:") {
		t.Errorf("without history: %+v", v)
	}
}
