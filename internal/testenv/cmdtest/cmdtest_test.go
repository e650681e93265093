package cmdtest

import (
	"net"
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
