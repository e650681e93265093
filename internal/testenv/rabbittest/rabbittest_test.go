package rabbittest

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// orphanHelperEnv makes the test binary act as a test process that starts
// a node and is then killed before it can clean up (see TestMain).
const orphanHelperEnv = "RABBITTEST_ORPHAN_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(orphanHelperEnv) == "1" {
		runOrphanHelper()
		return
	}
	os.Exit(m.Run())
}

// orphanReport is what the helper process tells its parent about its node.
type orphanReport struct {
	Dir      string
	AMQPPort int
	PGID     int
	PIDs     []int
}

func runOrphanHelper() {
	n, err := Start(Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n.mu.Lock()
	pgid := n.proc.pgid
	n.mu.Unlock()
	json.NewEncoder(os.Stdout).Encode(orphanReport{Dir: n.Dir, AMQPPort: n.AMQPPort, PGID: pgid, PIDs: descendants(pgid)})
	// Wait to be killed; never clean up. Bounded so nothing runs forever.
	time.Sleep(5 * time.Minute)
	os.Exit(2)
}

func getJSON(t *testing.T, n *Node, path, user, pass string, into any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, n.MgmtURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode == http.StatusOK && into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func portAccepts(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestStartedNodeServesManagementAPIAndAMQP(t *testing.T) {
	t.Parallel()
	n := StartT(t, Options{})

	var overview struct {
		RabbitMQVersion string `json:"rabbitmq_version"`
		Node            string `json:"node"`
	}
	if code := getJSON(t, n, "/api/overview", "guest", "guest", &overview); code != http.StatusOK {
		t.Fatalf("GET /api/overview: status %d, want 200", code)
	}
	if overview.RabbitMQVersion == "" {
		t.Error("GET /api/overview: no rabbitmq_version")
	}
	if overview.Node != n.Name {
		t.Errorf("GET /api/overview: node %q, want %q", overview.Node, n.Name)
	}
	if code := getJSON(t, n, "/api/overview", "guest", "wrong", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /api/overview with a wrong password: status %d, want 401", code)
	}

	// The AMQP port speaks AMQP 0-9-1: the protocol header is answered with a
	// method frame (type 1) carrying connection.start.
	u, err := url.Parse(n.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial AMQP %s: %v", u.Host, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 11)
	if _, err := io.ReadFull(conn, frame); err != nil {
		t.Fatalf("read connection.start: %v", err)
	}
	if frame[0] != 1 || frame[7] != 0 || frame[8] != 10 || frame[9] != 0 || frame[10] != 10 {
		t.Errorf("AMQP answer %x is not a connection.start method frame", frame)
	}

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", n.PromPort))
	if err != nil {
		t.Fatalf("GET prometheus /metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "rabbitmq_") {
		t.Errorf("GET prometheus /metrics: status %d, no rabbitmq_ metrics in %.200q", resp.StatusCode, body)
	}
}

// listeners returns the local addresses of the TCP sockets listening on
// port, from /proc/net/tcp and tcp6.
func listeners(t *testing.T, port int) []string {
	t.Helper()
	var addrs []string
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "0A" { // 0A is LISTEN
				continue
			}
			addr, portHex, _ := strings.Cut(f[1], ":")
			if p, _ := strconv.ParseUint(portHex, 16, 16); int(p) == port {
				addrs = append(addrs, addr)
			}
		}
	}
	return addrs
}

func TestNodeListensOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	n := StartT(t, Options{})
	const loopback = "0100007F" // 127.0.0.1 as /proc/net/tcp prints it
	ours := map[int]string{n.AMQPPort: "AMQP", n.MgmtPort: "management", n.PromPort: "prometheus", n.DistPort: "distribution"}
	for port, name := range ours {
		if got := listeners(t, port); len(got) != 1 || got[0] != loopback {
			t.Errorf("%s port %d: listening on %v, want only %s", name, port, got, loopback)
		}
	}
	// And the broker has no other listener, on 5672 say.
	var overview struct {
		Listeners []struct {
			Protocol  string `json:"protocol"`
			IPAddress string `json:"ip_address"`
			Port      int    `json:"port"`
		} `json:"listeners"`
	}
	if code := getJSON(t, n, "/api/overview", "guest", "guest", &overview); code != http.StatusOK {
		t.Fatalf("GET /api/overview: status %d", code)
	}
	if len(overview.Listeners) == 0 {
		t.Fatal("GET /api/overview lists no listeners")
	}
	for _, l := range overview.Listeners {
		if _, ok := ours[l.Port]; !ok {
			t.Errorf("unexpected %s listener on %s:%d", l.Protocol, l.IPAddress, l.Port)
		}
	}
}

func TestOptionsReachTheBrokerConfig(t *testing.T) {
	t.Parallel()
	n := StartT(t, Options{StatsIntervalMS: 2500, ExtraConfig: "heartbeat = 17"})
	for key, want := range map[string]string{"collect_statistics_interval": "{ok,2500}", "heartbeat": "{ok,17}"} {
		out, err := n.Ctl("eval", "application:get_env(rabbit, "+key+").")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != want {
			t.Errorf("rabbit %s = %q, want %s", key, strings.TrimSpace(out), want)
		}
	}
}

func TestDefaultStatsIntervalIsOneSecond(t *testing.T) {
	t.Parallel()
	n := StartT(t, Options{})
	out, err := n.Ctl("eval", "application:get_env(rabbit, collect_statistics_interval).")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out); got != "{ok,1000}" {
		t.Errorf("collect_statistics_interval = %s, want {ok,1000}", got)
	}
	// Ctl errors carry rabbitmqctl's output, so a failing test says why.
	_, err = n.Ctl("add_vhost")
	if err == nil || !strings.Contains(err.Error(), "add_vhost") || !strings.Contains(strings.ToLower(err.Error()), "argument") {
		t.Errorf("Ctl with a missing argument: error %v, want one quoting rabbitmqctl's complaint", err)
	}
}

func TestKilledNodeRestartsWithItsData(t *testing.T) {
	t.Parallel()
	n := StartT(t, Options{})
	const queue = "kept-across-kill"
	defs := fmt.Sprintf(`{"queues":[{"name":%q,"vhost":"/","durable":true,"auto_delete":false,"arguments":{"x-queue-type":"classic"}}]}`, queue)
	if err := n.ImportDefinitions([]byte(defs)); err != nil {
		t.Fatal(err)
	}
	if code := getJSON(t, n, "/api/queues/%2F/"+queue, "guest", "guest", nil); code != http.StatusOK {
		t.Fatalf("queue %s after import: status %d, want 200", queue, code)
	}

	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if portAccepts(n.AMQPPort) {
		t.Fatalf("AMQP port %d still accepts connections after Kill", n.AMQPPort)
	}
	if n.Running() {
		t.Fatal("Running() after Kill")
	}

	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	var q struct {
		Name    string `json:"name"`
		Durable bool   `json:"durable"`
	}
	// The node answers before it has recovered every queue, and under
	// load the durable queue can take a while to appear: at a load of
	// 15 on 2 cores it took more than 30 s.
	const recovery = 90 * time.Second
	for deadline := time.Now().Add(recovery); ; time.Sleep(250 * time.Millisecond) {
		code := getJSON(t, n, "/api/queues/%2F/"+queue, "guest", "guest", &q)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s after Kill and Restart: status %d for %v, want 200", queue, code, recovery)
		}
	}
	if q.Name != queue || !q.Durable {
		t.Errorf("queue after restart = %+v", q)
	}
	if !portAccepts(n.AMQPPort) {
		t.Errorf("AMQP port %d closed after Restart", n.AMQPPort)
	}
}

