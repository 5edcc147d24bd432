package stream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"
)

// checkNoSecret fails if any secret appears in the error or the log.
func checkNoSecret(t *testing.T, err error, log string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("secret %q in error %q", s, err)
		}
		if strings.Contains(log, s) {
			t.Errorf("secret %q in log %q", s, log)
		}
	}
	if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

// TestWrongPassword: refused credentials give one clear error line that
// wraps ErrAuth and names neither the password nor the token, in the error
// or the log.
func TestWrongPassword(t *testing.T) {
	const user, pass, token = "sensor", "correct-horse-battery", "s3cr3t-t0ken-value"
	srv := startServer(t, ServerConfig{Configure: func(o *server.Options) {
		o.Username, o.Password = user, pass
	}})
	tsrv := startServer(t, ServerConfig{Configure: func(o *server.Options) { o.Authorization = token }})
	urlPW := strings.Replace(srv.URL(), "nats://", "nats://sensor:wrong-url-password@", 1)
	cases := []struct {
		name    string
		conn    ConnConfig
		secrets []string
	}{
		{"password", ConnConfig{URL: srv.URL(), User: user, Password: "wrong-password-123"}, []string{"wrong-password-123"}},
		{"token", ConnConfig{URL: tsrv.URL(), Token: "wrong-token-456"}, []string{"wrong-token-456"}},
		{"url", ConnConfig{URL: urlPW}, []string{"wrong-url-password"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logBuf syncBuffer
			log := zerolog.New(&logBuf).Level(zerolog.DebugLevel)
			_, err := NewPublisher(Config{Conn: c.conn, Logger: log, SpoolDir: t.TempDir()})
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("err = %v, want ErrAuth", err)
			}
			t.Logf("error line: %v", err)
			checkNoSecret(t, err, logBuf.String(), c.secrets...)
			// The config's own printed forms hide secrets too.
			checkNoSecret(t, errors.New(c.conn.String()), "", c.secrets...)
			var zb strings.Builder
			zl := zerolog.New(&zb)
			zl.Info().Object("nats", c.conn).Send()
			checkNoSecret(t, nil, zb.String(), c.secrets...)
			// Tail reports the same way.
			err = Tail(context.Background(), TailConfig{Conn: c.conn, Logger: log}, &strings.Builder{})
			if !errors.Is(err, ErrAuth) {
				t.Fatalf("tail err = %v, want ErrAuth", err)
			}
			checkNoSecret(t, err, logBuf.String(), c.secrets...)
		})
	}
	// And the right password works.
	p := newPublisher(t, Config{Conn: ConnConfig{URL: srv.URL(), User: user, Password: pass}, Logger: testLog(t), Heartbeat: -1})
	p.Violation(violation(0))
	eventually(t, 5*time.Second, "published", func() bool { return p.Stats().Published == 1 })
	closePublisher(t, p, 5*time.Second)
}

// TestNKeyAuth: an NKey seed file authenticates; a wrong one is refused
// without the seed in the error.
func TestNKeyAuth(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.nk"), filepath.Join(dir, "bad.nk")
	if err := os.WriteFile(good, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, ServerConfig{Configure: func(o *server.Options) {
		o.Nkeys = []*server.NkeyUser{{Nkey: pub}}
	}})
	var logBuf syncBuffer
	_, err = NewPublisher(Config{Conn: ConnConfig{URL: srv.URL(), NKeyFile: bad}, Logger: zerolog.New(&logBuf)})
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong nkey: %v", err)
	}
	checkNoSecret(t, err, logBuf.String(), string(otherSeed), string(seed))
	p := newPublisher(t, Config{Conn: ConnConfig{URL: srv.URL(), NKeyFile: good}, Logger: testLog(t), Heartbeat: -1})
	p.Violation(violation(0))
	eventually(t, 5*time.Second, "published", func() bool { return p.Stats().Published == 1 })
	closePublisher(t, p, 5*time.Second)

	_, err = NewPublisher(Config{Conn: ConnConfig{URL: srv.URL(), CredsFile: filepath.Join(dir, "missing.creds")}})
	if err == nil {
		t.Fatal("missing creds file accepted")
	}
	if _, err := NewPublisher(Config{Conn: ConnConfig{Token: "x", User: "u"}}); !errors.Is(err, ErrConfig) {
		t.Errorf("two auth methods: %v", err)
	}
}

// TestMutualTLS: TLS with a private CA and a client certificate.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	caCert, caKey := makeCert(t, dir, "ca", nil, nil, true)
	makeCert(t, dir, "server", caCert, caKey, false)
	makeCert(t, dir, "client", caCert, caKey, false)
	srv := startServer(t, ServerConfig{Configure: func(o *server.Options) {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
			CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"),
			CaFile: filepath.Join(dir, "ca.pem"), Verify: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		o.TLSConfig, o.TLS, o.TLSVerify, o.TLSTimeout = tc, true, true, 2
	}})
	url := strings.Replace(srv.URL(), "nats://", "tls://", 1)
	conn := ConnConfig{URL: url, TLSCA: filepath.Join(dir, "ca.pem"),
		TLSCert: filepath.Join(dir, "client.pem"), TLSKey: filepath.Join(dir, "client-key.pem")}
	p := newPublisher(t, Config{Conn: conn, Logger: testLog(t), Heartbeat: -1})
	p.Violation(violation(0))
	eventually(t, 5*time.Second, "published over TLS", func() bool { return p.Stats().Published == 1 })
	closePublisher(t, p, 5*time.Second)

	noCert := ConnConfig{URL: url, TLSCA: filepath.Join(dir, "ca.pem")}
	if _, err := NewPublisher(Config{Conn: noCert}); err == nil {
		t.Error("server accepted a client without a certificate")
	}
	if _, err := NewPublisher(Config{Conn: ConnConfig{URL: url, TLSCert: conn.TLSCert}}); !errors.Is(err, ErrConfig) {
		t.Errorf("cert without key: %v", err)
	}
}

// makeCert writes name.pem and name-key.pem, signed by parent (self-signed
// when parent is nil).
func makeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "smsswatch test " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	}
	signer, signKey := parent, parentKey
	if parent == nil {
		signer, signKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", kb)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}
