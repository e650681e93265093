package cmdtest

import (
	"net"
	"os"
	"strings"
	"testing"
)

func TestFreeAddrIsALoopbackAddressOneCanListenOn(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %q is not on 127.0.0.1", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

func TestBuildFailsWithGoBuildsOutput(t *testing.T) {
	err := BuildTo("./no-such-package", t.TempDir()+"/bin")
	if err == nil || !strings.Contains(err.Error(), "building ./no-such-package") {
		t.Errorf("error %v", err)
	}
}

func TestPeakRSSGrowsWithWhatTheProcessTouches(t *testing.T) {
	before, err := PeakRSS(os.Getpid())
	if err != nil || before <= 0 {
		t.Fatalf("PeakRSS = %d, %v", before, err)
	}
	block := make([]byte, 64<<20)
	for i := range block {
		block[i] = 1 // resident only once touched
	}
	after, err := PeakRSS(os.Getpid())
	if err != nil || after-before < 60<<20 {
		t.Errorf("PeakRSS grew by %d bytes after touching 64 MiB (%v), want about 64 MiB", after-before, err)
	}
	_ = block[len(block)-1]
}
