package collector

import "github.com/warrenhq/warren/snapshot"

// applyCardinalityGuard keeps, of queues sorted by (vhost, name), the
// first max_queues_per_vhost of each vhost, then the first max_queues of
// those, and says so in a log line whenever the numbers dropped change.
func (p *Poller) applyCardinalityGuard(all []snapshot.Queue) []snapshot.Queue {
	perVhost, limit := p.target.MaxQueuesPerVhost, p.target.MaxQueues
	kept := all
	var cappedVhosts []string
	if perVhost > 0 {
		kept = make([]snapshot.Queue, 0, len(all))
		for i := 0; i < len(all); {
			j := i
			for j < len(all) && all[j].Vhost == all[i].Vhost {
				j++
			}
			if j-i > perVhost && len(cappedVhosts) < 10 { // a log line, not a list of thousands
				cappedVhosts = append(cappedVhosts, all[i].Vhost)
			}
			kept = append(kept, all[i:min(j, i+perVhost)]...)
			i = j
		}
	}
	if limit > 0 && len(kept) > limit {
		kept = kept[:limit:limit]
	}
	dropped := len(all) - len(kept)
	if dropped != p.droppedLogged {
		if dropped > 0 {
			p.logger.Warn("more queues than max_queues or max_queues_per_vhost: per-queue series exported for the first queues by vhost and name only",
				"max_queues", limit, "max_queues_per_vhost", perVhost, "dropped", dropped, "capped_vhosts_first_10", cappedVhosts)
		} else {
			p.logger.Info("queue count back under max_queues and max_queues_per_vhost: all queues exported")
		}
		p.droppedLogged = dropped
	}
	return kept
}
