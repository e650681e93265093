package slo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	objA = Objective{Name: "orders", Target: 0.95, Window: 28 * day}
	objB = Objective{Name: "probe", Target: 0.999, Window: time.Hour}
	objC = Objective{Name: "dlq", Target: 0.99, Window: 7 * day}
)

func newEngine(t testing.TB, objs ...Objective) *Engine {
	t.Helper()
	e, err := NewEngine(objs...)
	if err != nil {
		t.Fatal(err)
	}
	e.now = func() time.Time { return base }
	return e
}

// fill adds one event per step over [from, to), every tenth one bad.
func fill(t testing.TB, e *Engine, name string, from, to time.Time, step time.Duration) {
	t.Helper()
	i := 0
	for ts := from; ts.Before(to); ts = ts.Add(step) {
		good := 1.0
		if i%10 == 0 {
			good = 0
		}
		if err := e.Add(name, ts, good, 1); err != nil {
			t.Fatal(err)
		}
		i++
	}
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slo-state.json")
	e1 := newEngine(t, objA, objB)
	fill(t, e1, objA.Name, base.Add(-30*day), base, 7*time.Minute)
	fill(t, e1, objB.Name, base.Add(-2*time.Hour), base, 100*time.Millisecond)
	if err := e1.Add(objA.Name, base.Add(-40*day), 1, 1); err != nil { // dropped, and remembered as such
		t.Fatal(err)
	}
	if err := e1.Save(path); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, objA, objB)
	rep, err := e2.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Restored, []string{objA.Name, objB.Name}) || rep.Fresh != nil || rep.Dropped != nil || rep.Rebucketed != nil {
		t.Fatalf("report %+v", rep)
	}
	for _, now := range []time.Time{base, base.Add(time.Minute), base.Add(3 * day)} {
		if a, b := e1.Evaluate(now), e2.Evaluate(now); !reflect.DeepEqual(a, b) {
			t.Fatalf("at %v evaluations differ:\n%+v\n%+v", now, a, b)
		}
		for _, n := range []string{objA.Name, objB.Name} {
			s1, _ := e1.SLO(n)
			s2, _ := e2.SLO(n)
			if a, b := s1.Windows(now), s2.Windows(now); !reflect.DeepEqual(a, b) {
				t.Fatalf("%s windows differ:\n%+v\n%+v", n, a, b)
			}
		}
	}
	s1, _ := e1.SLO(objA.Name)
	s2, _ := e2.SLO(objA.Name)
	if s1.Dropped() != 1 || s2.Dropped() != 1 {
		t.Fatalf("dropped %v %v", s1.Dropped(), s2.Dropped())
	}
	if b := s2.Budget(base); b.Total == 0 {
		t.Fatal("nothing restored")
	}
	st, _ := os.Stat(path)
	t.Logf("state file for %v + %v: %d bytes", objA.Window, objB.Window, st.Size())
}

func TestStateFileIsVersionedJSONWithOneSLOPerLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e := newEngine(t, objA, objB)
	fill(t, e, objA.Name, base.Add(-time.Hour), base, time.Minute)
	if err := e.Save(path); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	if v["version"] != 1.0 {
		t.Fatalf("version %v", v["version"])
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], `{"name":"orders"`) || !strings.HasPrefix(lines[2], `{"name":"probe"`) {
		t.Fatalf("layout:\n%s", data)
	}
}

func TestKill9AfterSaveContinuesFromTheSavedState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e1 := newEngine(t, objA)
	fill(t, e1, objA.Name, base.Add(-10*day), base, time.Minute)
	if err := e1.Save(path); err != nil {
		t.Fatal(err)
	}
	atSave := e1.Evaluate(base)
	// More events, never saved: the process dies here (kill -9), nothing
	// else is called.
	fill(t, e1, objA.Name, base, base.Add(time.Hour), time.Second)

	e2 := newEngine(t, objA)
	if _, err := e2.Load(path); err != nil {
		t.Fatal(err)
	}
	if got := e2.Evaluate(base); !reflect.DeepEqual(got, atSave) {
		t.Fatalf("after restart:\n%+v\nwant the state at the last save:\n%+v", got, atSave)
	}
	// And carries on.
	if err := e2.Add(objA.Name, base.Add(time.Minute), 0, 5); err != nil {
		t.Fatal(err)
	}
	if err := e2.Save(path); err != nil {
		t.Fatal(err)
	}
	e3 := newEngine(t, objA)
	if _, err := e3.Load(path); err != nil {
		t.Fatal(err)
	}
	s, _ := e3.SLO(objA.Name)
	if got, want := s.Budget(base.Add(time.Minute)).Total, atSave[0].Budget.Total+5; got != want {
		t.Fatalf("total %v, want %v", got, want)
	}
}

