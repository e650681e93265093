package config

import (
	"errors"
	"strings"
	"testing"
)

const rolesTarget = "targets:\n  - name: a\n    management_url: http://h:15672\n    username: u\n    password: p\n"

func TestQueueRolesLoadAsAnchoredRulesInOrder(t *testing.T) {
	cfg, err := Load(writeConfig(t, rolesTarget+`    queue_roles:
      - queue: "billing\\.worker"
        role: work
      - vhost: legacy
        queue: ".*\\.hold"
        role: delay
    queue_role_names:
      dead_letter: [".*\\.graveyard"]
      delay: []
`))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tg := cfg.Targets[0]
	if len(tg.QueueRoles) != 2 || tg.QueueRoles[0].Role != RoleWork || tg.QueueRoles[1].Role != RoleDelay {
		t.Fatalf("queue_roles = %+v", tg.QueueRoles)
	}
	if !tg.QueueRoles[0].Match("any", "billing.worker") || tg.QueueRoles[0].Match("any", "billing.worker.retry") {
		t.Errorf("queue pattern is not anchored")
	}
	if !tg.QueueRoles[1].Match("legacy", "x.hold") || tg.QueueRoles[1].Match("other", "x.hold") {
		t.Errorf("vhost pattern does not restrict the rule")
	}
	if names := tg.QueueRoleNames.DeadLetterNames(); len(names) != 1 || !names[0].MatchString("a.graveyard") {
		t.Errorf("configured dead_letter names not in force: %v", names)
	}
	if names := tg.QueueRoleNames.DelayNames(); names == nil || len(names) != 0 {
		t.Errorf("an empty delay list must turn the fallback off, got %v", names)
	}
}

func TestUnsetQueueRoleNamesAreTheDefaults(t *testing.T) {
	var n QueueRoleNames
	if len(n.DelayNames()) == 0 || len(n.DeadLetterNames()) == 0 {
		t.Fatal("no default name lists")
	}
}

func TestQueueRoleErrorsNameTheirField(t *testing.T) {
	cases := []struct {
		name, body, field, fragment string
		line                        int
	}{
		{"unknown role", "    queue_roles:\n      - queue: x\n        role: retry\n", "targets[0].queue_roles[0].role", "must be one of work, delay, dead_letter, stream", 8},
		{"rule without pattern", "    queue_roles:\n      - role: work\n", "targets[0].queue_roles[0]", "needs vhost or queue", 7},
		{"bad name pattern", "    queue_role_names:\n      delay: [\"(\"]\n", "targets[0].queue_role_names.delay[0]", "invalid regular expression", 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, rolesTarget+c.body))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load error = %v, want config.Errors", err)
			}
			for _, e := range es {
				if e.Line == c.line && e.Field == c.field && strings.Contains(e.Message, c.fragment) {
					return
				}
			}
			t.Fatalf("want an error at line %d field %s containing %q; got:\n%v", c.line, c.field, c.fragment, err)
		})
	}
}
