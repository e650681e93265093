package config

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// parser walks the YAML tree beside the Go types it decodes into, so that
// every error can name the line and the field it comes from.
type parser struct {
	file    string
	options options
	errs    Errors
	// fieldAtLine maps a line to the path of the key on that line, to
	// place the errors yaml.v3 reports by line only; fieldAtValue maps the
	// position of a value to its path, for the errors of our own scalar
	// types, which know their position (several keys may share a line in
	// a flow mapping such as {queue: "(", threshold: 30s}).
	fieldAtLine  map[int]string
	fieldAtValue map[[2]int]string
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	yamlLineRE      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	scalarErrorRE   = regexp.MustCompile(`^column (\d+): (.*)$`)
)

func syntaxError(file string, err error) FieldError {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return FieldError{File: file, Line: line, Message: "invalid YAML: " + m[2]}
	}
	return FieldError{File: file, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

func (p *parser) add(line int, field, format string, args ...any) {
	p.errs = append(p.errs, FieldError{File: p.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// decode checks the tree for unknown keys and shape errors, then decodes
// it into v, collecting every error instead of stopping at the first.
func (p *parser) decode(node *yaml.Node, v any) {
	p.fieldAtLine = map[int]string{}
	p.fieldAtValue = map[[2]int]string{}
	p.checkShape(node, reflect.TypeOf(v).Elem(), "")
	if len(p.errs) > 0 {
		return
	}
	err := node.Decode(v)
	var te *yaml.TypeError
	switch {
	case err == nil:
	case errors.As(err, &te):
		for _, msg := range te.Errors {
			p.addYAMLError(msg)
		}
	default:
		p.add(node.Line, "", "%v", err)
	}
}

func (p *parser) addYAMLError(msg string) {
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		p.add(0, "", "%s", msg)
		return
	}
	line, _ := strconv.Atoi(m[1])
	if c := scalarErrorRE.FindStringSubmatch(m[2]); c != nil {
		column, _ := strconv.Atoi(c[1])
		if field, ok := p.fieldAtValue[[2]int{line, column}]; ok {
			p.add(line, field, "%s", c[2])
			return
		}
		m[2] = c[2]
	}
	p.add(line, p.fieldAtLine[line], "%s", m[2])
}

// checkShape rejects keys that t does not have, recursively, and records
// the field path of every key line.
func (p *parser) checkShape(node *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || (node.Kind == yaml.ScalarNode && node.Tag == "!!null") {
		return // a scalar type of ours, or an empty value: Decode checks it
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			p.add(node.Line, path, "must be a mapping of keys to values")
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			child := joinPath(path, key.Value)
			p.fieldAtLine[key.Line] = child
			p.fieldAtValue[[2]int{value.Line, value.Column}] = child
			f, ok := fields[key.Value]
			if !ok {
				p.add(key.Line, child, "unknown field %q (known fields: %s)", key.Value, strings.Join(sortedKeys(fields), ", "))
				continue
			}
			p.checkShape(value, f.Type, child)
		}
	case reflect.Slice:
		if node.Kind != yaml.SequenceNode {
			p.add(node.Line, path, "must be a list")
			return
		}
		for i, item := range node.Content {
			child := fmt.Sprintf("%s[%d]", path, i)
			p.fieldAtLine[item.Line] = child
			p.checkShape(item, t.Elem(), child)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	fields := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f
	}
	return fields
}

func sortedKeys(m map[string]reflect.StructField) []string {
	return slices.Sorted(maps.Keys(m))
}

// lineOf finds the line of the node at path (string keys and int indices)
// below root, or of its deepest existing ancestor.
func lineOf(root *yaml.Node, path ...any) int {
	node, line := root, root.Line
	for _, step := range path {
		switch s := step.(type) {
		case string:
			if node.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(node.Content); i += 2 {
				if node.Content[i].Value == s {
					node, line, found = node.Content[i+1], node.Content[i].Line, true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if node.Kind != yaml.SequenceNode || s >= len(node.Content) {
				return line
			}
			node = node.Content[s]
			line = node.Line
		}
	}
	return line
}

// scalarError is what our scalar types return: a *yaml.TypeError, so that
// yaml.v3 keeps decoding and reports every bad value with its line.
func scalarError(node *yaml.Node, err error) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %v", node.Line, node.Column, err)}}
}
