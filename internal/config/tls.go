package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// TLSConfig is the client side of TLS, spelled as in Prometheus.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// validateTLS checks the tls_config at path (a lineOf path) and resolves
// its files against the configuration's folder; it reads them, to prove
// they make a TLS configuration, unless WithoutSecrets.
func (p *parser) validateTLS(root *yaml.Node, path []any, c *TLSConfig) {
	fail := func(field, format string, args ...any) {
		full := append(slices.Clone(path), field)
		p.add(lineOf(root, full...), pathString(full), format, args...)
	}
	c.CAFile, c.CertFile, c.KeyFile = p.resolve(c.CAFile), p.resolve(c.CertFile), p.resolve(c.KeyFile)
	if (c.CertFile == "") != (c.KeyFile == "") {
		fail("cert_file", "cert_file and key_file go together")
		return
	}
	if p.options.withoutSecrets {
		return
	}
	if _, err := c.Build(); err != nil {
		field := "ca_file"
		if errors.Is(err, errClientCert) {
			field = "cert_file"
		}
		fail(field, "%v", err)
	}
}

var errClientCert = errors.New("client certificate")

// Build turns the settings into a *tls.Config (nil when nothing is set).
func (c TLSConfig) Build() (*tls.Config, error) {
	if c == (TLSConfig{}) {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read CA file: %w", unwrapPathError(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errClientCert, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
