package config

import (
	"errors"
	"strings"
	"testing"
)

const scaleTarget = "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n"

func TestScaleSettingsLoad(t *testing.T) {
	cfg, err := Parse("w.yml", []byte(scaleTarget+"    max_queues_per_vhost: 500\n    drop_metrics: [warren_queue_time_in_queue_seconds, warren_queue_redelivered_total]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	if tg.MaxQueuesPerVhost != 500 {
		t.Errorf("max_queues_per_vhost = %d, want 500", tg.MaxQueuesPerVhost)
	}
	if !tg.DropsMetric("warren_queue_time_in_queue_seconds") || !tg.DropsMetric("warren_queue_redelivered_total") || tg.DropsMetric("warren_queue_messages") {
		t.Errorf("DropsMetric does not follow drop_metrics %v", tg.DropMetrics)
	}
}

func TestMaxResponseSizeTakesBytesOrAUnitAndDefaultsToTheSizeFor100kQueues(t *testing.T) {
	for value, want := range map[string]int64{"": int64(DefaultMaxResponseSize), "1048576": 1 << 20, "512KiB": 512 << 10, "256MB": 256 << 20, "1GiB": 1 << 30} {
		body := scaleTarget
		if value != "" {
			body += "    max_response_size: " + value + "\n"
		}
		cfg, err := Parse("w.yml", []byte(body))
		if err != nil {
			t.Fatalf("max_response_size %q: %v", value, err)
		}
		if got := cfg.Targets[0].MaxResponseBytes(); got != want {
			t.Errorf("max_response_size %q = %d bytes, want %d", value, got, want)
		}
	}
}

func TestScaleSettingErrorsNameTheirLineAndField(t *testing.T) {
	cases := []struct {
		name, body, field, fragment string
		line                        int
	}{
		{"negative per-vhost cap", "    max_queues_per_vhost: -1\n", "targets[0].max_queues_per_vhost", "must be 0 (no limit) or more", 6},
		{"response size without a unit, too small to be meant", "    max_response_size: 256\n", "targets[0].max_response_size", "must be at least 65536 bytes (64KiB), not 256: is a unit missing", 6},
		{"response size that is not a size", "    max_response_size: lots\n", "targets[0].max_response_size", `"lots" is not a size such as 256MB`, 6},
		{"negative response size", "    max_response_size: -1MB\n", "targets[0].max_response_size", `"-1MB" must be positive`, 6},
		{"zero response size", "    max_response_size: 0\n", "targets[0].max_response_size", "must be positive", 6},
		{"unknown metric", "    drop_metrics:\n      - warren_queue_messages\n      - warren_target_up\n", "targets[0].drop_metrics[1]", `"warren_target_up" is not a per-queue metric`, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("w.yml", []byte(scaleTarget+c.body))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse error = %v, want config.Errors", err)
			}
			for _, e := range es {
				if e.Line == c.line && e.Field == c.field && strings.Contains(e.Message, c.fragment) {
					return
				}
			}
			t.Errorf("want an error at line %d field %s containing %q; got:\n%v", c.line, c.field, c.fragment, err)
		})
	}
}