func TestStoppedNodeRestartsWithItsUsersVhostsAndPermissions(t *testing.T) {
	t.Parallel()
	n := StartT(t, Options{})
	if err := n.AddVhost("orders"); err != nil {
		t.Fatal(err)
	}
	if err := n.AddUser("watcher", "s3cret", "monitoring"); err != nil {
		t.Fatal(err)
	}
	if err := n.SetPermissions("orders", "watcher", "", "", ".*"); err != nil {
		t.Fatal(err)
	}

	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if n.Running() || portAccepts(n.AMQPPort) || portAccepts(n.MgmtPort) {
		t.Fatal("node still up after Stop")
	}
	if err := n.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	var who struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if code := getJSON(t, n, "/api/whoami", "watcher", "s3cret", &who); code != http.StatusOK {
		t.Fatalf("GET /api/whoami as watcher: status %d, want 200", code)
	}
	if who.Name != "watcher" || len(who.Tags) != 1 || who.Tags[0] != "monitoring" {
		t.Errorf("whoami = %+v, want watcher tagged monitoring", who)
	}
	var perm struct {
		Configure, Write, Read string
	}
	if code := getJSON(t, n, "/api/permissions/orders/watcher", "guest", "guest", &perm); code != http.StatusOK {
		t.Fatalf("permissions of watcher on orders: status %d, want 200", code)
	}
	if perm.Configure != "" || perm.Write != "" || perm.Read != ".*" {
		t.Errorf("permissions = %+v, want read .* only", perm)
	}
	if code := getJSON(t, n, "/api/permissions/%2F/watcher", "guest", "guest", nil); code != http.StatusNotFound {
		t.Errorf("permissions of watcher on /: status %d, want 404 (AddUser grants none)", code)
	}
}

