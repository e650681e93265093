package rabbittest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// waitReady waits for await_startup and then for the management API.
func (n *Node) waitReady(deadline time.Time) error {
	p := n.proc
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	go func() {
		// Stop waiting as soon as the node dies.
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := n.awaitStartup(ctx, p, deadline); err != nil {
		return err
	}
	return n.awaitManagement(ctx, p)
}

// awaitStartup runs rabbitmqctl await_startup until it succeeds. It fails
// at once while the node's distribution is not up yet, hence the retries.
func (n *Node) awaitStartup(ctx context.Context, p *process, deadline time.Time) error {
	var lastErr error
	for {
		timeout := time.Until(deadline).Truncate(time.Second)
		if timeout < time.Second {
			return fmt.Errorf("timed out after %v waiting for await_startup: %v", StartTimeout, lastErr)
		}
		_, lastErr = n.ctl(ctx, "await_startup", "--timeout", strconv.Itoa(int(timeout.Seconds())))
		if lastErr == nil {
			return nil
		}
		if err := p.pause(ctx, 500*time.Millisecond, "await_startup", lastErr); err != nil {
			return err
		}
	}
}

// awaitManagement polls GET /api/overview until it answers 200.
func (n *Node) awaitManagement(ctx context.Context, p *process) error {
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		lastErr := n.checkOverview(ctx, client)
		if lastErr == nil {
			return nil
		}
		if err := p.pause(ctx, 200*time.Millisecond, "the management API", lastErr); err != nil {
			return err
		}
	}
}

// pause waits d between two readiness checks. It returns nil to check
// again, or why not to: the node has exited, or ctx ended (the deadline, or
// the node's exit) while waiting. lastErr is the last check's failure.
func (p *process) pause(ctx context.Context, d time.Duration, what string, lastErr error) error {
	if err := p.exited(); err != nil {
		return err
	}
	if sleepCtx(ctx, d) {
		return nil
	}
	if err := p.exited(); err != nil {
		return err
	}
	return fmt.Errorf("timed out after %v waiting for %s: %v", StartTimeout, what, lastErr)
}

// exited returns errExitedEarly, with the exit status, once the start
// script has exited, and nil while it runs.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%w (%v)", errExitedEarly, p.cmd.ProcessState)
	default:
		return nil
	}
}

func (n *Node) checkOverview(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.MgmtURL+"/api/overview", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth("guest", "guest")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /api/overview: %s", resp.Status)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
