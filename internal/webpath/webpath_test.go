package webpath

import "testing"

func TestPathsEscapeEachPartAndJoinUnderABase(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Overview("", ""), "/"},
		{Overview("prod eu", ""), "/?cluster=prod+eu"},
		{Overview("prod", "/"), "/?cluster=prod&vhost=%2F"},
		{SLO("orders/30s"), "/slo/orders%2F30s"},
		{Queue("prod", "/", "orders.dlq"), "/queue/prod/%2F/orders.dlq"},
		{Queue("prod", "shop", "a b?"), "/queue/prod/shop/a%20b%3F"},
		{Join("", "/slo/x"), "/slo/x"},
		{Join("/", "/"), "/"},
		{Join("/warren/", "/slo/x"), "/warren/slo/x"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
