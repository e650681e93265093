package promplugin

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/warrenhq/warren/rabbitmq/brokerhttp"
)

// The plugin serves only the text format: every version from 3.10 to 4.3
// offers text/plain alone (rabbit_prometheus_handler's
// content_types_provided), and 3.10.8 answers the Accept header
// Prometheus sends, protobuf first, with text/plain, and protobuf alone
// with 406. expfmt's text decoder reads the whole response into a map of
// every family before returning the first, so warren splits the stream
// itself, at the lines that start a family, and hands expfmt's own text
// parser one chunk at a time: at most chunkSamples samples of one family
// with its # TYPE and # HELP lines, at most maxChunkBytes of text
// (brokerhttp's value limiter, reset at every chunk). Memory is one
// chunk's text and its parsed form, whatever the size of the response
// (bounded by max_response_size) or of a family.
const acceptHeader = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"

// Bounds of the decoder.
const (
	// maxLineBytes bounds one line: a sample line of the plugin holds at
	// most a vhost, a queue and an exchange name of 255 bytes each.
	maxLineBytes = 64 << 10
	// chunkSamples is how many samples of a gauge, counter or untyped
	// family one parse takes; a summary or histogram family (the plugin
	// adds its own telemetry_scrape_* summaries) is parsed whole.
	chunkSamples = 1024
	// maxChunkBytes bounds the text of one chunk: 1024 sample lines of
	// the longest names RabbitMQ allows take under 1 MiB.
	maxChunkBytes = 4 << 20
)

// errLineTooLong is returned for a line longer than maxLineBytes.
var errLineTooLong = fmt.Errorf("a line longer than %d bytes: not the Prometheus text format", maxLineBytes)

// decodeFamilies reads the text exposition format from r and hands every
// family to fn, in the order of the response, a large family in several
// parts (each a *dto.MetricFamily of the same name holding some of its
// samples). A family whose header has no sample is handed over with no
// Metric. fn must not keep the family.
func decodeFamilies(r io.Reader, fn func(*dto.MetricFamily) error) error {
	limiter := brokerhttp.NewValueLimiter(r, maxChunkBytes)
	br := bufio.NewReaderSize(limiter, maxLineBytes)
	c := chunker{emit: fn, reset: limiter.Reset}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return errLineTooLong
		}
		if len(line) > 0 {
			if lerr := c.line(line); lerr != nil {
				return lerr
			}
		}
		if err == io.EOF {
			return c.flush()
		}
		if err != nil {
			return err
		}
	}
}

// chunker collects the lines of one family, or of a chunk of one.
type chunker struct {
	emit func(*dto.MetricFamily) error
	// reset starts the count of the next chunk's bytes.
	reset func()
	// name and kind are the current family's; header holds its # TYPE
	// and # HELP lines, repeated before each chunk; emitted is set once
	// some chunk of it was handed over.
	name, kind string
	header     []byte
	emitted    bool
	body       bytes.Buffer
	samples    int
}

// line takes one line, newline included.
func (c *chunker) line(line []byte) error {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return nil
	}
	if trimmed[0] == '#' {
		return c.headerLine(trimmed)
	}
	if name := sampleName(trimmed); name != c.name && !c.ownsSample(name) {
		// A sample without a header: an untyped family of its own.
		if err := c.start(name); err != nil {
			return err
		}
	}
	c.body.Write(trimmed)
	c.body.WriteByte('\n')
	c.samples++
	if c.samples >= chunkSamples && c.chunkable() {
		return c.parse()
	}
	return nil
}

// headerLine takes a line starting with #: a family's # TYPE or # HELP,
// or a comment.
func (c *chunker) headerLine(line []byte) error {
	fields := bytes.Fields(line)
	if len(fields) < 3 || (string(fields[1]) != "TYPE" && string(fields[1]) != "HELP") {
		return nil // a comment
	}
	if name := string(fields[2]); name != c.name {
		if err := c.start(name); err != nil {
			return err
		}
	}
	if string(fields[1]) == "TYPE" && len(fields) > 3 {
		c.kind = string(fields[3])
	}
	c.header = append(c.header, line...)
	c.header = append(c.header, '\n')
	return nil
}

// start ends the current family and begins the one named name.
func (c *chunker) start(name string) error {
	if err := c.flush(); err != nil {
		return err
	}
	c.name, c.kind, c.header, c.emitted = name, "untyped", c.header[:0], false
	c.reset()
	return nil
}

// sampleName is the metric name a sample line starts with.
func sampleName(line []byte) string {
	end := bytes.IndexAny(line, "{ \t")
	if end < 0 {
		end = len(line)
	}
	return string(line[:end])
}

// ownsSample reports whether a sample named name belongs to the current
// summary or histogram family.
func (c *chunker) ownsSample(name string) bool {
	if c.chunkable() {
		return false
	}
	for _, suffix := range []string{"_sum", "_count", "_bucket"} {
		if name == c.name+suffix {
			return true
		}
	}
	return false
}

func (c *chunker) chunkable() bool {
	return c.kind == "gauge" || c.kind == "counter" || c.kind == "untyped"
}

// flush hands over what is left of the current family: its last samples,
// or, when it had none at all, the family without samples.
func (c *chunker) flush() error {
	if err := c.parse(); err != nil {
		return err
	}
	if !c.emitted && c.name != "" {
		return c.emit(&dto.MetricFamily{Name: &c.name, Type: metricType(c.kind)})
	}
	return nil
}

// parse hands the chunk collected so far to expfmt's text parser, and
// its families to emit.
func (c *chunker) parse() error {
	if c.samples == 0 {
		return nil
	}
	text := io.MultiReader(bytes.NewReader(c.header), &c.body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(text)
	c.body.Reset()
	c.samples = 0
	c.reset()
	if err != nil {
		return err
	}
	for _, name := range sortedNames(families) {
		if err := c.emit(families[name]); err != nil {
			return err
		}
		c.emitted = true
	}
	return nil
}

func metricType(kind string) *dto.MetricType {
	t, ok := dto.MetricType_value[strings.ToUpper(kind)]
	if !ok {
		t = int32(dto.MetricType_UNTYPED)
	}
	return dto.MetricType(t).Enum()
}

func sortedNames(families map[string]*dto.MetricFamily) []string {
	return slices.Sorted(maps.Keys(families))
}
