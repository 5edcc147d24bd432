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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/smsswatch/smsswatch/stream/natsserver"
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
	srv := startServer(t, natsserver.Config{Configure: func(o *server.Options) {
		o.Username, o.Password = user, pass
	}})
	tsrv := startServer(t, natsserver.Config{Configure: func(o *server.Options) { o.Authorization = token }})
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
	srv := startServer(t, natsserver.Config{Configure: func(o *server.Options) {
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
	srv := startServer(t, natsserver.Config{Configure: func(o *server.Options) {
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

// TestCredentialsNeverLogged: every log line of a connect, reconnect and
// failure cycle against a real server (the publisher's, tail's and the
// embedded server's own), every error and every printed form of the
// configuration is free of the credentials, in every form: a token in the
// URL, user:password in the URL, a token, an NKey seed, a creds file's JWT
// and seed. Before, a token URL was logged in clear on connect and
// reconnect.
func TestCredentialsNeverLogged(t *testing.T) {
	const token, urlPass = "s3cr3t-url-t0ken", "url-pa55w0rd"
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	// A syntactically plausible creds file the server will refuse.
	jwt := "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJzZWNyZXQtY2xhaW1zIn0.c2lnbmF0dXJlLXNlY3JldA"
	credsFile := filepath.Join(dir, "user.creds")
	creds := "-----BEGIN NATS USER JWT-----\n" + jwt + "\n------END NATS USER JWT------\n\n" +
		"-----BEGIN USER NKEY SEED-----\n" + string(seed) + "\n------END USER NKEY SEED------\n"
	if err := os.WriteFile(credsFile, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{token, urlPass, string(seed), jwt, "secret-claims"}

	var logBuf syncBuffer
	log := zerolog.New(&logBuf).Level(zerolog.TraceLevel)
	port := freePort(t)
	tokenServer := func() *natsserver.Server {
		return startServer(t, natsserver.Config{Port: port, Logger: &log, Configure: func(o *server.Options) { o.Authorization = token }})
	}
	srv := tokenServer()
	tokenURL := strings.Replace(srv.URL(), "nats://", "nats://"+token+"@", 1)
	if !strings.Contains(tokenURL, token+"@127.0.0.1") {
		t.Fatalf("token URL %q", tokenURL)
	}
	var errs []error

	// Connect and publish with the token in the URL.
	p := newPublisher(t, Config{Conn: ConnConfig{URL: tokenURL, Name: "creds-test"}, Logger: log, Heartbeat: -1})
	p.Violation(violation(0))
	eventually(t, 5*time.Second, "published", func() bool { return p.Stats().Published == 1 })
	// The server goes away and comes back: disconnect and reconnect lines.
	srv.Shutdown()
	eventually(t, 5*time.Second, "disconnect noticed", func() bool { return !p.Stats().Connected })
	p.Violation(violation(1))
	tokenServer() // the same port again: the publisher reconnects to it
	eventually(t, 10*time.Second, "reconnected and published", func() bool { return p.Stats().Published == 2 })
	closePublisher(t, p, 5*time.Second)
	if !strings.Contains(logBuf.String(), "reconnected to NATS") {
		t.Fatalf("no reconnect logged:\n%s", logBuf.String())
	}

	// Failures: every credential form refused, and a server that is gone.
	userPassServer := startServer(t, natsserver.Config{Logger: &log, Configure: func(o *server.Options) {
		o.Username, o.Password = "sensor", "right-password"
	}})
	failures := []ConnConfig{
		{URL: strings.Replace(userPassServer.URL(), "nats://", "nats://sensor:"+urlPass+"@", 1)},
		{URL: userPassServer.URL(), Token: token},
		{URL: userPassServer.URL(), NKeyFile: seedFile},
		{URL: userPassServer.URL(), CredsFile: credsFile},
		{URL: "nats://" + token + "@127.0.0.1:" + strconv.Itoa(freePort(t)), ConnectTimeout: 200 * time.Millisecond},
	}
	for i, c := range failures {
		p, err := NewPublisher(Config{Conn: c, Logger: log, SpoolDir: t.TempDir(), Heartbeat: -1})
		if unreachable := i == len(failures)-1; unreachable {
			// No server: the publisher spools and retries (logging that).
			if err != nil {
				t.Fatalf("unreachable server: %v", err)
			}
			p.Violation(violation(2))
			closePublisher(t, p, time.Second)
		} else if err == nil {
			t.Fatalf("%s: connected with refused credentials", c)
		}
		errs = append(errs, err, Tail(context.Background(), TailConfig{Conn: c, Logger: log}, &strings.Builder{}))
		errs = append(errs, errors.New(c.String()), errors.New(c.RedactedURL()))
		var zb strings.Builder
		zl := zerolog.New(&zb)
		zl.Info().Object("nats", c).Send()
		errs = append(errs, errors.New(zb.String()))
	}
	out := logBuf.String()
	if !strings.Contains(out, "connected to NATS") || !strings.Contains(out, "127.0.0.1") {
		t.Fatalf("expected connection lines with the server address:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, s) {
					t.Errorf("secret %q logged: %s", s, line)
				}
			}
		}
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), s) {
				t.Errorf("secret %q in %q", s, err)
			}
		}
	}
	t.Logf("%d log lines checked", strings.Count(out, "\n"))
}

// TestRedactText: each credential form is removed from any text.
func TestRedactText(t *testing.T) {
	cases := []struct{ in, secret string }{
		{"connected to nats://s3cr3t@10.0.0.1:4222", "s3cr3t"},
		{"dial tls://user:pa55@host:4222 failed", "pa55"},
		{"seed SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU in error", "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU"},
		{"jwt eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJVQSJ9.sig-part_1 bad", "eyJzdWIiOiJVQSJ9"},
		{"-----BEGIN NATS USER JWT-----\nabc.def\n------END NATS USER JWT------", "abc.def"},
	}
	for _, c := range cases {
		if got := redactText(c.in, nil); strings.Contains(got, c.secret) {
			t.Errorf("redactText(%q) = %q", c.in, got)
		}
	}
	if got := redactText("nats://127.0.0.1:4222 ok", nil); got != "nats://127.0.0.1:4222 ok" {
		t.Errorf("plain URL changed: %q", got)
	}
}
