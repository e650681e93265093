package conditions

import (
	"github.com/warrenhq/warren/alerting/catalog"
	"github.com/warrenhq/warren/internal/webpath"
	"github.com/warrenhq/warren/pipeline"
)

// lossCandidates adds the silent-loss conditions of one target: drops of
// unroutable messages per vhost, queues near their length limit, and
// drop-head queues losing messages at it.
func lossCandidates(st *pipeline.TargetState, c *collect) {
	unroutableAbove := c.rules[catalog.MessagesUnroutable].Threshold
	for _, v := range st.Unroutable {
		if v.HasRecent && v.RecentDropped > unroutableAbove {
			l, a := catalog.Unroutable(catalog.VhostRef{Cluster: st.Cluster, Vhost: v.Vhost})
			c.add(catalog.MessagesUnroutable, l, a, webpath.Overview(st.Cluster, v.Vhost))
		}
	}
	nearAbove := c.rules[catalog.QueueNearLengthLimit].Threshold
	droppingAbove := c.rules[catalog.QueueDroppingMessages].Threshold
	for i := range st.Snapshot.Queues {
		q, loss := &st.Snapshot.Queues[i], &st.Queues[i].Loss
		subject := catalog.QueueRef{Cluster: st.Cluster, Vhost: q.Vhost, Name: q.Name}
		path := webpath.Queue(st.Cluster, q.Vhost, q.Name)
		if loss.HasRatio && loss.Ratio > nearAbove {
			l, a := catalog.NearLengthLimit(subject, nearAbove, string(q.Limit.Overflow))
			c.add(catalog.QueueNearLengthLimit, l, a, path)
		}
		if loss.CountsDrops && loss.RecentDropped > droppingAbove {
			l, a := catalog.DroppingMessages(subject)
			c.add(catalog.QueueDroppingMessages, l, a, path)
		}
	}
}
