package management

import (
	"reflect"
	"testing"
)

func TestEffectivePolicyIsTheNamedPolicyMergedWithTheMatchingOperatorPolicy(t *testing.T) {
	p := newPolicies(
		[]apiPolicy{
			{Vhost: "/", Name: "dlx", Pattern: ".*", ApplyTo: "queues", Definition: jsonObject{"dead-letter-exchange": "dlx", "message-ttl": 60000.0, "max-length": 10.0}},
			{Vhost: "other", Name: "dlx", Pattern: ".*", ApplyTo: "queues", Definition: jsonObject{"dead-letter-exchange": "elsewhere"}},
		},
		[]apiPolicy{
			{Vhost: "/", Name: "low", Pattern: "^orders", ApplyTo: "queues", Priority: 0, Definition: jsonObject{"max-length": 1000.0}},
			{Vhost: "/", Name: "cap", Pattern: "^orders", ApplyTo: "quorum_queues", Priority: 5, Definition: jsonObject{"message-ttl": 30000.0, "max-length": 100.0}},
			{Vhost: "/", Name: "pcre", Pattern: "^(?!tmp)", ApplyTo: "all", Priority: 9, Definition: jsonObject{"max-length": 1.0}},
		})
	cases := []struct {
		name string
		q    apiQueue
		want jsonObject
	}{
		{"policy and the highest operator policy: the lower limit wins", apiQueue{Vhost: "/", Name: "orders", Type: "quorum", Policy: "dlx"},
			jsonObject{"dead-letter-exchange": "dlx", "message-ttl": 30000.0, "max-length": 10.0}},
		{"the quorum-only operator policy skips a classic queue", apiQueue{Vhost: "/", Name: "orders", Type: "classic", Policy: "dlx"},
			jsonObject{"dead-letter-exchange": "dlx", "message-ttl": 60000.0, "max-length": 10.0}},
		{"an operator policy alone", apiQueue{Vhost: "/", Name: "orders.eu", Type: "classic"}, jsonObject{"max-length": 1000.0}},
		{"the policy of the queue's own vhost", apiQueue{Vhost: "other", Name: "orders", Type: "classic", Policy: "dlx"}, jsonObject{"dead-letter-exchange": "elsewhere"}},
		{"neither", apiQueue{Vhost: "/", Name: "payments", Type: "classic"}, nil},
	}
	for _, c := range cases {
		if got := p.effective(&c.q); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: effective definition %v, want %v", c.name, got, c.want)
		}
	}
}