func TestRestartOfARunningNodeStopsItFirst(t *testing.T) {
	t.Parallel()
	n := StartT(t, Options{})
	before := n.proc.pgid
	if err := n.Restart(); err != nil {
		t.Fatal(err)
	}
	if n.proc.pgid == before {
		t.Error("Restart of a running node kept the same process")
	}
	if left := alivePids(before, nil); len(left) != 0 {
		t.Errorf("processes %v of the first run are still alive", left)
	}
}

func TestDestroyLeavesNoProcessOrDirectory(t *testing.T) {
	t.Parallel()
	n := StartT(t, Options{})
	pgid := n.proc.pgid
	pids := descendants(pgid)
	beam := false
	for _, pid := range pids {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "/beam.smp") {
			beam = true
		}
	}
	if !beam {
		t.Fatalf("no beam.smp among the node's processes %v", pids)
	}

	n.Destroy()
	if left := alivePids(pgid, pids); len(left) != 0 {
		t.Errorf("processes %v still alive after Destroy", left)
	}
	if _, err := os.Stat(n.Dir); !os.IsNotExist(err) {
		t.Errorf("directory %s still there after Destroy (stat: %v)", n.Dir, err)
	}
	if portAccepts(n.AMQPPort) || portAccepts(n.MgmtPort) {
		out, _ := exec.Command("ss", "-ltnp").CombinedOutput()
		t.Errorf("node ports %d/%d still accept connections after Destroy:\n%s", n.AMQPPort, n.MgmtPort, out)
	}
	n.Destroy() // idempotent; StartT's cleanup calls it a third time
	if err := n.Restart(); err == nil {
		t.Error("Restart after Destroy succeeded")
	}
}

func TestNodesOfOneTestRunAreIndependent(t *testing.T) {
	t.Parallel()
	a := StartT(t, Options{})
	b := StartT(t, Options{})
	if a.Name == b.Name || a.Dir == b.Dir {
		t.Fatalf("nodes share a name or directory: %s %s, %s %s", a.Name, a.Dir, b.Name, b.Dir)
	}
	seen := map[int]bool{}
	for _, p := range []int{a.AMQPPort, a.MgmtPort, a.DistPort, a.PromPort, b.AMQPPort, b.MgmtPort, b.DistPort, b.PromPort} {
		if seen[p] {
			t.Fatalf("port %d used twice", p)
		}
		seen[p] = true
	}
	if !strings.HasPrefix(a.Name, fmt.Sprintf("warren-test-%d-", os.Getpid())) || !strings.HasSuffix(a.Name, "@localhost") {
		t.Errorf("node name %q, want warren-test-<pid>-<n>@localhost", a.Name)
	}
	if err := a.AddVhost("only-on-a"); err != nil {
		t.Fatal(err)
	}
	if code := getJSON(t, b, "/api/vhosts/only-on-a", "guest", "guest", nil); code != http.StatusNotFound {
		t.Errorf("vhost added on a: status %d on b, want 404", code)
	}
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	if code := getJSON(t, b, "/api/overview", "guest", "guest", nil); code != http.StatusOK {
		t.Errorf("b after killing a: status %d, want 200", code)
	}
}

