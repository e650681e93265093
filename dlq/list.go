package dlq

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/warrenhq/warren/analysis/queuerole"
	"github.com/warrenhq/warren/collector"
	"github.com/warrenhq/warren/internal/config"
	"github.com/warrenhq/warren/pipeline"
)

// Listed is one dead-letter queue (or parking lot) of a target.
type Listed struct {
	Vhost string `json:"vhost"`
	Queue string `json:"queue"`
	// RoleSource says which rule made it a dead-letter queue: topology
	// (some queue dead-letters into it), name (queue_role_names) or
	// configured (queue_roles).
	RoleSource string `json:"role_source"`
	Depth      int64  `json:"depth"`
	// OldestAge is the age of its oldest message, as the agent computes
	// it; AgeSource is head_timestamp, estimate, or "" when unknown.
	OldestAge time.Duration `json:"oldest_age_ns"`
	AgeSource string        `json:"age_source"`
	// Sources are the queues whose dead letters reach it.
	Sources []string `json:"sources"`
}

// ListTarget polls t once, as the agent would, and lists its dead-letter
// queues.
func ListTarget(ctx context.Context, t config.Target, logger *slog.Logger) ([]Listed, error) {
	p, err := pipeline.New(t, pipeline.Options{Metrics: collector.NewMetrics(), Logger: logger})
	if err != nil {
		return nil, err
	}
	p.Poll(ctx)
	st := p.State()
	if st.Snapshot == nil || !st.Fresh {
		if st.Health.LastError != "" {
			return nil, errors.New(st.Health.LastError)
		}
		return nil, errors.New("the target could not be polled")
	}
	return List(st), nil
}

// List is every queue of the state whose role is dead_letter, with the
// sources the dead-letter routes name, largest first.
func List(st *pipeline.TargetState) []Listed {
	sources := map[[2]string][]string{}
	for _, r := range st.Routes {
		k := [2]string{r.Vhost, r.DeadLetterQueue}
		sources[k] = append(sources[k], r.Queue)
	}
	var out []Listed
	for i := range st.Snapshot.Queues {
		q, qs := &st.Snapshot.Queues[i], st.Queues[i]
		if qs.Role.Role != queuerole.DeadLetter {
			continue
		}
		out = append(out, Listed{
			Vhost: q.Vhost, Queue: q.Name, RoleSource: qs.Role.Source.String(), Depth: q.Messages(),
			OldestAge: qs.Age.Age, AgeSource: qs.Age.Source.String(), Sources: sources[[2]string{q.Vhost, q.Name}],
		})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Depth > out[j].Depth })
	return out
}
