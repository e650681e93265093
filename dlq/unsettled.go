package dlq

// uncommittedBatches is how many batches of acks, the current one
// included, a failure counts as possibly undone (see MaxWindow).
const uncommittedBatches = 3

// recentAcks counts the acks of the latest uncommittedBatches batches,
// the current one last: acks the broker may not have committed when a
// failure strikes, whose originals may come back.
type recentAcks [uncommittedBatches]int

// nextBatch starts a batch, forgetting the oldest.
func (r *recentAcks) nextBatch() {
	copy(r[:], r[1:])
	r[len(r)-1] = 0
}

// add counts an ack of the current batch.
func (r *recentAcks) add() { r[len(r)-1]++ }

// total is every ack that may be undone.
func (r *recentAcks) total() int {
	n := 0
	for _, v := range r {
		n += v
	}
	return n
}
