package rabbittest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Ctl runs rabbitmqctl -n Name args... against the node, with the node's
// environment and a timeout of CtlTimeout. On error, the error includes the
// combined output.
func (n *Node) Ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CtlTimeout)
	defer cancel()
	return n.ctl(ctx, args...)
}

// CtlContext is Ctl with a caller's context instead of CtlTimeout.
func (n *Node) CtlContext(ctx context.Context, args ...string) (string, error) {
	return n.ctl(ctx, args...)
}

// QueuesCtl runs rabbitmq-queues -n Name args... (quorum queue
// membership and leadership: rebalance, grow, shrink, quorum_status) the
// way Ctl runs rabbitmqctl.
func (n *Node) QueuesCtl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CtlTimeout)
	defer cancel()
	return n.cli(ctx, QueuesBin, args...)
}

func (n *Node) ctl(ctx context.Context, args ...string) (string, error) {
	return n.cli(ctx, CtlBin, args...)
}

// cli runs one of the broker's CLI tools against the node.
func (n *Node) cli(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-n", n.Name}, args...)...)
	cmd.Dir = n.Dir
	cmd.Env = n.env()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// rabbitmqctl is an Erlang VM whose helpers may hold the output pipe;
	// kill its whole group on timeout and do not wait for the pipe forever.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return out.String(), fmt.Errorf("%s -n %s %s: %w\n%s", filepath.Base(bin), n.Name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// ImportDefinitions imports a definitions document (the JSON of GET
// /api/definitions) with rabbitmqctl import_definitions.
func (n *Node) ImportDefinitions(json []byte) error {
	f, err := os.CreateTemp(n.Dir, "definitions-*.json")
	if err != nil {
		return fmt.Errorf("rabbittest: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(json); err != nil {
		f.Close()
		return fmt.Errorf("rabbittest: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("rabbittest: %w", err)
	}
	_, err = n.Ctl("import_definitions", f.Name())
	return err
}

// AddUser creates a user with the given tags and no permissions.
func (n *Node) AddUser(name, password string, tags ...string) error {
	if _, err := n.Ctl("add_user", name, password); err != nil {
		return err
	}
	_, err := n.Ctl(append([]string{"set_user_tags", name}, tags...)...)
	return err
}

// SetPermissions sets user's configure, write and read permissions on vhost.
func (n *Node) SetPermissions(vhost, user, conf, write, read string) error {
	_, err := n.Ctl("set_permissions", "-p", vhost, user, conf, write, read)
	return err
}

// AddVhost creates a virtual host.
func (n *Node) AddVhost(name string) error {
	_, err := n.Ctl("add_vhost", name)
	return err
}
