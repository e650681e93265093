// Package exposition serves /metrics as two parts: series that change once
// per poll (the per-queue families, hundreds of thousands of series on a big
// cluster), which their producers encode once per poll into Fragments, kept
// as gzip members; and a small prometheus.Registry gathered at every scrape
// (target health, probes, SLOs, go and process metrics).
//
// A scrape in the text format 0.0.4 that accepts gzip (Prometheus always
// does) is answered with the registry's families, compressed then, followed
// by the stored members: concatenated gzip members are one valid gzip
// stream (RFC 1952, 2.2), which Go's and Prometheus's readers decode as a
// whole. A scrape without gzip gets the members decompressed on the fly,
// which costs CPU in proportion to the body; the text is not kept, because
// it is thirty times the size. A client that negotiates protobuf (native
// histograms) gets a full render: the fragments are parsed back into metric
// families and merged with the registry's — slow on a big cluster, exact.
//
// Import rule: it imports nothing of warren; the pipelines encode into it.
package exposition

import (
	"bytes"
	"compress/gzip"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Family is one metric family of the pre-encoded part. Families are
// package-level values of their producers; two producers that add series
// to the same family (the oldest-message age from snapshots and from the
// time-in-queue estimate) share one *Family, and the handler writes its
// HELP and TYPE once, followed by every producer's series.
type Family struct {
	Name string
	Help string
	Type dto.MetricType

	header     []byte // "# HELP …\n# TYPE …\n"
	gzipOnce   sync.Once
	gzipHeader []byte // header as a gzip member
}

// NewFamily describes a counter, gauge or histogram family.
func NewFamily(name, help string, typ dto.MetricType) *Family {
	f := &Family{Name: name, Help: help, Type: typ}
	var b []byte
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, helpEscaper.Replace(help)...)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, strings.ToLower(typ.String())...)
	b = append(b, '\n')
	f.header = b
	return f
}

