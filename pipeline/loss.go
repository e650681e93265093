package pipeline

// observeLoss runs the silent-loss analysis on st's snapshot, after the
// history has observed it, and puts each queue's loss in its QueueState.
func (p *Pipeline) observeLoss(st *TargetState) {
	st.Unroutable = p.loss.ObserveUnroutable(st.Snapshot)
	for i, l := range p.loss.Observe(st.Snapshot, p.history) {
		st.Queues[i].Loss = l
	}
}
