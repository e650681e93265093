package exposition

import (
	"bytes"
	"math"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
)

// The protobuf delimited format is a sequence of io.prometheus.client.
// MetricFamily messages, each after its length as a varint. A message's
// encoding is the concatenation of its fields' encodings, and a repeated
// field may be spread over the message, so a family is its header fields
// (name, help, type) followed by every producer's metrics (field 4, one
// each), which the producers encode once per poll. Field numbers are
// those of client_model's metrics.proto.
const (
	familyName   = 1
	familyHelp   = 2
	familyType   = 3
	familyMetric = 4

	metricLabel     = 1
	metricGauge     = 2
	metricCounter   = 3
	metricHistogram = 7

	labelName  = 1
	labelValue = 2

	valueField = 1 // Gauge.value, Counter.value

	histogramCount         = 1
	histogramSum           = 2
	histogramBucket        = 3
	histogramSchema        = 5
	histogramZeroThreshold = 6
	histogramZeroCount     = 7
	histogramPositiveSpan  = 12
	histogramPositiveDelta = 13

	bucketCumulativeCount = 1
	bucketUpperBound      = 2

	spanOffset = 1
	spanLength = 2
)

// protoHeader encodes a family's name, help and type fields.
func protoHeader(name, help string, typ dto.MetricType) []byte {
	var b []byte
	b = protowire.AppendTag(b, familyName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, familyHelp, protowire.BytesType)
	b = protowire.AppendString(b, help)
	b = protowire.AppendTag(b, familyType, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(typ))
}

// appendDelimited appends the varint length prefix of a message of n
// bytes.
func appendDelimited(b []byte, n int) []byte { return protowire.AppendVarint(b, uint64(n)) }

// protoLabels appends the LabelPair fields of an encoded label set
// (AppendLabel's text form, which producers build once per queue) to b.
func protoLabels(b, text []byte) []byte {
	for len(text) > 0 {
		eq := bytes.IndexByte(text, '=')
		name := text[:eq]
		text = text[eq+2:] // past ="
		end, escaped := 0, false
		for text[end] != '"' {
			if text[end] == '\\' {
				escaped = true
				end++
			}
			end++
		}
		value := text[:end]
		text = text[end+1:]
		if len(text) > 0 && text[0] == ',' {
			text = text[1:]
		}
		if escaped {
			value = unescapeLabelValue(value)
		}
		b = appendLabelPair(b, name, value)
	}
	return b
}

func appendLabelPair(b, name, value []byte) []byte {
	n := protowire.SizeTag(labelName) + protowire.SizeBytes(len(name)) + protowire.SizeTag(labelValue) + protowire.SizeBytes(len(value))
	b = protowire.AppendTag(b, metricLabel, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = protowire.AppendTag(b, labelName, protowire.BytesType)
	b = protowire.AppendBytes(b, name)
	b = protowire.AppendTag(b, labelValue, protowire.BytesType)
	return protowire.AppendBytes(b, value)
}

// unescapeLabelValue undoes AppendLabel's escaping.
func unescapeLabelValue(v []byte) []byte {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
			if v[i] == 'n' {
				out = append(out, '\n')
				continue
			}
		}
		out = append(out, v[i])
	}
	return out
}

// valueSize is the size of a Gauge or Counter message: its one double.
const valueSize = 1 + 8

// appendValue appends a Gauge or Counter field (metric field typ).
func appendValue(b []byte, typ protowire.Number, v float64) []byte {
	b = protowire.AppendTag(b, typ, protowire.BytesType)
	b = protowire.AppendVarint(b, valueSize)
	b = protowire.AppendTag(b, valueField, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

// appendMetric appends one Metric as a MetricFamily.metric field: its
// label pairs and body (a value or histogram field, already encoded).
func appendMetric(b, labels, extra, body []byte) []byte {
	b = protowire.AppendTag(b, familyMetric, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(labels)+len(extra)+len(body)))
	b = append(b, labels...)
	b = append(b, extra...)
	return append(b, body...)
}

// appendClassicBuckets appends a Histogram's classic buckets
// (cumulative, at most count, +Inf implied by the count, as client_golang
// encodes them).
func appendClassicBuckets(b []byte, bounds []float64, cumulative []uint64, count uint64) []byte {
	for i, bound := range bounds {
		c := min(cumulative[i], count)
		n := protowire.SizeTag(bucketCumulativeCount) + protowire.SizeVarint(c) + protowire.SizeTag(bucketUpperBound) + 8
		b = protowire.AppendTag(b, histogramBucket, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(n))
		b = protowire.AppendTag(b, bucketCumulativeCount, protowire.VarintType)
		b = protowire.AppendVarint(b, c)
		b = protowire.AppendTag(b, bucketUpperBound, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(bound))
	}
	return b
}

func appendCountAndSum(b []byte, count uint64, sum float64) []byte {
	b = protowire.AppendTag(b, histogramCount, protowire.VarintType)
	b = protowire.AppendVarint(b, count)
	b = protowire.AppendTag(b, histogramSum, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(sum))
}

// appendField appends body as a length-delimited field.
func appendField(b []byte, field protowire.Number, body []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(body)))
	return append(b, body...)
}

// appendNative appends a Histogram's native fields: schema, zero bucket,
// and the positive buckets as spans of non-empty buckets and the deltas
// between consecutive bucket counts.
func appendNative(b []byte, n *Native) []byte {
	b = protowire.AppendTag(b, histogramSchema, protowire.VarintType)
	b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(n.Schema)))
	b = protowire.AppendTag(b, histogramZeroThreshold, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(n.ZeroThreshold))
	b = protowire.AppendTag(b, histogramZeroCount, protowire.VarintType)
	b = protowire.AppendVarint(b, n.ZeroCount)
	// Spans: runs of non-empty buckets, each after the gap since the
	// previous run (the first after bucket 0).
	next := 0 // the bucket after the previous span
	var deltas []byte
	prev := uint64(0)
	for j := 0; j < len(n.Counts); {
		if n.Counts[j] == 0 {
			j++
			continue
		}
		start := j
		for j < len(n.Counts) && n.Counts[j] != 0 {
			deltas = protowire.AppendVarint(deltas, protowire.EncodeZigZag(int64(n.Counts[j])-int64(prev)))
			prev = n.Counts[j]
			j++
		}
		offset := n.Offset + start - next
		span := protowire.AppendTag(nil, spanOffset, protowire.VarintType)
		span = protowire.AppendVarint(span, protowire.EncodeZigZag(int64(offset)))
		span = protowire.AppendTag(span, spanLength, protowire.VarintType)
		span = protowire.AppendVarint(span, uint64(j-start))
		b = appendField(b, histogramPositiveSpan, span)
		next = n.Offset + j
	}
	if len(deltas) > 0 {
		b = appendField(b, histogramPositiveDelta, deltas)
	}
	return b
}
