// Package exposition serves /metrics as two parts: series that change once
// per poll (the per-queue families, hundreds of thousands of series on a big
// cluster), which their producers encode once per poll into Fragments, in
// the text format 0.0.4 and in the protobuf delimited format, each kept as
// gzip members; and a small prometheus.Registry gathered at every scrape
// (target health, probes, SLOs, go and process metrics).
//
// A scrape that accepts gzip (Prometheus always does) is answered with the
// registry's families in the negotiated format, compressed then, followed
// by the stored members of that format: concatenated gzip members are one
// valid gzip stream (RFC 1952, 2.2), which Go's and Prometheus's readers
// decode as a whole. A protobuf MetricFamily is its header fields followed
// by its metric fields, so every producer's series of a family follow one
// header (with the family's total length, known when the fragments are
// assembled). A scrape without gzip gets the text decoded on the fly from
// a second copy kept as s2 blocks, which decode several times faster than
// gzip, and protobuf decompressed from its gzip members; the uncompressed
// bytes are not kept, because they are thirty times the gzip size.
//
// Import rule: it imports nothing of warren; the pipelines encode into it.
package exposition

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
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
	protoHead  []byte // the MetricFamily's name, help and type fields
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
	f.protoHead = protoHeader(name, help, typ)
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
	order      []*Family
	bufs       map[*Family]*familyBuffer
	hint       map[*Family]int // capacity of a family's gzip members
	blocksHint map[*Family]int // and of its s2 blocks
	drop       func(name string) bool

	// The protobuf label pairs of the label set last given, which a
	// producer gives again for each series of a queue; lastLabels is a
	// copy, as producers may reuse their buffers.
	lastLabels, lastProto []byte
	// Scratch space for one series' extra label pairs and body.
	extra, body, hist []byte
}

// familyBuffer is one family's series, in both formats: encoded series
// not yet compressed, and the gzip members so far.
type familyBuffer struct {
	text, proto stream
}

// stream is one format's series of a family: every flushAt bytes are
// compressed into a gzip member of their own, with a pooled writer given
// back at once, so that building a fragment holds one compressor, not
// one per family and format (each is hundreds of kilobytes).
//
// The text stream keeps the same bytes as s2 blocks too (blocks), for
// the scrape that does not take gzip: s2 decodes at several GB/s, gzip
// here at under one, and a scrape without gzip is a copy of the whole
// body (16 MB at 10,000 queues). The blocks take about a thirteenth of
// the text (1.2 MB at 10,000 queues); the protobuf stream keeps none, as
// Prometheus, its one reader, always takes gzip.
type stream struct {
	pending  []byte
	members  []byte // concatenated gzip members: one gzip stream
	plainLen int
	blocks   []byte // nil, or s2 blocks, each after its uvarint length
}

// flushAt is how much a family buffers before compressing it.
const flushAt = 64 << 10

func (s *stream) start(hint int) {
	s.pending = make([]byte, 0, flushAt+4096)
	s.members = make([]byte, 0, max(hint, 1024))
}

// startWithBlocks starts a stream that keeps s2 blocks too, sized by
// blocksHint, the previous fragment's.
func (s *stream) startWithBlocks(hint, blocksHint int) {
	s.start(hint)
	s.blocks = make([]byte, 0, max(blocksHint, 1024))
}

func (s *stream) flush() {
	if len(s.pending) == 0 {
		return
	}
	s.plainLen += len(s.pending)
	s.members = appendCompressed(s.members, s.pending)
	if s.blocks != nil {
		s.blocks = appendBlock(s.blocks, s.pending)
	}
	s.pending = s.pending[:0]
}

func (s *stream) flushIfFull() {
	if len(s.pending) >= flushAt {
		s.flush()
	}
}

// finish compresses what is pending and returns the members.
func (s *stream) finish() []byte {
	s.flush()
	s.pending = nil
	return s.members
}

// NewBuilder starts a fragment. prev, the producer's previous fragment or
// nil, sizes the buffers so that a steady state allocates each once.
func NewBuilder(prev *Fragment) *Builder {
	b := &Builder{bufs: map[*Family]*familyBuffer{}, hint: map[*Family]int{}, blocksHint: map[*Family]int{}}
	if prev != nil {
		for i, f := range prev.families {
			b.hint[f] = len(prev.gzipped[i]) + len(prev.gzipped[i])/8
			b.blocksHint[f] = len(prev.textBlocks[i]) + len(prev.textBlocks[i])/8
		}
	}
	return b
}

// buffer returns the family's buffer, creating it on first use.
func (b *Builder) buffer(f *Family) *familyBuffer {
	if fb, ok := b.bufs[f]; ok {
		return fb
	}
	fb := &familyBuffer{}
	fb.text.startWithBlocks(b.hint[f], b.blocksHint[f])
	fb.proto.start(b.hint[f])
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
	valueField := protowire.Number(metricGauge)
	if f.Type == dto.MetricType_COUNTER {
		valueField = metricCounter
	}
	return FamilyWriter{fb: b.buffer(f), b: b, name: f.Name, valueField: valueField}
}

