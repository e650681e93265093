// Package cmdtest holds what tests need to run the module's commands as
// child processes: it builds them and picks loopback addresses for them to
// listen on, so that the command, dashboard, demo and deploy tests share
// one copy of each, and reads a process's peak memory. (logbuf collects
// what the processes write.)
//
// Import rule: it imports internal/testenv/loopback only; only tests import
// it.
package cmdtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/warrenhq/warren/internal/testenv/loopback"
)

// BuildTo compiles the main package pkg (an import path, or a directory
// relative to the calling test's package) into the file binary. On failure
// the error carries go build's output.
func BuildTo(pkg, binary string) error {
	if out, err := exec.Command("go", "build", "-o", binary, pkg).CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", pkg, err, out)
	}
	return nil
}

// Build compiles the main package pkg into t's temporary directory, under
// the last element of pkg, and returns the binary's path. It fails t if the
// build fails.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	binary := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if err := BuildTo(pkg, binary); err != nil {
		t.Fatal(err)
	}
	return binary
}

// FreeAddr returns a 127.0.0.1:PORT address nothing listened on a moment
// ago, for a process under test to listen on (or to stand for a server
// that is down). The port is picked as loopback.FreePort picks it, outside
// the ephemeral range, so no outgoing connection takes it in the meantime.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := loopback.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// PeakRSS is the peak resident set size of process pid so far, in bytes:
// VmHWM of /proc/<pid>/status, the kernel's own high-water mark, so that
// a peak between two looks is not missed.
func PeakRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kB, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM of process %d: %v", pid, err)
			}
			return kB << 10, nil
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
