package management

import (
	"context"
	"regexp"
	"slices"

	"github.com/warrenhq/warren/snapshot"
)

// With statistics off the queue listing carries no
// effective_policy_definition, only the name of the queue's policy
// (rabbit_mgmt_wm_queues:basic/1 adds it); and nothing names the
// operator policy. policies rebuilds the effective definition the way
// rabbit_policy:merge_operator_definitions/2 does: the queue's policy, by
// name, merged with the operator policy that matches the queue.
type policies struct {
	byName   map[snapshot.QueueKey]jsonObject // (vhost, name) → definition
	operator []operatorPolicy                 // highest priority first
}

// apiPolicy is one element of /api/policies or /api/operator-policies.
type apiPolicy struct {
	Vhost      string     `json:"vhost"`
	Name       string     `json:"name"`
	Pattern    string     `json:"pattern"`
	ApplyTo    string     `json:"apply-to"`
	Definition jsonObject `json:"definition"`
	Priority   int        `json:"priority"`
}

type operatorPolicy struct {
	apiPolicy
	pattern *regexp.Regexp
}

// policies reads the policies and operator policies, indexed, and as
// listed: the policies, then the operator policies.
func (c *client) policies(ctx context.Context) (*policies, []apiPolicy, error) {
	var ps, ops []apiPolicy
	if _, err := c.get(ctx, "policies", nil, &ps); err != nil {
		return nil, nil, err
	}
	if _, err := c.get(ctx, "operator-policies", nil, &ops); err != nil {
		return nil, nil, err
	}
	return newPolicies(ps, ops), append(slices.Clip(ps), ops...), nil
}

// newPolicies indexes the policies and operator policies the broker
// listed.
func newPolicies(ps, ops []apiPolicy) *policies {
	p := &policies{byName: make(map[snapshot.QueueKey]jsonObject, len(ps))}
	for _, pol := range ps {
		p.byName[snapshot.QueueKey{Vhost: pol.Vhost, Name: pol.Name}] = pol.Definition
	}
	for _, op := range ops {
		// The broker matches with Erlang's re (PCRE); a pattern Go's
		// regexp cannot compile (a lookaround, a backreference) is not
		// applied (docs/sources.md).
		if re, err := regexp.Compile(op.Pattern); err == nil {
			p.operator = append(p.operator, operatorPolicy{op, re})
		}
	}
	// Stable: of equal priorities the first listed wins, as the broker's
	// sort keeps the order it lists them in.
	slices.SortStableFunc(p.operator, func(a, b operatorPolicy) int { return b.Priority - a.Priority })
	return p
}

// effective is the effective policy definition of the queue a describes.
func (p *policies) effective(a *apiQueue) jsonObject {
	def := p.byName[snapshot.QueueKey{Vhost: a.Vhost, Name: a.Policy}]
	if a.Policy == "" {
		def = nil
	}
	for _, op := range p.operator {
		if op.Vhost == a.Vhost && appliesToQueue(op.ApplyTo, a.Type) && op.pattern.MatchString(a.Name) {
			return mergeOperatorDefinition(def, op.Definition)
		}
	}
	return def
}

// appliesToQueue reports whether a policy's apply-to covers a queue of
// the given type (all and queues cover every queue; classic_queues,
// quorum_queues and streams from 3.12 one type).
func appliesToQueue(applyTo, queueType string) bool {
	switch applyTo {
	case "all", "queues":
		return true
	case "classic_queues":
		return queueType == "classic" || queueType == ""
	case "quorum_queues":
		return queueType == "quorum"
	case "streams":
		return queueType == "stream"
	}
	return false
}

// mergeOperatorDefinition merges an operator policy's definition into a
// policy's as RabbitMQ does: where both set a key, the lower number wins
// (the operator keys are limits: message-ttl, max-length,
// max-length-bytes, expires, delivery-limit…), the operator's value
// otherwise.
func mergeOperatorDefinition(def, op jsonObject) jsonObject {
	merged := make(jsonObject, len(def)+len(op))
	for k, v := range def {
		merged[k] = v
	}
	for k, v := range op {
		if mine, ok := merged[k].(float64); ok {
			if theirs, ok := v.(float64); ok {
				merged[k] = min(mine, theirs)
				continue
			}
		}
		merged[k] = v
	}
	return merged
}