func TestNodeDiesWithTheTestProcessThatStartedIt(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	var rep orphanReport
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Fatalf("helper said %q: %v", line, err)
		}
	case <-time.After(2 * StartTimeout):
		t.Fatal("helper did not start its node")
	}
	t.Cleanup(func() {
		// Whatever happened, leave nothing behind.
		syscall.Kill(-rep.PGID, syscall.SIGKILL)
		for _, pid := range rep.PIDs {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.RemoveAll(rep.Dir)
	})
	if !portAccepts(rep.AMQPPort) {
		t.Fatal("helper's node does not accept AMQP connections")
	}

	// SIGKILL: no cleanup, no deferred calls, as when go test times out hard.
	cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := alivePids(rep.PGID, rep.PIDs)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node processes %v outlived the killed test process by 30s", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if portAccepts(rep.AMQPPort) {
		t.Error("AMQP port still accepts connections")
	}
}

func TestStartReportsTheNodeLogWhenTheBrokerCannotStart(t *testing.T) {
	t.Parallel()
	start := time.Now()
	n, err := Start(Options{ExtraConfig: "no_such_setting = 1"})
	if err == nil {
		n.Destroy()
		t.Fatal("Start with an invalid config succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "exited during startup") || !strings.Contains(msg, "console.log") {
		t.Errorf("error does not say the node exited and show its log:\n%s", msg)
	}
	if !strings.Contains(msg, "no_such_setting") {
		t.Errorf("error does not show the broker's complaint about the setting:\n%s", msg)
	}
	if d := time.Since(start); d > StartTimeout/2 {
		t.Errorf("a broken config took %v to be reported", d)
	}
	// A failed Start leaves no directory behind.
	if dir := dirOf(msg); dir != "" {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("directory %s left after failed Start", dir)
		}
	}
}

// dirOf extracts the node directory from an error quoting its log paths.
func dirOf(msg string) string {
	i := strings.Index(msg, "/warren-rabbittest-")
	if i < 0 {
		return ""
	}
	j := strings.Index(msg[i:], "/log/")
	if j < 0 {
		return ""
	}
	start := strings.LastIndex(msg[:i], " ") + 1
	return msg[start : i+j]
}

func TestTailKeepsTheLastLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
	} {
		if got := tail(c.in, c.n); got != c.want {
			t.Errorf("tail(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestATLSNodeTakesAMQPSConnectionsThatTrustItsCertificate(t *testing.T) {
	t.Parallel()
	n := StartT(t, Options{TLS: true})
	conn, err := amqp.DialTLS(n.AMQPSURL, n.TLSConfig())
	if err != nil {
		t.Fatalf("AMQPS with the node's certificate: %v", err)
	}
	conn.Close()
	if _, err := amqp.DialTLS(n.AMQPSURL, &tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Error("a client that does not trust the self-signed certificate connected")
	}
	var overview struct {
		Listeners []struct {
			Protocol string `json:"protocol"`
			Port     int    `json:"port"`
		} `json:"listeners"`
	}
	getJSON(t, n, "/api/overview", "guest", "guest", &overview)
	found := false
	for _, l := range overview.Listeners {
		found = found || l.Protocol == "amqp/ssl" && l.Port == n.AMQPSPort
	}
	if !found {
		t.Errorf("listeners %+v lack amqp/ssl on %d", overview.Listeners, n.AMQPSPort)
	}
}
