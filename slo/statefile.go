package slo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// StateVersion is the version of the state file format Save writes. Load
// reads this version only.
const StateVersion = 1

// maxRingBuckets bounds the ring sizes Load accepts from a file, so a
// damaged size cannot exhaust memory. Real rings hold at most 4322.
const maxRingBuckets = 1 << 20

// The file format, version 1 (one line per SLO, for grep and jq):
//
//	{"version":1,"saved_at":"2025-01-02T03:04:05Z","sha256":"…","slos":[
//	{"name":"orders","target":0.95,"window":"672h0m0s","window_ns":…,"dropped":0,
//	 "fine":{"width_ns":…,"buckets":361,"newest":…,"good":[…],"total":[…]},
//	 "coarse":{…}}
//	]}
//
// sha256 is the hex SHA-256 of the compacted "slos" array. In a ring, good[i]
// and total[i] belong to the bucket newest−len(good)+1+i (bucket e covers
// [e×width_ns, (e+1)×width_ns) in Unix nanoseconds); leading empty buckets
// are left out. "target" and "window" are informational.
type stateFile struct {
	Version int             `json:"version"`
	SavedAt time.Time       `json:"saved_at"`
	SHA256  string          `json:"sha256"`
	SLOs    json.RawMessage `json:"slos"`
}

type savedSLO struct {
	Name     string    `json:"name"`
	Target   float64   `json:"target"`
	Window   string    `json:"window"`
	WindowNS int64     `json:"window_ns"`
	Dropped  float64   `json:"dropped"`
	Fine     savedRing `json:"fine"`
	Coarse   savedRing `json:"coarse"`
}

type savedRing struct {
	WidthNS int64 `json:"width_ns"`
	Buckets int   `json:"buckets"`
	// Newest is absent when the ring never held an event.
	Newest *int64    `json:"newest,omitempty"`
	Good   []float64 `json:"good"`
	Total  []float64 `json:"total"`
}

func (r *ring) snapshot() savedRing {
	sr := savedRing{WidthNS: r.width, Buckets: len(r.buckets), Good: []float64{}, Total: []float64{}}
	if !r.started {
		return sr
	}
	newest := r.newest
	sr.Newest = &newest
	first := r.oldest()
	for first <= r.newest && *r.slot(first) == (bucket{}) {
		first++
	}
	for e := first; e <= r.newest; e++ {
		b := *r.slot(e)
		sr.Good = append(sr.Good, b.good)
		sr.Total = append(sr.Total, b.total)
	}
	return sr
}

// first is the epoch of Good[0].
func (sr *savedRing) first() int64 { return *sr.Newest - int64(len(sr.Good)) + 1 }

func (sr *savedRing) validate() error {
	if sr.WidthNS <= 0 {
		return fmt.Errorf("bucket width %d", sr.WidthNS)
	}
	if sr.Buckets < 1 || sr.Buckets > maxRingBuckets {
		return fmt.Errorf("ring of %d buckets", sr.Buckets)
	}
	if len(sr.Good) != len(sr.Total) || len(sr.Good) > sr.Buckets {
		return fmt.Errorf("%d good and %d total counts for %d buckets", len(sr.Good), len(sr.Total), sr.Buckets)
	}
	if len(sr.Good) > 0 && sr.Newest == nil {
		return errors.New("counts without a newest bucket")
	}
	if sr.Newest != nil {
		lim := math.MaxInt64/sr.WidthNS - 1
		if n := *sr.Newest; n > lim || n < -lim+int64(sr.Buckets) {
			return fmt.Errorf("newest bucket %d out of range", n)
		}
	}
	for i := range sr.Good {
		if err := checkCounts(clampGood(sr.Good[i], sr.Total[i]), sr.Total[i]); err != nil {
			return fmt.Errorf("bucket %d: %v", i, err)
		}
	}
	return nil
}

// snapshot copies the series; the caller holds s.mu.
func (s *SLO) snapshot() savedSLO {
	return savedSLO{
		Name:     s.obj.Name,
		Target:   s.obj.Target,
		Window:   s.obj.Window.String(),
		WindowNS: int64(s.obj.Window),
		Dropped:  s.series.dropped,
		Fine:     s.series.fine.snapshot(),
		Coarse:   s.series.coarse.snapshot(),
	}
}

func (sv *savedSLO) validate() error {
	if sv.Name == "" {
		return errors.New("SLO without a name")
	}
	if sv.WindowNS < int64(MinWindow) {
		return fmt.Errorf("SLO %q: window %v", sv.Name, time.Duration(sv.WindowNS))
	}
	if !(sv.Dropped >= 0) || math.IsInf(sv.Dropped, 0) {
		return fmt.Errorf("SLO %q: dropped %v", sv.Name, sv.Dropped)
	}
	if err := sv.Fine.validate(); err != nil {
		return fmt.Errorf("SLO %q: fine ring: %v", sv.Name, err)
	}
	if err := sv.Coarse.validate(); err != nil {
		return fmt.Errorf("SLO %q: coarse ring: %v", sv.Name, err)
	}
	return nil
}

// parseState decodes and checks a state file; errors wrap ErrCorruptState
// or ErrFutureVersion.
func parseState(data []byte) (time.Time, []savedSLO, error) {
	corrupt := func(format string, a ...any) (time.Time, []savedSLO, error) {
		return time.Time{}, nil, fmt.Errorf("%w: %s", ErrCorruptState, fmt.Sprintf(format, a...))
	}
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return corrupt("%v", err)
	}
	switch {
	case head.Version == nil:
		return corrupt("no version")
	case *head.Version > StateVersion:
		return time.Time{}, nil, fmt.Errorf("%w: version %d, this warren reads version %d", ErrFutureVersion, *head.Version, StateVersion)
	case *head.Version < StateVersion:
		return corrupt("version %d", *head.Version)
	}
	var f stateFile
	if err := decodeStrict(data, &f); err != nil {
		return corrupt("%v", err)
	}
	if f.SavedAt.IsZero() {
		return corrupt("no saved_at")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, f.SLOs); err != nil {
		return corrupt("slos: %v", err)
	}
	sum := sha256.Sum256(compact.Bytes())
	if got := hex.EncodeToString(sum[:]); got != f.SHA256 {
		return corrupt("checksum mismatch: file says %q, content hashes to %q", f.SHA256, got)
	}
	var saved []savedSLO
	if err := decodeStrict(f.SLOs, &saved); err != nil {
		return corrupt("slos: %v", err)
	}
	seen := make(map[string]bool, len(saved))
	for i := range saved {
		if err := saved[i].validate(); err != nil {
			return corrupt("%v", err)
		}
		if seen[saved[i].Name] {
			return corrupt("SLO %q appears twice", saved[i].Name)
		}
		seen[saved[i].Name] = true
	}
	return f.SavedAt, saved, nil
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
