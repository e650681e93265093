package brokerhttp

import (
	"errors"
	"fmt"
	"io"
)

// ErrValueTooLarge is wrapped by the error a ValueLimiter returns once one
// value has taken more bytes than its bound.
var ErrValueTooLarge = errors.New("a single value is too large")

// ErrResponseTooLarge is wrapped by the error a Client's body returns once
// the response has taken more bytes than Endpoint.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("the response is too large")

// ValueLimiter bounds the bytes a streaming decoder may read for one value
// (one queue of a listing, one metric family), so that a value that never
// ends, such as an unterminated JSON string, costs memory up to the bound
// and no further: a decoder buffers at most what it has read, and past
// the bound there is nothing more to read.
//
// Call Reset before each value. The count is of bytes read through the
// limiter since then, and a decoder reads ahead: what it read for the
// next value while finishing one counts to the one it finished. Its read
// ahead is at most its buffer, which grows to about twice the largest
// value, so choose a bound several times the largest real value.
type ValueLimiter struct {
	limited
}

// NewValueLimiter returns a ValueLimiter of r whose Read fails with an
// error wrapping ErrValueTooLarge once more than max bytes have been read
// since the last Reset.
func NewValueLimiter(r io.Reader, max int64) *ValueLimiter {
	return &ValueLimiter{limited{r: r, max: max,
		err: fmt.Errorf("%w: more than %d bytes in one value", ErrValueTooLarge, max)}}
}

// Reset starts the count of the next value.
func (l *ValueLimiter) Reset() { l.n = 0 }

// limited reads r until more than max bytes have been read, then fails
// with err. It never asks r for more than one byte past max, so that
// what it reads stays within the bound however large the caller's buffer.
type limited struct {
	r   io.Reader
	max int64
	n   int64
	err error
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n > l.max {
		return 0, l.err
	}
	if room := l.max - l.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return n, l.err
	}
	return n, err
}

// responseLimit bounds a whole response body to max bytes; its error names
// the setting that raises the bound.
func responseLimit(r io.Reader, max int64) io.Reader {
	return &limited{r: r, max: max,
		err: fmt.Errorf("%w: more than max_response_size (%d bytes); raise it if the broker's response really is this large", ErrResponseTooLarge, max)}
}
