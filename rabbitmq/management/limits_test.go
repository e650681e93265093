package management

import (
	"testing"

	"github.com/warrenhq/warren/snapshot"
)

func TestLengthLimitTakesTheLowerLimitAndTheArgumentsOverflow(t *testing.T) {
	tests := []struct {
		name              string
		arguments, policy map[string]any
		want              snapshot.LengthLimit
	}{
		{name: "no limit"},
		{name: "argument, drop-head by default", arguments: map[string]any{"x-max-length": 100.0},
			want: snapshot.LengthLimit{MaxLength: 100, HasMaxLength: true, Overflow: snapshot.DropHead}},
		{name: "policy bytes with its overflow", policy: map[string]any{"max-length-bytes": 4096.0, "overflow": "reject-publish"},
			want: snapshot.LengthLimit{MaxLengthBytes: 4096, HasMaxLengthBytes: true, Overflow: snapshot.RejectPublish}},
		{name: "the lower of argument and policy; the argument's overflow",
			arguments: map[string]any{"x-max-length": 500.0, "x-overflow": "reject-publish-dlx"},
			policy:    map[string]any{"max-length": 200.0, "overflow": "reject-publish"},
			want:      snapshot.LengthLimit{MaxLength: 200, HasMaxLength: true, Overflow: snapshot.RejectPublishDLX}},
		{name: "an overflow without a limit is no limit", arguments: map[string]any{"x-overflow": "reject-publish"}},
	}
	for _, tt := range tests {
		if got := lengthLimit(tt.arguments, tt.policy); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
