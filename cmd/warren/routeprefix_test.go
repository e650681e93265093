package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/warrenhq/warren/internal/testenv/cmdtest"
)

func TestTheRoutePrefixIsTheFlagElseTheExternalURLsPath(t *testing.T) {
	for _, c := range []struct{ flag, external, want string }{
		{"", "", ""},
		{"/", "https://proxy.example/warren/", ""},
		{"", "https://proxy.example/warren/", "/warren"},
		{"warren/", "", "/warren"},
		{"/a/b", "http://host:9842", "/a/b"},
	} {
		if got := routePrefix(c.flag, c.external); got != c.want {
			t.Errorf("routePrefix(%q, %q) = %q, want %q", c.flag, c.external, got, c.want)
		}
	}
}

func TestTheWebPagesAreServedUnderTheRoutePrefixBehindBasicAuth(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("ops-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webYML := writeFile(t, dir, "web.yml", fmt.Sprintf("basic_auth_users:\n  ops: %s\n", hash))
	config := writeFile(t, dir, "w.yml", deadTargetConfig(cmdtest.FreeAddr(t)))
	_, base, _ := startAgentUnder(t, "/ops", "--web.config.file="+webYML, "--config", config, "--web.route-prefix=/ops/")

	if code, _ := get(t, base+"/ops/"); code != http.StatusUnauthorized {
		t.Errorf("the overview without credentials: %d, want 401", code)
	}
	authed := func(path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.SetBasicAuth("ops", "ops-pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, page := authed("/ops/")
	if code != http.StatusOK || !strings.Contains(page, `href="/ops/static/warren.css"`) || !strings.Contains(page, `<a href="/ops/?cluster=gone">gone</a>`) {
		t.Errorf("the overview: %d, links not under /ops:\n%s", code, page)
	}
	for path, want := range map[string]int{"/ops/static/warren.css": 200, "/ops/static/refresh.js": 200, "/ops/metrics": 200, "/ops/api/v1/status": 200, "/metrics": 404, "/": 404} {
		if code, _ := authed(path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
}
