package rabbittest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// writeTLSFiles makes a self-signed certificate for 127.0.0.1 and
// localhost in the node's directory, and returns the rabbitmq.conf lines
// of an AMQPS listener on port that presents it.
func (n *Node) writeTLSFiles(port int) (string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "rabbittest " + n.Name},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	n.CACertFile = filepath.Join(n.Dir, "tls-cert.pem")
	keyFile := filepath.Join(n.Dir, "tls-key.pem")
	if err := os.WriteFile(n.CACertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", err
	}
	return fmt.Sprintf("listeners.ssl.1 = 127.0.0.1:%d\nssl_options.certfile = %s\nssl_options.keyfile = %s\nssl_options.cacertfile = %s\n"+
		"ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n", port, n.CACertFile, keyFile, n.CACertFile), nil
}

// TLSConfig is a client configuration that trusts the node's AMQPS
// listener (Options.TLS); nil without one.
func (n *Node) TLSConfig() *tls.Config {
	if n.CACertFile == "" {
		return nil
	}
	pemBytes, err := os.ReadFile(n.CACertFile)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}
