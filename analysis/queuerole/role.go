// Package queuerole gives every queue of a target one role — work, delay,
// dead_letter or stream — so that each is judged by the rules that fit
// what it is for: a delay queue has no consumer by design, a dead-letter
// queue or parking lot is the end of the line and inspected by people, a
// stream keeps its log after consumers read it. docs/queue-roles.md
// states the rules; in short, in order, the first that applies wins:
//
//  1. a queue_roles rule of the configuration;
//  2. the queue type: a stream is a stream;
//  3. the dead-letter graph (analysis/deadletter's routes): of two queues
//     that dead-letter into each other, the one with a message TTL and
//     whose partner has none is a delay queue; a queue that receives dead
//     letters from a queue other than a delay queue, and sends none back
//     to it, is a dead-letter queue;
//  4. the name (queue_role_names, with defaults such as .retry and .dlq);
//  5. otherwise, work.
//
// A work queue that receives dead letters from its own delay queue stays
// a work queue: those are its retries.
//
// Import rule: it imports snapshot, internal/config and
// analysis/deadletter only.
package queuerole

import "github.com/warrenhq/warren/internal/config"

// Role is what a queue is for. The zero value is Work.
type Role uint8

// The roles.
const (
	Work       Role = iota // consumed by applications
	Delay                  // a TTL'd retry or delay queue, consumed by nobody by design
	DeadLetter             // a dead-letter queue or parking lot: the end of the line
	Stream                 // a stream queue
)

var roleNames = [...]string{Work: config.RoleWork, Delay: config.RoleDelay, DeadLetter: config.RoleDeadLetter, Stream: config.RoleStream}

// All lists the roles in the order they are documented.
var All = []Role{Work, Delay, DeadLetter, Stream}

// String is the role label's value.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return config.RoleWork
}

// parse returns the role a configuration names; ok is false for any
// other string (the configuration's validation rejects those).
func parse(name string) (Role, bool) {
	for r, n := range roleNames {
		if n == name {
			return Role(r), true
		}
	}
	return Work, false
}

// Source says which rule gave a queue its role.
type Source uint8

// The sources, in the order the rules apply.
const (
	Default    Source = iota // no rule applied: work
	Configured               // a queue_roles rule
	QueueType                // the queue's type (stream)
	Topology                 // the dead-letter graph and TTLs
	Name                     // queue_role_names
)

var sourceNames = [...]string{Default: "default", Configured: "configured", QueueType: "queue_type", Topology: "topology", Name: "name"}

// String is how the status API spells the source.
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "default"
}

// Assigned is one queue's role and the rule that gave it.
type Assigned struct {
	Role   Role
	Source Source
	// RetryQueues are, for a work queue, its delay queues: the delay
	// queues it dead-letters into and that dead-letter back into it.
	// What comes back from them is a retry of this queue.
	RetryQueues []string
}
