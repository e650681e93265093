package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is a string that never prints: fmt, logs and errors see <secret>.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// MarshalYAML hides the value when a configuration is printed.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// validatePassword checks the password and password_file of the mapping at
// path (a lineOf path): one or the other (one is needed when required),
// and a password_file that can be read (not checked WithoutSecrets). It
// resolves password_file against the configuration's folder.
func (p *parser) validatePassword(root *yaml.Node, path []any, password Secret, file *string, required bool) {
	fail := func(field, format string, args ...any) {
		full := append(slices.Clone(path), field)
		p.add(lineOf(root, full...), pathString(full), format, args...)
	}
	*file = p.resolve(*file)
	switch {
	case password != "" && *file != "":
		fail("password_file", "set password or password_file, not both")
	case required && password == "" && *file == "":
		fail("password", "is required: set password or password_file")
	case *file != "" && !p.options.withoutSecrets:
		if _, err := readSecretFile(*file); err != nil {
			fail("password_file", "%v", err)
		}
	}
}

func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read password file: %w", unwrapPathError(err))
	}
	// Files written by editors and `echo` end in a newline that is not
	// part of the secret, as Prometheus assumes too.
	return strings.TrimRight(string(b), "\r\n"), nil
}

// ManagementPassword returns the password for the management API, reading
// password_file afresh so that a rotated secret is picked up.
func (t *Target) ManagementPassword() (string, error) {
	if t.PasswordFile != "" {
		return readSecretFile(t.PasswordFile)
	}
	return string(t.Password), nil
}

// AlertmanagerPassword returns the basic-auth password, reading
// password_file afresh so that a rotated secret is picked up.
func (a AlertmanagerConfig) AlertmanagerPassword() (string, error) {
	if a.PasswordFile != "" {
		return readSecretFile(a.PasswordFile)
	}
	return string(a.Password), nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}
