package rabbittest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
)

var installMu sync.Mutex

// EnsureInstalled installs the Debian package rabbitmq-server if ServerBin
// is missing, the way scripts/install-deps.sh does: apt-get update, then
// apt-get install -y rabbitmq-server, through sudo when not root. The
// system broker the package may start is stopped again, since tests never
// use it. It returns an error if the installation fails; it never skips.
func EnsureInstalled() error {
	installMu.Lock()
	defer installMu.Unlock()
	if installed() {
		return nil
	}
	steps := [][]string{
		{"apt-get", "update"},
		{"apt-get", "install", "-y", "rabbitmq-server"},
	}
	for _, step := range steps {
		if out, err := runAsRoot(step...); err != nil {
			return fmt.Errorf("rabbittest: install rabbitmq-server: %s: %v\n%s", step, err, out)
		}
	}
	// Best effort: the package's postinst may have started a broker on 5672.
	runAsRoot("service", "rabbitmq-server", "stop")
	if !installed() {
		return fmt.Errorf("rabbittest: installed rabbitmq-server but %s or %s is still missing", ServerBin, CtlBin)
	}
	return nil
}

func installed() bool {
	for _, p := range []string{ServerBin, CtlBin} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

func runAsRoot(args ...string) ([]byte, error) {
	if os.Geteuid() != 0 {
		sudo, err := exec.LookPath("sudo")
		if err != nil {
			return nil, fmt.Errorf("not root and no sudo to run %v", args)
		}
		// -n: fail rather than wait for a password nobody will type.
		args = append([]string{sudo, "-n", "DEBIAN_FRONTEND=noninteractive"}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), InstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	return cmd.CombinedOutput()
}
