package pipeline

import (
	"github.com/warrenhq/warren/internal/exposition"
	"github.com/warrenhq/warren/snapshot"
)

// labelCache holds the encoded cluster, vhost and queue labels of every
// queue of one target, across polls: a cluster whose queues do not change
// encodes its label strings once, not once per poll. Entries of queues
// that were not asked for since the previous Sweep are dropped by Sweep.
// It is not safe for concurrent use.
type labelCache struct {
	cluster string
	entries map[snapshot.QueueKey]*labelEntry
	gen     uint32
}

type labelEntry struct {
	encoded []byte
	gen     uint32
}

// newLabelCache returns an empty cache for the target named cluster.
func newLabelCache(cluster string) *labelCache {
	return &labelCache{cluster: cluster, entries: map[snapshot.QueueKey]*labelEntry{}, gen: 1}
}

// Queue returns cluster="…",vhost="…",queue="…" for the queue. The
// bytes must not be modified.
func (c *labelCache) Queue(vhost, name string) []byte {
	k := snapshot.QueueKey{Vhost: vhost, Name: name}
	e := c.entries[k]
	if e == nil {
		b := exposition.AppendLabel(nil, "cluster", c.cluster)
		b = exposition.AppendLabel(b, "vhost", vhost)
		b = exposition.AppendLabel(b, "queue", name)
		e = &labelEntry{encoded: b[:len(b):len(b)]}
		c.entries[k] = e
	}
	e.gen = c.gen
	return e.encoded
}

// Sweep forgets the queues not asked for since the previous Sweep.
func (c *labelCache) Sweep() {
	for k, e := range c.entries {
		if e.gen != c.gen {
			delete(c.entries, k)
		}
	}
	c.gen++
}
