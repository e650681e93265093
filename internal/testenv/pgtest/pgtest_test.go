package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func query(t *testing.T, c *Cluster) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(Superuser, "postgres"))
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "select 40 + 2").Scan(&n)
	return n, err
}

func TestClusterAnswersStopsAndRestartsWithItsData(t *testing.T) {
	t.Parallel()
	c := StartT(t)
	if n, err := query(t, c); err != nil || n != 42 {
		t.Fatalf("query on a fresh cluster: %d, %v", n, err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, c); err == nil {
		t.Fatal("a stopped cluster still answers")
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if n, err := query(t, c); err != nil || n != 42 {
		t.Fatalf("query after restart: %d, %v", n, err)
	}
	c.Kill()
	if err := c.Restart(); err != nil {
		t.Fatalf("restart after a kill: %v", err)
	}
	if _, err := query(t, c); err != nil {
		t.Fatalf("query after a kill and restart: %v", err)
	}
}

func TestTwoClustersHaveTheirOwnPortsAndDirectories(t *testing.T) {
	t.Parallel()
	a, b := StartT(t), StartT(t)
	if a.Port == b.Port || a.Dir == b.Dir || a.SocketDir == b.SocketDir {
		t.Fatalf("clusters share a port or directory: %+v %+v", a, b)
	}
	for _, c := range []*Cluster{a, b} {
		if _, err := query(t, c); err != nil {
			t.Fatal(err)
		}
	}
}
