package management

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/warrenhq/warren/snapshot"
)

// The columns of the unroutable counters, per vhost and per channel. On
// 3.10 both listings carry message_stats.drop_unroutable (published
// without mandatory, routed nowhere) and return_unroutable (with
// mandatory, returned); a channel that published nothing has
// "message_stats": [].
const (
	vhostUnroutableColumns   = "name,message_stats.drop_unroutable,message_stats.return_unroutable"
	channelUnroutableColumns = "name,vhost,user,connection_details.name,message_stats.drop_unroutable,message_stats.return_unroutable"
	connectionNameColumns    = "name,user_provided_name"
)

// The elements of the vhost, channel and connection listings, in the
// columns asked for.
type (
	apiVhostUnroutable struct {
		Name         string     `json:"name"`
		MessageStats jsonObject `json:"message_stats"`
	}
	apiChannelUnroutable struct {
		Name              string `json:"name"`
		Vhost             string `json:"vhost"`
		User              string `json:"user"`
		ConnectionDetails struct {
			Name string `json:"name"`
		} `json:"connection_details"`
		MessageStats jsonObject `json:"message_stats"`
	}
	apiConnectionName struct {
		Name             string `json:"name"`
		UserProvidedName string `json:"user_provided_name"`
	}
)

// unroutable tracks, across polls, the vhost counters last seen and the
// publishers last attributed, so that the channel listing (one entry per
// open channel: the expensive one) is read only when some vhost's
// counters moved. It is owned by the source's one reader.
type unroutable struct {
	last       map[string]snapshot.VhostUnroutable
	publishers []snapshot.UnroutablePublisher
}

// read returns the watched vhosts' counters and the publishers of
// unroutable messages.
func (u *unroutable) read(ctx context.Context, c *client, watch func(vhost string) bool) ([]snapshot.VhostUnroutable, []snapshot.UnroutablePublisher, error) {
	var counters []snapshot.VhostUnroutable
	now := make(map[string]snapshot.VhostUnroutable)
	moved := false
	if _, err := list(ctx, c, "vhosts", url.Values{"columns": {vhostUnroutableColumns}}, "vhosts", maxValueBytes, plain, func(v *apiVhostUnroutable) {
		if !watch(v.Name) {
			return
		}
		vu := snapshot.VhostUnroutable{Vhost: intern(v.Name),
			Dropped: counterSetting(v.MessageStats, "drop_unroutable"), Returned: counterSetting(v.MessageStats, "return_unroutable")}
		counters = append(counters, vu)
		now[vu.Vhost] = vu
		if before, seen := u.last[vu.Vhost]; vu.Dropped+vu.Returned > 0 && (!seen || before != vu) {
			moved = true
		}
	}); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(counters, func(a, b snapshot.VhostUnroutable) int { return strings.Compare(a.Vhost, b.Vhost) })
	if moved {
		ps, err := u.readPublishers(ctx, c, watch)
		if err != nil {
			return nil, nil, err
		}
		u.publishers = ps
	}
	u.last = now
	return counters, u.publishers, nil
}

// readPublishers lists the open channels with unroutable counters, and
// names each by its connection's client-provided name where it has one.
func (u *unroutable) readPublishers(ctx context.Context, c *client, watch func(string) bool) ([]snapshot.UnroutablePublisher, error) {
	var out []snapshot.UnroutablePublisher
	if _, err := list(ctx, c, "channels", url.Values{"columns": {channelUnroutableColumns}}, "channels", maxValueBytes, plain, func(ch *apiChannelUnroutable) {
		p := snapshot.UnroutablePublisher{Vhost: ch.Vhost, Channel: ch.Name, User: ch.User, Connection: ch.ConnectionDetails.Name,
			Dropped: counterSetting(ch.MessageStats, "drop_unroutable"), Returned: counterSetting(ch.MessageStats, "return_unroutable")}
		if watch(p.Vhost) && p.Dropped+p.Returned > 0 {
			out = append(out, p)
		}
	}); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	named := make(map[string]string)
	if _, err := list(ctx, c, "connections", url.Values{"columns": {connectionNameColumns}}, "connections", maxValueBytes, plain, func(cn *apiConnectionName) {
		if cn.UserProvidedName != "" {
			named[cn.Name] = cn.UserProvidedName
		}
	}); err != nil {
		return nil, err
	}
	for i := range out {
		if n, ok := named[out[i].Connection]; ok {
			out[i].Connection = n
		}
	}
	slices.SortFunc(out, func(a, b snapshot.UnroutablePublisher) int {
		return cmp.Or(strings.Compare(a.Vhost, b.Vhost), cmp.Compare(b.Dropped+b.Returned, a.Dropped+a.Returned), strings.Compare(a.Channel, b.Channel))
	})
	return out, nil
}

// counterSetting reads a cumulative counter; absent is zero.
func counterSetting(m map[string]any, name string) uint64 {
	n, _ := intSetting(m, name)
	return uint64(n)
}