// FamilyWriter appends the series of one family.
type FamilyWriter struct {
	fb         *familyBuffer
	b          *Builder
	name       string
	valueField protowire.Number // of a gauge or counter
}

// protoLabels returns the label pairs of labels, converting them only
// when they are not the set last given.
func (b *Builder) protoLabels(labels []byte) []byte {
	if b.lastProto == nil || !bytes.Equal(labels, b.lastLabels) {
		b.lastLabels = append(b.lastLabels[:0], labels...)
		b.lastProto = protoLabels(b.lastProto[:0], labels)
	}
	return b.lastProto
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
	s.addText(suffix, labels, extra, value)
	b := s.b
	b.extra = protoLabels(b.extra[:0], extra)
	b.body = appendValue(b.body[:0], s.valueField, value)
	s.fb.proto.pending = appendMetric(s.fb.proto.pending, b.protoLabels(labels), b.extra, b.body)
	s.fb.proto.flushIfFull()
}

// addText appends one line of the text format.
func (s FamilyWriter) addText(suffix string, labels, extra []byte, value float64) {
	b := s.fb.text.pending
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
	s.fb.text.pending = append(b, '\n')
	s.fb.text.flushIfFull()
}

// Histogram appends a classic histogram: cumulative counts per upper
// bound (the +Inf bucket is count), the sum and the count.
func (s FamilyWriter) Histogram(labels []byte, bounds []float64, cumulative []uint64, sum float64, count uint64) {
	s.NativeHistogram(labels, bounds, cumulative, sum, count, nil, true)
}

// Native is a native histogram's buckets: ZeroCount observations of at
// most ZeroThreshold, and Counts[j] in positive bucket Offset+j of the
// schema (not cumulative).
type Native struct {
	Schema        int32
	ZeroThreshold float64
	ZeroCount     uint64
	Offset        int
	Counts        []uint64
}

// Count is the number of observations in the buckets.
func (n *Native) Count() uint64 {
	c := n.ZeroCount
	for _, v := range n.Counts {
		c += v
	}
	return c
}

// NativeHistogram appends a histogram that the text format carries as its
// classic buckets and protobuf as the native one (native, if not nil),
// with the classic buckets beside it only if classic is set. The
// protobuf count is the native buckets' (Prometheus checks that they
// agree), and the classic counts are capped by it.
func (s FamilyWriter) NativeHistogram(labels []byte, bounds []float64, cumulative []uint64, sum float64, count uint64, native *Native, classic bool) {
	if s.fb == nil {
		return
	}
	var le [32]byte
	for i, bound := range bounds {
		extra := append(AppendFloat(append(le[:0], `le="`...), bound), '"')
		s.addText("_bucket", labels, extra, float64(cumulative[i]))
	}
	s.addText("_bucket", labels, []byte(`le="+Inf"`), float64(count))
	s.addText("_sum", labels, nil, sum)
	s.addText("_count", labels, nil, float64(count))

	b := s.b
	if native != nil {
		count = native.Count()
	}
	b.hist = appendCountAndSum(b.hist[:0], count, sum)
	if native == nil || classic {
		b.hist = appendClassicBuckets(b.hist, bounds, cumulative, count)
	}
	if native != nil {
		b.hist = appendNative(b.hist, native)
	}
	b.body = appendField(b.body[:0], metricHistogram, b.hist)
	s.fb.proto.pending = appendMetric(s.fb.proto.pending, b.protoLabels(labels), nil, b.body)
	s.fb.proto.flushIfFull()
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
// in each format as one gzip member, and their size uncompressed.
type Fragment struct {
	families []*Family
	gzipped  [][]byte
	plainLen []int
	// The text series again as s2 blocks, for scrapes without gzip.
	textBlocks [][]byte
	// The same series as MetricFamily.metric fields.
	protoGzipped  [][]byte
	protoPlainLen []int
}

// Fragment finishes the builder.
func (b *Builder) Fragment() *Fragment {
	fr := &Fragment{}
	for _, f := range b.order {
		fb := b.bufs[f]
		text, proto := fb.text.finish(), fb.proto.finish()
		if fb.text.plainLen == 0 {
			continue // a family with no series has no header either
		}
		fr.families = append(fr.families, f)
		fr.gzipped = append(fr.gzipped, text)
		fr.plainLen = append(fr.plainLen, fb.text.plainLen)
		fr.textBlocks = append(fr.textBlocks, fb.text.blocks)
		fr.protoGzipped = append(fr.protoGzipped, proto)
		fr.protoPlainLen = append(fr.protoPlainLen, fb.proto.plainLen)
	}
	b.bufs = nil
	return fr
}

// StoredSize is the memory the fragment's members take, in bytes: both
// formats, compressed, and the text's s2 blocks.
func (fr *Fragment) StoredSize() int {
	n := 0
	for i := range fr.gzipped {
		n += len(fr.gzipped[i]) + len(fr.protoGzipped[i]) + len(fr.textBlocks[i])
	}
	return n
}

// Size is the fragment's size as text, in bytes.
func (fr *Fragment) Size() int {
	n := 0
	for _, l := range fr.plainLen {
		n += l
	}
	return n
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