// TestSaveLoopHelper is not a test: TestKill9DuringSaveLeavesAReadableFile
// runs it in a child process and kills it with SIGKILL mid-save.
func TestSaveLoopHelper(t *testing.T) {
	dir := os.Getenv("SLO_SAVE_LOOP_DIR")
	if dir == "" {
		t.Skip("helper process")
	}
	e := newEngine(t, objA, objB, objC)
	for i := 0; i < 4000; i++ { // fill every coarse bucket: a ~100 kB file
		_ = e.Add(objA.Name, base.Add(-time.Duration(i)*560*time.Second), 0.5, 1)
	}
	path := filepath.Join(dir, "state.json")
	for {
		_ = e.Add(objA.Name, base, 1, 1)
		if err := e.Save(path); err != nil {
			os.Exit(3)
		}
	}
}

func TestKill9DuringSaveLeavesAReadableFile(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for round := 0; round < 10; round++ {
		dir := t.TempDir()
		path := filepath.Join(dir, "state.json")
		cmd := exec.Command(os.Args[0], "-test.run=^TestSaveLoopHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SLO_SAVE_LOOP_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := os.Stat(path); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("helper never saved")
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()
		leftover := slices.DeleteFunc(dirNames(t, dir), func(n string) bool { return n == "state.json" })

		e := newEngine(t, objA, objB, objC)
		rep, err := e.Load(path)
		if err != nil {
			t.Fatalf("round %d: load after kill -9: %v", round, err)
		}
		s, _ := e.SLO(objA.Name)
		total := s.Budget(base).Total
		if total < 4001 {
			t.Fatalf("round %d: total %v, want the prefill and at least one loop", round, total)
		}
		if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"state.json"}) {
			t.Fatalf("round %d: after load the directory holds %v", round, names)
		}
		t.Logf("round %d: %v saves survived, temp files left by the kill: %v (removed by Load: %d)", round, total-4000, leftover, len(rep.RemovedTemp))
	}
}

