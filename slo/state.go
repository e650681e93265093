package slo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

var (
	// ErrCorruptState: the state file is not a valid state file.
	ErrCorruptState = errors.New("corrupt state file")
	// ErrFutureVersion: the state file was written by a newer warren.
	ErrFutureVersion = errors.New("state file written by a newer version")
)

// StateFileError reports a state file Load refused. The file was moved
// aside to MovedTo (unless MoveErr says why not) and the engine kept its
// state (empty at start-up). errors.Is(err, ErrCorruptState) or
// errors.Is(err, ErrFutureVersion) tells which.
type StateFileError struct {
	Path    string
	MovedTo string
	MoveErr error
	Err     error
}

func (e *StateFileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "slo state %s: %v; ", e.Path, e.Err)
	if e.MoveErr != nil {
		fmt.Fprintf(&b, "could not move it aside (%v), the next save will replace it; ", e.MoveErr)
	} else {
		fmt.Fprintf(&b, "moved aside to %s; ", e.MovedTo)
	}
	b.WriteString("starting with empty SLO history")
	return b.String()
}

func (e *StateFileError) Unwrap() error { return e.Err }

// Save writes the history of every SLO to path atomically: a temporary file
// in the same directory, fsync, rename over path, fsync of the directory.
// A crash at any point leaves either the previous file or the new one, and
// at worst a temporary file that the next Load removes. Saves are
// serialized; Adds continue while the file is written.
func (e *Engine) Save(path string) error {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	savedAt := e.now().UTC()
	slos := e.SLOs()
	lines := make([][]byte, 0, len(slos))
	for _, s := range slos {
		s.mu.Lock()
		sv := s.snapshot()
		s.mu.Unlock()
		b, err := json.Marshal(sv)
		if err != nil {
			return fmt.Errorf("slo: encoding state of %q: %w", sv.Name, err)
		}
		lines = append(lines, b)
	}
	body := append(append([]byte("[\n"), bytes.Join(lines, []byte(",\n"))...), "\n]"...)
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		return fmt.Errorf("slo: encoding state: %w", err)
	}
	sum := sha256.Sum256(compact.Bytes())
	at, _ := json.Marshal(savedAt)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"version":%d,"saved_at":%s,"sha256":"%s","slos":`, StateVersion, at, hex.EncodeToString(sum[:]))
	buf.Write(body)
	buf.WriteString("}\n")
	return writeFileAtomic(path, buf.Bytes())
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("slo: saving state: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("slo: saving state to %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("slo: saving state to %s: syncing directory: %w", path, err)
	}
	return nil
}

const tempInfix = ".tmp-"

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return err
	}
	return nil
}

// Load merges the state file at path into the engine by SLO name (see
// MergeReport): SLOs no longer configured are dropped, new ones start
// empty, a changed window re-buckets. Saved events are added to the
// engine's, so call Load once, at start-up, before adding events.
//
// A missing file is a fresh start (nil error). A file that is not a valid
// state file of this version — unreadable JSON, wrong checksum, impossible
// counts, a version from a newer warren — is moved aside to
// <path>.corrupt-<timestamp>, the engine keeps its state, and Load returns a
// *StateFileError for the caller to report. Other errors (permissions, I/O)
// leave the file where it is. Load first removes the temporary files that
// saves interrupted by a crash left next to path.
func (e *Engine) Load(path string) (MergeReport, error) {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	var rep MergeReport
	rep.RemovedTemp = removeStaleTemps(path)
	e.mu.RLock()
	defer e.mu.RUnlock()
	data, err := os.ReadFile(path)
	if err != nil {
		rep.Fresh = slices.Clone(e.order)
		if errors.Is(err, fs.ErrNotExist) {
			return rep, nil
		}
		return rep, fmt.Errorf("slo: reading state: %w", err)
	}
	savedAt, saved, err := parseState(data)
	if err != nil {
		rep.Fresh = slices.Clone(e.order)
		serr := &StateFileError{Path: path, Err: err}
		serr.MovedTo, serr.MoveErr = moveAside(path, e.now())
		return rep, serr
	}
	byName := make(map[string]savedSLO, len(saved))
	for _, sv := range saved {
		byName[sv.Name] = sv
	}
	for _, n := range e.order {
		sv, ok := byName[n]
		if !ok {
			rep.Fresh = append(rep.Fresh, n)
			continue
		}
		s := e.slos[n]
		s.mu.Lock()
		rebucketed := s.restore(sv, savedAt)
		s.mu.Unlock()
		if rebucketed {
			rep.Rebucketed = append(rep.Rebucketed, n)
		} else {
			rep.Restored = append(rep.Restored, n)
		}
	}
	for _, sv := range saved {
		if _, ok := e.slos[sv.Name]; !ok {
			rep.Dropped = append(rep.Dropped, sv.Name)
		}
	}
	return rep, nil
}

// moveAside renames path to <path>.corrupt-<UTC timestamp>[-n], never over
// an existing file.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	dst := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, dst); err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	_ = syncDir(dir)
	return dst, nil
}

// removeStaleTemps removes <path>.tmp-* files left by saves a crash
// interrupted, and returns their names.
func removeStaleTemps(path string) []string {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, ent := range entries {
		if ent.Type().IsRegular() && strings.HasPrefix(ent.Name(), base+tempInfix) {
			p := filepath.Join(dir, ent.Name())
			if os.Remove(p) == nil {
				removed = append(removed, p)
			}
		}
	}
	return removed
}
