package config

import (
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package comment's import rule, enforced: config sits at the bottom
// of warren's import graph, above only the vocabularies it validates
// against.
func TestConfigImportsOnlyTheVocabulariesItValidatesAgainst(t *testing.T) {
	allowed := map[string]bool{"github.com/warrenhq/warren/alerting/catalog": true, "github.com/warrenhq/warren/slo": true}
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
			if (path == "github.com/warrenhq/warren" || strings.HasPrefix(path, "github.com/warrenhq/warren/")) && !allowed[path] {
				t.Errorf("%s imports %s: config may import only alerting/catalog and slo of warren", file, path)
			}
		}
	}
}
