package dlq

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	amqp "github.com/rabbitmq/amqp091-go"
)

// journal records, across runs (--journal FILE), the dead letters whose
// copies the broker confirmed: written and synced before their originals
// are acked. A broker that dies may not have committed the latest acks,
// and their originals come back to the DLQ; a later run with the same
// journal acks each of them without copying it again. Only the copies
// that were awaiting their confirm at the failure can then exist twice.
//
// A message is known by its message id together with its first death
// (queue, reason, time) and its body; a message without an id is not
// journaled, since two such messages with the same body and death may be
// two events, and skipping one would lose it.
type journal struct {
	f     *os.File
	moved map[string]bool
	lines []byte // of the copies confirmed since the last sync
}

// journalLine is one line of the journal file.
type journalLine struct {
	Key       string `json:"key"`
	MessageID string `json:"message_id"`
	ReplayID  string `json:"replay_id"`
}

// maxJournalLine bounds a line read back: a key and two ids.
const maxJournalLine = 64 << 10

// openJournal reads the journal at path, if there is one, and opens it
// for appending.
func openJournal(path string) (*journal, error) {
	j := &journal{moved: map[string]bool{}}
	if err := j.load(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j.f = f
	return j, nil
}

func (j *journal) load(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxJournalLine)
	for n := 1; sc.Scan(); n++ {
		var l journalLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Key == "" {
			// A line cut short by a crash is the last one; any other is
			// not this file's.
			if !sc.Scan() {
				break
			}
			return fmt.Errorf("journal %s, line %d: not a warren dlq journal line", path, n)
		}
		j.moved[l.Key] = true
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("journal %s: %w", path, err)
	}
	return nil
}

// journalKey is msg's key; ok is false for a message without an id.
func journalKey(msg amqp.Delivery) (key string, ok bool) {
	if msg.MessageId == "" {
		return "", false
	}
	first, _ := First(msg.Headers)
	h := sha256.New()
	for _, part := range []string{msg.MessageId, first.Queue, first.Reason, strconv.FormatInt(first.Time.Unix(), 10)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(msg.Body)
	return hex.EncodeToString(h.Sum(nil)[:16]), true
}

// movedBefore reports whether an earlier run moved msg.
func (j *journal) movedBefore(msg amqp.Delivery) bool {
	if j == nil {
		return false
	}
	key, ok := journalKey(msg)
	return ok && j.moved[key]
}

// record notes a confirmed copy; it is on disk after the next sync.
// It reports whether msg can be journaled.
func (j *journal) record(msg amqp.Delivery, replayID string) bool {
	key, ok := journalKey(msg)
	if j == nil || !ok {
		return false
	}
	line, _ := json.Marshal(journalLine{Key: key, MessageID: msg.MessageId, ReplayID: replayID})
	j.lines = append(append(j.lines, line...), '\n')
	j.moved[key] = true
	return true
}

// sync writes the recorded lines and waits for the disk.
func (j *journal) sync() error {
	if j == nil || len(j.lines) == 0 {
		return nil
	}
	if _, err := j.f.Write(j.lines); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.lines = j.lines[:0]
	return nil
}

func (j *journal) close() {
	if j != nil {
		j.f.Close()
	}
}
