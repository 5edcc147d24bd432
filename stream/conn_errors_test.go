package stream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestConnErrorClasses: connection errors are classified by type, never by
// their text: an error that merely says "EOF" or "authentication" is
// neither unreachable nor an auth failure.
func TestConnErrorClasses(t *testing.T) {
	cases := []struct {
		name              string
		err               error
		unreachable, auth bool
	}{
		{"no servers", nats.ErrNoServers, true, false},
		{"nats timeout", fmt.Errorf("connect: %w", nats.ErrTimeout), true, false},
		{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true, false},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true, false},
		{"closed under us", fmt.Errorf("read: %w", io.EOF), true, false},
		{"deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), true, false},
		{"authorization", nats.ErrAuthorization, false, true},
		{"auth expired", fmt.Errorf("x: %w", nats.ErrAuthExpired), false, true},
		{"text EOF only", errors.New("unexpected EOF in certificate"), false, false},
		{"text authentication only", errors.New("authentication of the TLS file failed"), false, false},
		{"remote TLS alert", &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := isUnreachable(c.err); got != c.unreachable {
				t.Errorf("isUnreachable = %v, want %v", got, c.unreachable)
			}
			if got := isAuthError(c.err); got != c.auth {
				t.Errorf("isAuthError = %v, want %v", got, c.auth)
			}
		})
	}
}

// TestConnectErrorWraps: Connect's errors wrap ErrConnect (nothing
// listening) or ErrAuth (refused credentials) for errors.Is.
func TestConnectErrorWraps(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + l.Addr().String()
	_ = l.Close() // nothing listens there now
	_, err = Connect(ConnConfig{URL: url}, testLog(t))
	if !errors.Is(err, ErrConnect) || errors.Is(err, ErrAuth) {
		t.Fatalf("Connect to a closed port = %v, want ErrConnect", err)
	}
}
