package slo

import (
	"math"
	"slices"
	"time"
)

// restore adds saved events to s's series (the caller holds s.mu). With the
// same bucket layout the buckets are taken as they are; otherwise they are
// re-bucketed, and restore reports true.
func (s *SLO) restore(sv savedSLO, savedAt time.Time) (rebucketed bool) {
	ser := s.series
	ser.dropped += sv.Dropped
	if sv.Fine.WidthNS == ser.fine.width && sv.Fine.Buckets == len(ser.fine.buckets) &&
		sv.Coarse.WidthNS == ser.coarse.width && sv.Coarse.Buckets == len(ser.coarse.buckets) {
		copyRing(&ser.fine, sv.Fine)
		copyRing(&ser.coarse, sv.Coarse)
		return false
	}
	src := rebucketSources(sv, savedAt.UnixNano())
	for _, r := range []*ring{&ser.fine, &ser.coarse} {
		for _, iv := range src {
			r.spread(iv.from, iv.to, iv.good, iv.total)
		}
	}
	return true
}

func copyRing(r *ring, sr savedRing) {
	if sr.Newest == nil {
		return
	}
	first := sr.first()
	for i := range sr.Good {
		if sr.Total[i] != 0 || sr.Good[i] != 0 {
			r.add(first+int64(i), clampGood(sr.Good[i], sr.Total[i]), sr.Total[i])
		}
	}
}

type interval struct {
	from, to    int64 // Unix ns, [from, to)
	good, total float64
}

// rebucketSources turns saved buckets into time intervals of events, newest
// first: the fine ring where it reaches, the coarse ring before that (a
// coarse bucket straddling the fine ring's start contributes its older part,
// pro-rated). Buckets are cut at savedAt: no event was later.
func rebucketSources(sv savedSLO, savedAt int64) []interval {
	var out []interval
	fineStart := int64(math.MaxInt64)
	emit := func(sr savedRing, before int64) {
		if sr.Newest == nil {
			return
		}
		first := sr.first()
		for i := range sr.Good {
			g, t := clampGood(sr.Good[i], sr.Total[i]), sr.Total[i]
			if t == 0 {
				continue
			}
			from := (first + int64(i)) * sr.WidthNS
			to := from + sr.WidthNS
			if from < savedAt && savedAt < to {
				to = savedAt
			}
			if from >= before {
				continue
			}
			if to > before {
				f := float64(before-from) / float64(to-from)
				g, t, to = g*f, t*f, before
			}
			out = append(out, interval{from, to, g, t})
		}
	}
	if sv.Fine.Newest != nil {
		fineStart = (*sv.Fine.Newest - int64(sv.Fine.Buckets) + 1) * sv.Fine.WidthNS
	}
	emit(sv.Fine, math.MaxInt64)
	emit(sv.Coarse, fineStart)
	slices.SortFunc(out, func(a, b interval) int { return -cmpInt64(a.from, b.from) })
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// spread adds events that happened uniformly over [from, to) to the
// buckets that interval overlaps.
func (r *ring) spread(from, to int64, good, total float64) {
	if to <= from {
		r.add(r.epoch(from), good, total)
		return
	}
	span := float64(to - from)
	lo := from
	if r.started {
		lo = max(lo, r.oldest()*r.width)
	}
	for e := r.epoch(lo); e <= r.epoch(to-1); e++ {
		a, b := max(from, e*r.width), min(to, (e+1)*r.width)
		if b <= a {
			continue
		}
		f := float64(b-a) / span
		r.add(e, good*f, total*f)
	}
}
