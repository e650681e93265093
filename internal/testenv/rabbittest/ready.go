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
	exited := func() error {
		select {
		case <-p.done:
			return fmt.Errorf("%w (%v)", errExitedEarly, p.cmd.ProcessState)
		default:
			return nil
		}
	}

	// await_startup fails at once while the node's distribution is not up
	// yet, so retry it until it succeeds.
	var lastErr error
	for {
		timeout := time.Until(deadline).Truncate(time.Second)
		if timeout < time.Second {
			return fmt.Errorf("timed out after %v waiting for await_startup: %v", StartTimeout, lastErr)
		}
		_, lastErr = n.ctl(ctx, "await_startup", "--timeout", strconv.Itoa(int(timeout.Seconds())))
		if lastErr == nil {
			break
		}
		if err := exited(); err != nil {
			return err
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			if err := exited(); err != nil {
				return err
			}
			return fmt.Errorf("timed out after %v waiting for await_startup: %v", StartTimeout, lastErr)
		}
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for {
		lastErr = n.checkOverview(ctx, client)
		if lastErr == nil {
			return nil
		}
		if err := exited(); err != nil {
			return err
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			if err := exited(); err != nil {
				return err
			}
			return fmt.Errorf("timed out after %v waiting for the management API: %v", StartTimeout, lastErr)
		}
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
