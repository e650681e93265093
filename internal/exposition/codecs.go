package exposition

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
)

// The two stored encodings of the pre-encoded series, each written and
// read here: gzip members, which a gzip scrape writes as they are and a
// scrape without gzip decompresses; and the text's s2 blocks, which a
// text scrape without gzip decodes (see stream).

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// compress returns b as one complete gzip member. Concatenated members
// are a valid gzip stream (RFC 1952 §2.2), which Go's and Prometheus's
// readers decode as one body.
func compress(b []byte) []byte { return appendCompressed(make([]byte, 0, len(b)/8+64), b) }

// appendCompressed appends b to out as one complete gzip member.
func appendCompressed(out, b []byte) []byte {
	buf := bytes.NewBuffer(out)
	w := gzipWriters.Get().(*gzip.Writer)
	w.Reset(buf)
	w.Write(b)
	w.Close()
	gzipWriters.Put(w)
	return buf.Bytes()
}

// memberReader decompresses a part's gzip members when first read, with
// a pooled reader.
type memberReader struct {
	member []byte
	zr     *gzip.Reader
	done   bool
}

var gzipReaders sync.Pool

func (m *memberReader) Read(p []byte) (int, error) {
	if m.done {
		return 0, io.EOF
	}
	if m.zr == nil {
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(m.member))
		} else {
			err = zr.Reset(bytes.NewReader(m.member))
		}
		if err != nil {
			return 0, decodeError{err}
		}
		m.zr = zr
	}
	n, err := m.zr.Read(p)
	if err == io.EOF {
		m.done = true
		gzipReaders.Put(m.zr)
		m.zr = nil
	} else if err != nil {
		err = decodeError{err}
	}
	return n, err
}

// The s2 blocks are each after their encoded length as a uvarint.

// s2Scratch is a pooled buffer to encode one block into before it is
// copied, at its size, into a stream's blocks: s2.Encode wants room for
// the worst case, a sixth more than the input.
var s2Scratch = sync.Pool{New: func() any { return new([]byte) }}

// appendBlock appends b to out as one s2 block, after its length as a
// uvarint.
func appendBlock(out, b []byte) []byte {
	scratch := s2Scratch.Get().(*[]byte)
	if need := s2.MaxEncodedLen(len(b)); cap(*scratch) < need {
		*scratch = make([]byte, need)
	}
	block := s2.Encode((*scratch)[:cap(*scratch)], b)
	out = binary.AppendUvarint(out, uint64(len(block)))
	out = append(out, block...)
	s2Scratch.Put(scratch)
	return out
}

// blockBuffers are the buffers s2 blocks are decoded into; a block holds
// a little over flushAt bytes.
var blockBuffers = sync.Pool{New: func() any { b := make([]byte, flushAt+8192); return &b }}

// writeBlocks decodes the s2 blocks of appendBlock and writes them.
func writeBlocks(w io.Writer, blocks []byte) error {
	buf := blockBuffers.Get().(*[]byte)
	defer blockBuffers.Put(buf)
	for len(blocks) > 0 {
		n, k := binary.Uvarint(blocks)
		if k <= 0 || uint64(len(blocks)-k) < n {
			return decodeError{errors.New("s2 block: bad length")}
		}
		block := blocks[k : k+int(n)]
		blocks = blocks[k+int(n):]
		plain, err := s2.Decode((*buf)[:cap(*buf)], block)
		if err != nil {
			return decodeError{err}
		}
		if cap(plain) > cap(*buf) {
			*buf = plain // s2.Decode allocated: keep the larger buffer
		}
		if _, err := w.Write(plain); err != nil {
			return err
		}
	}
	return nil
}
