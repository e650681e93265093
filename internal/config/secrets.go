package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
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