// rehash recomputes the checksum of a hand-edited state file, so that
// semantic validation, not the checksum, has to catch the damage.
func rehash(t testing.TB, data []byte) []byte {
	t.Helper()
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, f.SLOs); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Bytes())
	f.SHA256 = hex.EncodeToString(sum[:])
	out, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func validStateFile(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.json")
	e := newEngine(t, objA)
	fill(t, e, objA.Name, base.Add(-time.Hour), base, time.Minute)
	if err := e.Save(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBadStateFileIsReportedMovedAsideAndStateStartsFresh(t *testing.T) {
	valid := validStateFile(t)
	cases := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"garbage", []byte("not json at all"), ErrCorruptState},
		{"empty", nil, ErrCorruptState},
		{"truncated", valid[:len(valid)/2], ErrCorruptState},
		{"checksum mismatch", bytes.Replace(valid, []byte(`"dropped":0`), []byte(`"dropped":7`), 1), ErrCorruptState},
		{"no version", []byte(`{"slos":[]}`), ErrCorruptState},
		{"version 0", []byte(`{"version":0}`), ErrCorruptState},
		{"good above total", rehash(t, bytes.Replace(valid, []byte(`"good":[0,`), []byte(`"good":[5,`), 1)), ErrCorruptState},
		{"unknown field", rehash(t, bytes.Replace(valid, []byte(`"dropped":0`), []byte(`"dropped":0,"extra":1`), 1)), ErrCorruptState},
		{"duplicate SLO", rehash(t, bytes.Replace(valid, []byte("\n]"), append(append([]byte(",\n"), jsonLine(valid, 1)...), "\n]"...), 1)), ErrCorruptState},
		{"trailing data", append(bytes.Clone(valid), []byte(`{"version":1}`)...), ErrCorruptState},
		{"future version", []byte(`{"version":2,"format":"something new"}`), ErrFutureVersion},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			e := newEngine(t, objA, objB)
			rep, err := e.Load(path)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			var serr *StateFileError
			if !errors.As(err, &serr) || serr.MoveErr != nil {
				t.Fatalf("err %T %v", err, err)
			}
			t.Log(err)
			if want := path + ".corrupt-20250314T150926Z"; serr.MovedTo != want {
				t.Fatalf("moved to %q, want %q", serr.MovedTo, want)
			}
			if got, _ := os.ReadFile(serr.MovedTo); !bytes.Equal(got, c.data) {
				t.Fatal("the moved file differs from the original")
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("original still at %s: %v", path, err)
			}
			if !reflect.DeepEqual(rep.Fresh, []string{objA.Name, objB.Name}) || rep.Restored != nil {
				t.Fatalf("report %+v", rep)
			}
			s, _ := e.SLO(objA.Name)
			if s.Budget(base).HasData() {
				t.Fatal("corrupt state was trusted")
			}
			// Life goes on: the next save and load work.
			fill(t, e, objA.Name, base.Add(-time.Hour), base, time.Minute)
			if err := e.Save(path); err != nil {
				t.Fatal(err)
			}
			if _, err := newEngine(t, objA).Load(path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// jsonLine returns line i of a state file without its trailing comma.
func jsonLine(data []byte, i int) []byte {
	return bytes.TrimSuffix(bytes.Split(data, []byte("\n"))[i], []byte(","))
}

func TestMovingAsideNeverOverwritesAnEarlierCorruptFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for i, content := range []string{"first", "second", "third"} {
		os.WriteFile(path, []byte(content), 0o600)
		_, err := newEngine(t, objA).Load(path)
		var serr *StateFileError
		if !errors.As(err, &serr) {
			t.Fatal(err)
		}
		want := path + ".corrupt-20250314T150926Z"
		if i > 0 {
			want += "-" + string(rune('0'+i))
		}
		if serr.MovedTo != want {
			t.Fatalf("moved to %s, want %s", serr.MovedTo, want)
		}
		if got, _ := os.ReadFile(want); string(got) != content {
			t.Fatalf("%s holds %q", want, got)
		}
	}
}

func TestMissingStateFileIsAFreshStart(t *testing.T) {
	e := newEngine(t, objA, objB)
	rep, err := e.Load(filepath.Join(t.TempDir(), "none.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Fresh, []string{objA.Name, objB.Name}) {
		t.Fatalf("report %+v", rep)
	}
}

func TestUnreadableStateFileIsAnErrorButNotMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.Mkdir(path, 0o700); err != nil { // reading a directory fails
		t.Fatal(err)
	}
	_, err := newEngine(t, objA).Load(path)
	var serr *StateFileError
	if err == nil || errors.As(err, &serr) {
		t.Fatalf("err = %v", err)
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"state.json"}) {
		t.Fatalf("dir %v", names)
	}
}

func TestSaveNeverLeavesTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	e := newEngine(t, objA, objB)
	for i := 0; i < 5; i++ {
		fill(t, e, objA.Name, base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i+1)*time.Minute), time.Second)
		if err := e.Save(path); err != nil {
			t.Fatal(err)
		}
		if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"state.json"}) {
			t.Fatalf("after save %d: %v", i, names)
		}
	}
	// A failing save (rename over a non-empty directory) cleans up too.
	bad := filepath.Join(dir, "busy")
	os.MkdirAll(filepath.Join(bad, "x"), 0o700)
	if err := e.Save(bad); err == nil {
		t.Fatal("save over a directory succeeded")
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"busy", "state.json"}) {
		t.Fatalf("after a failed save: %v", names)
	}
	// Into a missing directory: an error, nothing created.
	if err := e.Save(filepath.Join(dir, "missing", "state.json")); err == nil {
		t.Fatal("save into a missing directory succeeded")
	}
}

func TestLoadRemovesTempFilesOfInterruptedSaves(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	os.WriteFile(filepath.Join(dir, "state.json.tmp-123"), []byte("{half"), 0o600)
	os.WriteFile(filepath.Join(dir, "other.json.tmp-1"), []byte("not ours"), 0o600)
	rep, err := newEngine(t, objA).Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.RemovedTemp) != 1 || filepath.Base(rep.RemovedTemp[0]) != "state.json.tmp-123" {
		t.Fatalf("removed %v", rep.RemovedTemp)
	}
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"other.json.tmp-1"}) {
		t.Fatalf("dir %v", names)
	}
}

func TestLoadMergesBySLOName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e1 := newEngine(t, objA, objB)
	fill(t, e1, objA.Name, base.Add(-time.Hour), base, time.Minute)
	fill(t, e1, objB.Name, base.Add(-time.Minute), base, time.Second)
	if err := e1.Save(path); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, objB, objC) // orders removed, dlq added
	rep, err := e2.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := MergeReport{Restored: []string{"probe"}, Fresh: []string{"dlq"}, Dropped: []string{"orders"}}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("report %+v, want %+v", rep, want)
	}
	if _, ok := e2.SLO(objA.Name); ok {
		t.Fatal("removed SLO came back")
	}
	b, _ := e2.SLO(objB.Name)
	c, _ := e2.SLO(objC.Name)
	if b.Budget(base).Total != 60 || c.Budget(base).HasData() {
		t.Fatalf("probe %+v dlq %+v", b.Budget(base), c.Budget(base))
	}
}

