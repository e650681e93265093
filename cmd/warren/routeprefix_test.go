package main

import "testing"

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
