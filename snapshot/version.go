package snapshot

import (
	"strconv"
	"strings"
)

// VersionAtLeast compares a RabbitMQ version string such as "3.13.7" or
// "4.0.0-beta.1" with major.minor.
func VersionAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, ok1 := leadingInt(parts[0])
	mnr, ok2 := leadingInt(parts[1])
	if !ok1 || !ok2 {
		return false
	}
	return maj > major || (maj == major && mnr >= minor)
}

// leadingInt parses the digits at the start of s ("13-rc1" is 13).
func leadingInt(s string) (int, bool) {
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	return n, err == nil
}
