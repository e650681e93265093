package amqpclient

import (
	"math/rand/v2"
	"time"
)

// backoff computes how long a role waits after failed dials before it dials
// again. The nominal delay doubles from min with every consecutive failure
// and is capped at max. The actual delay uses "equal jitter": half of the
// nominal delay is fixed and the other half uniformly random. The fixed half
// keeps a broker that is down from being hammered (full jitter can pick
// zero); the random half spreads the reconnects of the many probe
// connections that lost the same broker at the same moment.
type backoff struct {
	minDelay, maxDelay time.Duration
	// randN returns a uniformly random duration in [0, n); n > 0.
	randN func(n time.Duration) time.Duration
}

func newBackoff(minDelay, maxDelay time.Duration) backoff {
	return backoff{minDelay: minDelay, maxDelay: maxDelay, randN: rand.N[time.Duration]}
}

// delay returns the wait after the given number of consecutive failed
// dials (failures >= 1).
func (b backoff) delay(failures int) time.Duration {
	nominal := b.minDelay
	for i := 1; i < failures && nominal < b.maxDelay; i++ {
		if nominal > b.maxDelay/2 {
			nominal = b.maxDelay // doubling would pass the cap (or overflow)
			break
		}
		nominal *= 2
	}
	nominal = min(nominal, b.maxDelay)
	half := nominal / 2
	if half <= 0 {
		return nominal
	}
	return nominal - half + b.randN(half+1)
}
