package slo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// StateVersion is the version of the state file format Save writes. Load
// reads this version only.
const StateVersion = 1

// maxRingBuckets bounds the ring sizes Load accepts from a file, so a
// damaged size cannot exhaust memory. Real rings hold at most 4322.
const maxRingBuckets = 1 << 20

var (
	// ErrCorruptState: the state file is not a valid state file.
	ErrCorruptState = errors.New("corrupt state file")
	// ErrFutureVersion: the state file was written by a newer warren.
	ErrFutureVersion = errors.New("state file written by a newer version")
)

// StateFileError reports a state file Load refused. The file was moved
// aside to MovedTo (unless MoveErr says why not) and the engine kept its
// state (empty at start-up). errors.Is(err, ErrCorruptState) or
// errors.Is(err, ErrFutureVersion) tells which.
type StateFileError struct {
	Path    string
	MovedTo string
	MoveErr error
	Err     error
}

func (e *StateFileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "slo state %s: %v; ", e.Path, e.Err)
	if e.MoveErr != nil {
		fmt.Fprintf(&b, "could not move it aside (%v), the next save will replace it; ", e.MoveErr)
	} else {
		fmt.Fprintf(&b, "moved aside to %s; ", e.MovedTo)
	}
	b.WriteString("starting with empty SLO history")
	return b.String()
}

func (e *StateFileError) Unwrap() error { return e.Err }

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

// Save writes the history of every SLO to path atomically: a temporary file
// in the same directory, fsync, rename over path, fsync of the directory.
// A crash at any point leaves either the previous file or the new one, and
// at worst a temporary file that the next Load removes. Saves are
// serialized; Adds continue while the file is written.
func (e *Engine) Save(path string) error {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	savedAt := e.now().UTC()
	slos := e.SLOs()
	lines := make([][]byte, 0, len(slos))
	for _, s := range slos {
		s.mu.Lock()
		sv := s.snapshot()
		s.mu.Unlock()
		b, err := json.Marshal(sv)
		if err != nil {
			return fmt.Errorf("slo: encoding state of %q: %w", sv.Name, err)
		}
		lines = append(lines, b)
	}
	body := append(append([]byte("[\n"), bytes.Join(lines, []byte(",\n"))...), "\n]"...)
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return fmt.Errorf("slo: encoding state: %w", err)
	}
	sum := sha256.Sum256(compact.Bytes())
	at, _ := json.Marshal(savedAt)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"version":%d,"saved_at":%s,"sha256":"%s","slos":`, StateVersion, at, hex.EncodeToString(sum[:]))
	buf.Write(body)
	buf.WriteString("}\n")
	return writeFileAtomic(path, buf.Bytes())
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("slo: saving state: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("slo: saving state to %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("slo: saving state to %s: syncing directory: %w", path, err)
	}
	return nil
}

const tempInfix = ".tmp-"

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}

// Load merges the state file at path into the engine by SLO name (see
// MergeReport): SLOs no longer configured are dropped, new ones start
// empty, a changed window re-buckets. Saved events are added to the
// engine's, so call Load once, at start-up, before adding events.
//
// A missing file is a fresh start (nil error). A file that is not a valid
// state file of this version — unreadable JSON, wrong checksum, impossible
// counts, a version from a newer warren — is moved aside to
// <path>.corrupt-<timestamp>, the engine keeps its state, and Load returns a
// *StateFileError for the caller to report. Other errors (permissions, I/O)
// leave the file where it is. Load first removes the temporary files that
// saves interrupted by a crash left next to path.
func (e *Engine) Load(path string) (MergeReport, error) {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	var rep MergeReport
	rep.RemovedTemp = removeStaleTemps(path)
	e.mu.RLock()
	defer e.mu.RUnlock()
	data, err := os.ReadFile(path)
	if err != nil {
		rep.Fresh = slices.Clone(e.order)
		if errors.Is(err, fs.ErrNotExist) {
			return rep, nil
		}
		return rep, fmt.Errorf("slo: reading state: %w", err)
	}
	savedAt, saved, err := parseState(data)
	if err != nil {
		rep.Fresh = slices.Clone(e.order)
		serr := &StateFileError{Path: path, Err: err}
		serr.MovedTo, serr.MoveErr = moveAside(path, e.now())
		return rep, serr
	}
	byName := make(map[string]savedSLO, len(saved))
	for _, sv := range saved {
		byName[sv.Name] = sv
	}
	for _, n := range e.order {
		sv, ok := byName[n]
		if !ok {
			rep.Fresh = append(rep.Fresh, n)
			continue
		}
		s := e.slos[n]
		s.mu.Lock()
		rebucketed := s.restore(sv, savedAt)
		s.mu.Unlock()
		if rebucketed {
			rep.Rebucketed = append(rep.Rebucketed, n)
		} else {
			rep.Restored = append(rep.Restored, n)
		}
	}
	for _, sv := range saved {
		if _, ok := e.slos[sv.Name]; !ok {
			rep.Dropped = append(rep.Dropped, sv.Name)
		}
	}
	return rep, nil
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

// moveAside renames path to <path>.corrupt-<UTC timestamp>[-n], never over
// an existing file.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	dst := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, dst); err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	_ = syncDir(dir)
	return dst, nil
}

// removeStaleTemps removes <path>.tmp-* files left by saves a crash
// interrupted, and returns their names.
func removeStaleTemps(path string) []string {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, ent := range entries {
		if ent.Type().IsRegular() && strings.HasPrefix(ent.Name(), base+tempInfix) {
			p := filepath.Join(dir, ent.Name())
			if os.Remove(p) == nil {
				removed = append(removed, p)
			}
		}
	}
	return removed
}
