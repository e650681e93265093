package exposition

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Producer is a producer of pre-encoded series: one target's pipeline.
type Producer interface {
	// Fragment returns the latest encoded series, or nil before the first.
	// It is called at every scrape and must be cheap (an atomic load); the
	// fragment returned must never change afterwards.
	Fragment() *Fragment
}

// Handler serves /metrics: the registry gathered at each scrape, then the
// sources' fragments. The two must not share a family name.
type Handler struct {
	gatherer prometheus.Gatherer
	sources  func() []Producer
	logger   *slog.Logger

	assembled atomic.Pointer[body]
	assemble  sync.Mutex
}

// NewHandler serves gatherer's families and the fragments of the sources
// in force: sources is called at every scrape (a configuration reload
// changes them) and must be cheap.
func NewHandler(gatherer prometheus.Gatherer, sources func() []Producer, logger *slog.Logger) *Handler {
	return &Handler{gatherer: gatherer, sources: sources, logger: logger}
}

// body is the sources' fragments in serving order: for each family, its
// header, then every source's series of it. It holds references to the
// fragments' members, not copies, and is rebuilt only when a source has a
// new fragment.
type body struct {
	fragments []*Fragment // what it was built from, by source
	text      view
	proto     view
	names     map[string]bool
}

// view is the body in one format.
type view struct {
	parts    []part
	plainLen int
	gzipLen  int
}

func (v *view) add(p part, plainLen int) {
	v.parts = append(v.parts, p)
	v.plainLen += plainLen
	v.gzipLen += len(p.gzipped)
}

// part is a family header (text and gzip member) or a source's series of
// a family (gzip member, and in the text format s2 blocks).
type part struct {
	text    []byte // nil for series
	gzipped []byte
	blocks  []byte // the series as s2 blocks, or nil
}

// current returns the body for the sources' latest fragments.
func (h *Handler) current() *body {
	sources := h.sources()
	latest := make([]*Fragment, len(sources))
	for i, s := range sources {
		latest[i] = s.Fragment()
	}
	if b := h.assembled.Load(); b != nil && slices.Equal(b.fragments, latest) {
		return b
	}
	h.assemble.Lock()
	defer h.assemble.Unlock()
	if b := h.assembled.Load(); b != nil && slices.Equal(b.fragments, latest) {
		return b
	}
	b := assemble(latest)
	h.assembled.Store(b)
	return b
}

// Fixed returns sources that never change, for NewHandler.
func Fixed(sources ...Producer) func() []Producer {
	return func() []Producer { return sources }
}

func assemble(fragments []*Fragment) *body {
	type series struct {
		fragment *Fragment
		i        int
	}
	byFamily := map[*Family][]series{}
	var families []*Family
	for _, fr := range fragments {
		if fr == nil {
			continue
		}
		for i, f := range fr.families {
			if _, seen := byFamily[f]; !seen {
				families = append(families, f)
			}
			byFamily[f] = append(byFamily[f], series{fr, i})
		}
	}
	slices.SortFunc(families, func(a, b *Family) int { return strings.Compare(a.Name, b.Name) })
	b := &body{fragments: fragments, names: make(map[string]bool, len(families))}
	for _, f := range families {
		b.names[f.Name] = true
		b.text.add(part{text: f.header, gzipped: f.compressedHeader()}, len(f.header))
		// A MetricFamily message: its length, its header fields, then
		// every source's metric fields.
		n := len(f.protoHead)
		for _, s := range byFamily[f] {
			n += s.fragment.protoPlainLen[s.i]
		}
		head := append(appendDelimited(nil, n), f.protoHead...)
		b.proto.add(part{text: head, gzipped: compress(head)}, len(head))
		for _, s := range byFamily[f] {
			b.text.add(part{gzipped: s.fragment.gzipped[s.i], blocks: s.fragment.textBlocks[s.i]}, s.fragment.plainLen[s.i])
			b.proto.add(part{gzipped: s.fragment.protoGzipped[s.i]}, s.fragment.protoPlainLen[s.i])
		}
	}
	return b
}

// offered are the formats served, in Prometheus's order of preference
// (expfmt.Negotiate's, without the protobuf text formats nobody
// scrapes): protobuf delimited, which carries native histograms, then
// text 0.0.4. OpenMetrics is not offered: Prometheus prefers it when
// offered, and warren's pre-encoded bytes are not in it, so every scrape
// would take a full render (docs/exposition.md measures it) for nothing
// warren uses (no exemplars, no created timestamps).
var offered = []expfmt.Format{
	expfmt.FmtProtoDelim,
	expfmt.FmtText,
}

// ServeHTTP answers a scrape: the registry's few families encoded now,
// then the fragments' members in the negotiated format, as they are (or
// decompressed, for a client that does not take gzip).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := expfmt.NegotiateAccept(r.Header, offered...)
	gz := acceptsGzip(r.Header.Get("Accept-Encoding"))
	families, err := h.gatherer.Gather()
	if err != nil {
		// As promhttp with ContinueOnError: serve what was gathered,
		// and say what failed.
		h.logger.Error("gathering metrics", "err", err)
	}
	b := h.current()
	for _, mf := range families {
		if b.names[mf.GetName()] {
			msg := fmt.Sprintf("metric family %s is both pre-encoded and in the registry", mf.GetName())
			h.logger.Error(msg)
			http.Error(w, msg, http.StatusInternalServerError)
			return
		}
	}
	v := &b.text
	if format.FormatType() == expfmt.TypeProtoDelim {
		v = &b.proto
	}
	var dynamic bytes.Buffer
	enc := expfmt.NewEncoder(&dynamic, format)
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			h.logger.Error("encoding metrics", "family", mf.GetName(), "err", err)
		}
	}
	header := w.Header()
	header.Set("Content-Type", string(format))
	header.Add("Vary", "Accept-Encoding")
	if gz {
		dyn := compress(dynamic.Bytes())
		header.Set("Content-Encoding", "gzip")
		header.Set("Content-Length", strconv.Itoa(len(dyn)+v.gzipLen))
		if _, err := w.Write(dyn); err != nil {
			return // the client went away
		}
		for _, p := range v.parts {
			if _, err := w.Write(p.gzipped); err != nil {
				return
			}
		}
		return
	}
	header.Set("Content-Length", strconv.Itoa(dynamic.Len()+v.plainLen))
	if _, err := w.Write(dynamic.Bytes()); err != nil {
		return
	}
	if err := v.writePlain(w); err != nil && !isClientGone(err) {
		h.logger.Error("decompressing the pre-encoded metrics", "err", err)
	}
}

// isClientGone tells a failed write from a failed decompression: only the
// latter is warren's problem.
func isClientGone(err error) bool {
	var decodeErr decodeError
	return !errors.As(err, &decodeErr)
}

// decodeError marks errors of decompressing stored parts.
type decodeError struct{ error }

func (e decodeError) Unwrap() error { return e.error }

// writePlain writes the view uncompressed: headers as they are, series
// from their s2 blocks where they have them, otherwise decompressed from
// their gzip members.
func (v *view) writePlain(w io.Writer) error {
	for _, p := range v.parts {
		var err error
		switch {
		case p.text != nil:
			_, err = w.Write(p.text)
		case p.blocks != nil:
			err = writeBlocks(w, p.blocks)
		default:
			_, err = io.Copy(w, &memberReader{member: p.gzipped})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, hasQ := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !hasQ {
			return true
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
		return err == nil && v > 0
	}
	return false
}
