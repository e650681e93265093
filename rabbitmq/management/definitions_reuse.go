package management

import (
	"reflect"
	"slices"
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// definitionsMaxAge is how long Definitions may answer with the queues of
// an earlier read while nothing says they changed: the longest a change
// no count, policy or node shows (a queue deleted and declared again
// with other arguments, a quorum leader moved between running nodes)
// takes to be seen.
const definitionsMaxAge = time.Minute

// queueDefinitions are the queues of a definitions read, and what the
// broker said around them: what a later read compares to tell whether
// they may have changed.
type queueDefinitions struct {
	at       time.Time
	counted  int // the overview's queue count (Overview.Queues)
	running  []string
	vhosts   []string
	policies []apiPolicy // the policies, then the operator policies, as listed
	// queues, filteredOut and anyDLX are the listing's (queueListing).
	queues      []snapshot.Queue
	filteredOut []snapshot.QueueKey
	anyDLX      bool
	// settled is set where the listing before was made in the same
	// state (sameState).
	settled bool
	// forgotten is set when a source saw a queue the definitions lack.
	forgotten bool
}

// definitionsState is what a definitions read finds out before it lists
// the queues, to compare with the queueDefinitions of an earlier one.
type definitionsState struct {
	now      time.Time
	ov       *Overview
	running  []string
	vhosts   []string
	policies []apiPolicy
}

// reusable reports whether d's queues still describe the broker in state
// st: the listing cost the broker most of a stats-off poll (0.5 to 0.8 s
// of its CPU at 10,000 queues, docs/benchmarks.md), and nothing in it
// changes without the count, the policies, the running nodes or the
// watched vhosts changing, but the cases definitionsMaxAge bounds.
//
// d must be settled: listed in the state of the listing before it. The
// broker applies a changed policy to its queues a moment after it lists
// it, so the listing made as the policies change may not show it yet,
// and the next poll lists again. Queues whose replicas were not all
// online with a leader are listed at every poll: a member coming back
// after its node did shows in the listing alone, and resolving an alert
// must not wait for the max age.
func (d *queueDefinitions) reusable(st definitionsState) bool {
	switch {
	case d == nil || !d.settled || d.forgotten || !d.sameState(st):
		return false
	case st.now.Sub(d.at) >= definitionsMaxAge || st.now.Before(d.at):
		return false
	}
	for i := range d.queues {
		if q := &d.queues[i]; q.HasReplicas && (q.Replicas.Offline() > 0 || q.Replicas.Leader == "") {
			return false
		}
	}
	return true
}

// sameState reports whether d was listed in state st: the same queue
// count (both counted), running nodes, watched vhosts and policies.
func (d *queueDefinitions) sameState(st definitionsState) bool {
	return st.ov.QueuesCounted && st.ov.Queues == d.counted && slices.Equal(st.running, d.running) &&
		slices.Equal(st.vhosts, d.vhosts) && reflect.DeepEqual(st.policies, d.policies)
}

// runningNames are the sorted names of the running nodes.
func runningNames(running map[string]bool) []string {
	names := make([]string, 0, len(running))
	for n := range running {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ForgetDefinitions makes the next Definitions list the queues again: a
// source that found a queue they lack (deleted and declared again, the
// count unchanged) calls it.
func (s *Source) ForgetDefinitions() {
	if s.definitions != nil {
		s.definitions.forgotten = true
	}
}
