package statusapi

import "github.com/warrenhq/warren/pipeline"

// UnroutableStatus is one vhost's unroutable publishes and the open
// channels that published them, so the team losing messages can be told.
type UnroutableStatus struct {
	Vhost          string `json:"vhost"`
	Dropped        uint64 `json:"dropped"`
	Returned       uint64 `json:"returned"`
	RecentDropped  uint64 `json:"recent_dropped"`
	RecentReturned uint64 `json:"recent_returned"`
	// Publishers are the open channels with unroutable publishes, as read
	// the last time the vhost's counters moved; channels closed since are
	// not listed (the broker forgets their counters).
	Publishers []UnroutablePublisher `json:"publishers,omitempty"`
}

// UnroutablePublisher is one channel's unroutable publishes.
type UnroutablePublisher struct {
	Connection string `json:"connection"`
	Channel    string `json:"channel"`
	User       string `json:"user"`
	Dropped    uint64 `json:"dropped"`
	Returned   uint64 `json:"returned"`
}

// unroutable lists the vhosts of st with unroutable publishes.
func unroutable(st *pipeline.TargetState) []UnroutableStatus {
	var out []UnroutableStatus
	for _, v := range st.Unroutable {
		if v.Dropped+v.Returned == 0 {
			continue
		}
		u := UnroutableStatus{Vhost: v.Vhost, Dropped: v.Dropped, Returned: v.Returned,
			RecentDropped: uint64(v.RecentDropped), RecentReturned: uint64(v.RecentReturned)}
		for _, p := range st.Snapshot.UnroutablePublishers {
			if p.Vhost == v.Vhost {
				u.Publishers = append(u.Publishers, UnroutablePublisher{Connection: p.Connection, Channel: p.Channel, User: p.User, Dropped: p.Dropped, Returned: p.Returned})
			}
		}
		out = append(out, u)
	}
	return out
}
