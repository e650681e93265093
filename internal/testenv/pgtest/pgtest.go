// Package pgtest starts private PostgreSQL clusters for integration tests.
//
// Every cluster gets its own data directory and unix socket directory under
// a fresh temporary directory, and a free loopback port (loopback.FreePort).
// Tests therefore never touch a server they did not start: not the Debian
// package's own cluster on 5432, not one another test package started.
//
// # How a cluster is started
//
// initdb creates the cluster, then the postgres server runs in the
// foreground as a child of the test process (not detached by pg_ctl), so
// Stop and Kill act on a PID they own and wait for it. initdb and postgres
// refuse to run as root, and tests run as root here: both then run as the
// `postgres` user the Debian package creates (SysProcAttr.Credential), with
// the directories chowned to it. The child gets SIGKILL when the test
// process dies (Pdeathsig), so a crashed run leaves no server behind.
//
// Readiness is a TCP connection to the port that PostgreSQL accepts (pg_isready), within
// StartTimeout; a failed start returns the tail of the server's log.
//
// Costs, measured on a 2-core machine: initdb about 1.5 s, a start well
// under a second.
//
// Binaries come from Debian's postgresql package (BinDir). When they are
// missing the start fails with a message naming scripts/install-deps.sh,
// which installs them: it never skips.
//
// Import rule: it imports internal/testenv/loopback only; only tests import
// it.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warrenhq/warren/internal/testenv/loopback"
)

// BinDir holds Debian's PostgreSQL 15 server binaries.
const BinDir = "/usr/lib/postgresql/15/bin"

// StartTimeout bounds initdb and a start; StopTimeout bounds a stop.
var (
	StartTimeout = 60 * time.Second
	StopTimeout  = 30 * time.Second
)

// Superuser is the database superuser initdb creates; it has no password
// (local trust authentication on the loopback port only).
const Superuser = "postgres"

// Cluster is a private PostgreSQL cluster.
type Cluster struct {
	Dir       string // the temporary directory: data/, socket/, server.log
	Port      int
	SocketDir string

	uid, gid uint32
	mu       sync.Mutex
	proc     *exec.Cmd
	done     chan struct{}
}

// StartT starts a cluster for t, fails t if it cannot, and stops it when t
// and its subtests finish.
func StartT(t testing.TB) *Cluster {
	t.Helper()
	began := time.Now()
	c, err := Start(t.TempDir())
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	t.Logf("pgtest: started PostgreSQL on 127.0.0.1:%d in %v (dir %s)", c.Port, time.Since(began).Round(100*time.Millisecond), c.Dir)
	return c
}

// Start creates a cluster under dir (which must exist) and starts it.
func Start(dir string) (*Cluster, error) {
	for _, b := range []string{"initdb", "postgres", "pg_isready"} {
		if _, err := os.Stat(filepath.Join(BinDir, b)); err != nil {
			return nil, fmt.Errorf("pgtest: %s is missing (%v): run scripts/install-deps.sh, which installs Debian's postgresql package", b, err)
		}
	}
	port, err := loopback.FreePort()
	if err != nil {
		return nil, fmt.Errorf("pgtest: pick a port: %w", err)
	}
	c := &Cluster{Dir: dir, Port: port, SocketDir: filepath.Join(dir, "socket")}
	if err := c.prepare(); err != nil {
		return nil, err
	}
	if err := c.Restart(); err != nil {
		return nil, err
	}
	return c, nil
}

// DSN is a libpq connection string for database db as user on the
// cluster's loopback port.
func (c *Cluster) DSN(user, db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", c.Port, user, db)
}

// prepare makes the directories, owned by the server's user, and runs
// initdb.
func (c *Cluster) prepare() error {
	if err := c.lookupUser(); err != nil {
		return err
	}
	// The temporary directory's parents must be searchable by the server's user.
	for d := c.Dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			os.Chmod(d, fi.Mode().Perm()|0o711)
		}
	}
	for _, d := range []string{c.Dir, c.SocketDir, filepath.Join(c.Dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if err := c.chown(d); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(BinDir, "initdb"), "-D", filepath.Join(c.Dir, "data"),
		"-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = c.procAttr()
	cmd.Dir = c.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	return nil
}

func (c *Cluster) lookupUser() error {
	if os.Geteuid() != 0 {
		c.uid, c.gid = uint32(os.Getuid()), uint32(os.Getgid())
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("pgtest: running as root, and PostgreSQL refuses root: the postgres user is missing (%v); scripts/install-deps.sh installs the postgresql package, which creates it", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	c.uid, c.gid = uint32(uid), uint32(gid)
	return nil
}

func (c *Cluster) chown(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	if err := os.Chown(path, int(c.uid), int(c.gid)); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

func (c *Cluster) procAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		attr.Credential = &syscall.Credential{Uid: c.uid, Gid: c.gid}
	}
	return attr
}

// Restart starts the server of a cluster that is not running (after Stop
// or Kill) on the same port and data, and waits until it accepts
// connections.
func (c *Cluster) Restart() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		return errors.New("pgtest: the server is already running")
	}
	logPath := filepath.Join(c.Dir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(BinDir, "postgres"), "-D", filepath.Join(c.Dir, "data"),
		"-p", strconv.Itoa(c.Port), "-h", "127.0.0.1", "-k", c.SocketDir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB", "-c", "max_connections=50")
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = c.procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.proc, c.done = cmd, done
	if err := c.waitReady(done); err != nil {
		c.killLocked()
		return fmt.Errorf("pgtest: %w\nserver.log:\n%s", err, tail(logPath, 20))
	}
	return nil
}

// waitReady runs pg_isready until it answers 0 or the server exits.
func (c *Cluster) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-exited:
			return errors.New("postgres exited before it accepted connections")
		default:
		}
		cmd := exec.Command(filepath.Join(BinDir, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-t", "1")
		if cmd.Run() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready within %v", StartTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the server down the fast way (SIGINT: active transactions
// roll back, connections are closed) and waits for it to exit. The data
// stays: Restart starts it again.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return nil
	}
	c.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
		c.proc = nil
		return nil
	case <-time.After(StopTimeout):
		c.killLocked()
		return fmt.Errorf("pgtest: postgres did not stop within %v; killed", StopTimeout)
	}
}

// Kill stops the server with SIGKILL to its process group, if it runs, and
// waits for it: a crash. Restart then recovers from the write-ahead log.
func (c *Cluster) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killLocked()
}

func (c *Cluster) killLocked() {
	if c.proc == nil {
		return
	}
	syscall.Kill(-c.proc.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(StopTimeout):
	}
	c.proc = nil
}

func tail(path string, lines int) string {
	b, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