func (f *Family) compressedHeader() []byte {
	f.gzipOnce.Do(func() { f.gzipHeader = compress(f.header) })
	return f.gzipHeader
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// AppendLabel appends name="value" to b, with a leading comma unless b is
// empty, escaping the value as the text format requires. Producers build a
// queue's label set once and reuse it for every series of the queue, and
// across polls.
func AppendLabel(b []byte, name, value string) []byte {
	if len(b) > 0 {
		b = append(b, ',')
	}
	b = append(b, name...)
	b = append(b, `="`...)
	if strings.ContainsAny(value, "\\\n\"") {
		b = append(b, valueEscaper.Replace(value)...)
	} else {
		b = append(b, value...)
	}
	return append(b, '"')
}

// Builder collects the series of one producer (one target's state) family
// by family. Series are compressed as they are
// written: a fragment keeps only its gzip members, a thirtieth of the text
// on a real exposition, so that memory at 50,000 queues stays small. It is
// not safe for concurrent use.
type Builder struct {
	order []*Family
	bufs  map[*Family]*familyBuffer
	hint  map[*Family]int
	drop  func(name string) bool
}

// familyBuffer is one family's series: text not yet compressed, and the
// gzip member so far.
type familyBuffer struct {
	text     []byte
	zw       *gzip.Writer
	member   bytes.Buffer
	plainLen int
}

// flushAt is how much text a family buffers before compressing it.
const flushAt = 64 << 10

func (fb *familyBuffer) flush() {
	fb.plainLen += len(fb.text)
	fb.zw.Write(fb.text)
	fb.text = fb.text[:0]
}

// NewBuilder starts a fragment. prev, the producer's previous fragment or
// nil, sizes the buffers so that a steady state allocates each once.
func NewBuilder(prev *Fragment) *Builder {
	b := &Builder{bufs: map[*Family]*familyBuffer{}, hint: map[*Family]int{}}
	if prev != nil {
		for i, f := range prev.families {
			b.hint[f] = len(prev.gzipped[i]) + len(prev.gzipped[i])/8
		}
	}
	return b
}

// buffer returns the family's buffer, creating it on first use.
func (b *Builder) buffer(f *Family) *familyBuffer {
	if fb, ok := b.bufs[f]; ok {
		return fb
	}
	fb := &familyBuffer{text: make([]byte, 0, flushAt+4096), zw: gzipWriters.Get().(*gzip.Writer)}
	fb.member.Grow(max(b.hint[f], 1024))
	fb.zw.Reset(&fb.member)
	b.bufs[f] = fb
	b.order = append(b.order, f)
	return fb
}

// Drop makes the builder discard the series of every family whose name
// drop accepts (a nil drop keeps everything).
func (b *Builder) Drop(drop func(name string) bool) { b.drop = drop }

// Family returns a writer for f's series. Holding it avoids a lookup per
// series. The writer of a dropped family discards what it is given.
func (b *Builder) Family(f *Family) FamilyWriter {
	if b.drop != nil && b.drop(f.Name) {
		return FamilyWriter{}
	}
	return FamilyWriter{fb: b.buffer(f), name: f.Name}
}

// FamilyWriter appends the series of one family.
type FamilyWriter struct {
	fb   *familyBuffer
	name string
}

// Add appends name{labels} value. labels is an encoded label set (see
// AppendLabel), without braces; it may be empty.
func (s FamilyWriter) Add(labels []byte, value float64) {
	s.add("", labels, nil, value)
}

// AddWith appends name{labels,extra} value: extra is one more encoded
// label set, such as state="ready".
func (s FamilyWriter) AddWith(labels, extra []byte, value float64) {
	s.add("", labels, extra, value)
}

func (s FamilyWriter) add(suffix string, labels, extra []byte, value float64) {
	if s.fb == nil {
		return // a dropped family
	}
	b := s.fb.text
	b = append(b, s.name...)
	b = append(b, suffix...)
	if len(labels) > 0 || len(extra) > 0 {
		b = append(b, '{')
		b = append(b, labels...)
		if len(extra) > 0 {
			if len(labels) > 0 {
				b = append(b, ',')
			}
			b = append(b, extra...)
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = AppendFloat(b, value)
	s.fb.text = append(b, '\n')
	if len(s.fb.text) >= flushAt {
		s.fb.flush()
	}
}

// Histogram appends a classic histogram: cumulative counts per upper
// bound (the +Inf bucket is count), the sum and the count.
func (s FamilyWriter) Histogram(labels []byte, bounds []float64, cumulative []uint64, sum float64, count uint64) {
	if s.fb == nil {
		return
	}
	var le [32]byte
	for i, bound := range bounds {
		extra := append(AppendFloat(append(le[:0], `le="`...), bound), '"')
		s.add("_bucket", labels, extra, float64(cumulative[i]))
	}
	s.add("_bucket", labels, []byte(`le="+Inf"`), float64(count))
	s.add("_sum", labels, nil, sum)
	s.add("_count", labels, nil, float64(count))
}

// AppendFloat formats v as the text format does (and as client_golang's
// encoder does, so both renders of a value are byte-identical).
func AppendFloat(b []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(b, '1')
	case v == 0:
		return append(b, '0')
	case v == -1:
		return append(b, "-1"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// Fragment is the immutable result of a Builder: per family, its series
// as one gzip member, and their size as text.
type Fragment struct {
	families []*Family
	gzipped  [][]byte
	plainLen []int
}

// Fragment finishes the builder.
func (b *Builder) Fragment() *Fragment {
	fr := &Fragment{}
	for _, f := range b.order {
		fb := b.bufs[f]
		fb.flush()
		fb.zw.Close()
		gzipWriters.Put(fb.zw)
		if fb.plainLen == 0 {
			continue // a family with no series has no header either
		}
		fr.families = append(fr.families, f)
		fr.gzipped = append(fr.gzipped, fb.member.Bytes())
		fr.plainLen = append(fr.plainLen, fb.plainLen)
	}
	b.bufs = nil
	return fr
}

// Size is the fragment's size as text, in bytes.
func (fr *Fragment) Size() int {
	n := 0
	for _, l := range fr.plainLen {
		n += l
	}
	return n
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// compress returns b as one complete gzip member. Concatenated members
// are a valid gzip stream (RFC 1952 §2.2), which Go's and Prometheus's
// readers decode as one body.
func compress(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b)/8 + 64)
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(&out)
	w.Write(b)
	w.Close()
	gzipWriters.Put(w)
	return out.Bytes()
}

// FormatThreshold spells a threshold for the threshold label of the
// per-threshold counters (queues, outboxes) as it is usually written in a
// configuration: 500ms, 30s, 5m, 1h.
func FormatThreshold(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
}