func TestChangedWindowIsRebucketed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e1 := newEngine(t, objA) // 28 days
	fill(t, e1, objA.Name, base.Add(-35*day), base, time.Minute)
	if err := e1.Save(path); err != nil {
		t.Fatal(err)
	}
	s1, _ := e1.SLO(objA.Name)
	cases := []struct {
		window    time.Duration
		wantTotal float64 // events in the new SLO window
		tol       float64
		badTol    float64 // every tenth event is bad: 10% ± this
	}{
		{30 * day, 28 * 24 * 60, 11, 0.002}, // grows: only 28 days (+ one coarse bucket) were kept
		{7 * day, 7 * 24 * 60, 2, 0.002},
		{time.Hour, 60, 1, 0.02}, // from the old fine buckets; 5 or 6 bad of 60
	}
	for _, c := range cases {
		o := objA
		o.Window = c.window
		e2 := newEngine(t, o)
		rep, err := e2.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rep.Rebucketed, []string{objA.Name}) {
			t.Fatalf("%v: report %+v", c.window, rep)
		}
		s2, _ := e2.SLO(objA.Name)
		b := s2.Budget(base)
		if !approx(b.Total, c.wantTotal, c.tol) || !approx(b.Bad()/b.Total, 0.1, c.badTol) {
			t.Errorf("window %v: budget %+v, want ≈%v events, 10%% bad", c.window, b, c.wantTotal)
		}
		// Short windows keep their resolution where the old fine ring
		// reaches.
		w := min(time.Hour, c.window)
		got, want := s2.Window(base, w), s1.Window(base, w)
		if !approx(got.Total, want.Total, 1) {
			t.Errorf("window %v: last %v holds %v events, was %v", c.window, w, got.Total, want.Total)
		}
		t.Logf("28d → %v: SLO window %.1f events (bad %.1f), last %v %.1f events", c.window, b.Total, b.Bad(), w, got.Total)
	}
}

func TestReconfigureKeepsHistoryByName(t *testing.T) {
	e := newEngine(t, objA, objB)
	fill(t, e, objA.Name, base.Add(-2*day), base, time.Minute)
	fill(t, e, objB.Name, base.Add(-time.Minute), base, time.Second)
	sA, _ := e.SLO(objA.Name)
	sB, _ := e.SLO(objB.Name)
	before := sA.Budget(base)

	a2 := objA
	a2.Target = 0.99 // same window: buckets kept as they are
	rep, err := e.Reconfigure(a2, objB, objC)
	if err != nil {
		t.Fatal(err)
	}
	want := MergeReport{Restored: []string{"orders", "probe"}, Fresh: []string{"dlq"}}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("report %+v", rep)
	}
	if s, _ := e.SLO(objB.Name); s != sB {
		t.Fatal("unchanged objective got a new SLO")
	}
	s, _ := e.SLO(objA.Name)
	if got := s.Budget(base); got.Counts != before.Counts || got.Allowed == before.Allowed {
		t.Fatalf("budget %+v, before %+v: same events, new target", got, before)
	}

	a3 := a2
	a3.Window = 30 * day
	rep, err = e.Reconfigure(a3)
	if err != nil {
		t.Fatal(err)
	}
	want = MergeReport{Rebucketed: []string{"orders"}, Dropped: []string{"probe", "dlq"}}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("report %+v", rep)
	}
	s, _ = e.SLO(objA.Name)
	if got := s.Budget(base); !approx(got.Total, before.Total, 1) {
		t.Fatalf("after re-bucketing %v events, before %v", got.Total, before.Total)
	}
	if _, err := e.Reconfigure(a3, Objective{Name: "bad"}); err == nil {
		t.Fatal("invalid objective accepted")
	}
	if s2, _ := e.SLO(objA.Name); s2 != s {
		t.Fatal("a failed Reconfigure changed the engine")
	}
}

func TestConcurrentAddEvaluateAndSave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	e := newEngine(t, objA, objB)
	const writers, perWriter = 4, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				ts := base.Add(-time.Duration(i) * time.Second)
				if err := e.Add(objA.Name, ts, 1, 1); err != nil {
					t.Error(err)
				}
				if err := e.Add(objB.Name, ts, 0, 1); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	var bg sync.WaitGroup
	bg.Add(2)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.Save(path); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() {
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.Evaluate(base)
		}
	}()
	wg.Wait()
	close(stop)
	bg.Wait()
	if err := e.Save(path); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, objA, objB)
	if _, err := e2.Load(path); err != nil {
		t.Fatal(err)
	}
	s, _ := e2.SLO(objA.Name)
	if got := s.Budget(base).Total; got != writers*perWriter {
		t.Fatalf("total %v, want %v", got, writers*perWriter)
	}
}
