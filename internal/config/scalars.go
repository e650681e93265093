package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration spelled as in Prometheus ("15s", "5m", "1h").
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return scalarError(node, errors.New("must be a duration such as 15s or 5m"))
	}
	v, err := ParseDuration(s)
	if err != nil {
		return scalarError(node, fmt.Errorf("%q is not a duration such as 15s, 5m or 28d", s))
	}
	if v <= 0 {
		return scalarError(node, fmt.Errorf("%q must be positive", s))
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a Go duration ("1m30s", "500ms") or a Prometheus
// one, which also knows days, weeks and years ("28d", "1w").
func ParseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	d, err := model.ParseDuration(s)
	return time.Duration(d), err
}

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Size is a number of bytes, written as a whole number or with a unit as
// Prometheus writes its body_size_limit: "256MB", "512KiB", "1GB" (KB and
// KiB are both 1024 bytes).
type Size int64

// UnmarshalYAML parses a positive number of bytes, with or without a unit.
func (s *Size) UnmarshalYAML(node *yaml.Node) error {
	var v string
	if err := node.Decode(&v); err != nil {
		return scalarError(node, errors.New("must be a size such as 256MB or 1048576"))
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		b, uerr := units.ParseBase2Bytes(strings.TrimSpace(v))
		if uerr != nil {
			return scalarError(node, fmt.Errorf("%q is not a size such as 256MB, 512KiB or 1048576 (bytes)", v))
		}
		n = int64(b)
	}
	if n <= 0 {
		return scalarError(node, fmt.Errorf("%q must be positive", v))
	}
	*s = Size(n)
	return nil
}

// Regexp is an anchored regular expression, as in Prometheus relabelling.
type Regexp struct {
	*regexp.Regexp
	Source string
}

// NewRegexp compiles s anchored at both ends.
func NewRegexp(s string) (*Regexp, error) {
	re, err := regexp.Compile("^(?:" + s + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %v", s, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return &Regexp{Regexp: re, Source: s}, nil
}

// UnmarshalYAML compiles the expression, anchored at both ends.
func (r *Regexp) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return scalarError(node, errors.New("must be a regular expression string"))
	}
	compiled, err := NewRegexp(s)
	if err != nil {
		return scalarError(node, err)
	}
	*r = *compiled
	return nil
}

// Ratio is an objective, written as a percentage ("95%", "99.9%") or a
// fraction (0.95).
type Ratio float64

// UnmarshalYAML parses "95%" or 0.95.
func (r *Ratio) UnmarshalYAML(node *yaml.Node) error {
	var s string
	if err := node.Decode(&s); err != nil {
		return scalarError(node, errors.New("must be a ratio such as 95% or 0.95"))
	}
	s = strings.TrimSpace(s)
	scale := 1.0
	if strings.HasSuffix(s, "%") {
		s, scale = strings.TrimSpace(strings.TrimSuffix(s, "%")), 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return scalarError(node, fmt.Errorf("%q is not a ratio such as 95%% or 0.95", node.Value))
	}
	*r = Ratio(v / scale)
	return nil
}
