package config

import (
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package comment's import rule, enforced: config is the bottom of
// warren's import graph.
func TestConfigImportsNothingOfWarren(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(token.NewFileSet(), file, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == "github.com/warrenhq/warren" || strings.HasPrefix(path, "github.com/warrenhq/warren/") {
				t.Errorf("%s imports %s: config must import nothing of warren", file, path)
			}
		}
	}
}
