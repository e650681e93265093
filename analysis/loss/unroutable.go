package loss

import (
	"time"

	"github.com/warrenhq/warren/snapshot"
)

// Vhost is one vhost's unroutable publishes: the broker's cumulative
// counters, and their increase over the tracker's window (HasRecent is
// false until two polls have seen the vhost).
type Vhost struct {
	snapshot.VhostUnroutable
	RecentDropped, RecentReturned float64
	HasRecent                     bool
}

// vhostTrack is a vhost's increases, accumulated with the reset rule of
// the queue history: a counter that goes back (the node restarted)
// counts from zero.
type vhostTrack struct {
	last  snapshot.VhostUnroutable
	marks []vhostMark
}

type vhostMark struct {
	time              time.Time
	dropped, returned float64 // accumulated increases since first seen
}

// ObserveUnroutable returns the unroutable publishes of snap's vhosts.
func (t *Tracker) ObserveUnroutable(snap *snapshot.Snapshot) []Vhost {
	out := make([]Vhost, len(snap.Unroutable))
	seen := make(map[string]bool, len(snap.Unroutable))
	for i, v := range snap.Unroutable {
		seen[v.Vhost] = true
		tr := t.vhosts[v.Vhost]
		if tr == nil {
			tr = &vhostTrack{last: v}
			t.vhosts[v.Vhost] = tr
		}
		var m vhostMark
		if n := len(tr.marks); n > 0 {
			m = tr.marks[n-1]
		}
		m.time = snap.Time
		m.dropped += increase(tr.last.Dropped, v.Dropped)
		m.returned += increase(tr.last.Returned, v.Returned)
		tr.last = v
		tr.marks = append(tr.marks, m)
		keepFrom := 0
		for j := range tr.marks {
			if !tr.marks[j].time.After(snap.Time.Add(-t.window)) {
				keepFrom = j
			}
		}
		tr.marks = append(tr.marks[:0], tr.marks[keepFrom:]...)
		base := tr.marks[0]
		out[i] = Vhost{VhostUnroutable: v, RecentDropped: m.dropped - base.dropped, RecentReturned: m.returned - base.returned,
			HasRecent: len(tr.marks) > 1}
	}
	for v := range t.vhosts {
		if !seen[v] {
			delete(t.vhosts, v)
		}
	}
	return out
}

// increase is a cumulative counter's increase from before to now, from
// zero where it went back.
func increase(before, now uint64) float64 {
	if now < before {
		return float64(now)
	}
	return float64(now - before)
}
