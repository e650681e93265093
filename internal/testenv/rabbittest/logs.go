package rabbittest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// consoleSince returns what the node wrote to console.log since it was last
// launched.
func (n *Node) consoleSince() string {
	f, err := os.Open(filepath.Join(n.Dir, "log", "console.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(n.consoleOffset, io.SeekStart); err != nil {
		return ""
	}
	data, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(data)
}

// LogTail returns the last lines lines of each of the node's log files, for
// error messages.
func (n *Node) LogTail(lines int) string {
	paths, _ := filepath.Glob(filepath.Join(n.Dir, "log", "*.log"))
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "--- %s (last %d lines) ---\n%s\n", p, lines, tail(string(data), lines))
	}
	if b.Len() == 0 {
		return "(no log files in " + filepath.Join(n.Dir, "log") + ")"
	}
	return b.String()
}

func tail(s string, lines int) string {
	s = strings.TrimRight(s, "\n")
	idx := len(s)
	for i := 0; i < lines; i++ {
		j := strings.LastIndexByte(s[:idx], '\n')
		if j < 0 {
			return s
		}
		idx = j
	}
	return s[idx+1:]
}
