package stream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Sentinel errors callers can test with errors.Is.
var (
	// ErrConfig is wrapped by every configuration error.
	ErrConfig = errors.New("stream: invalid configuration")
	// ErrAuth is wrapped when the NATS server refuses the credentials.
	ErrAuth = errors.New("stream: NATS server refused the credentials")
	// ErrConnect is wrapped when no NATS server could be reached.
	ErrConnect = errors.New("stream: cannot connect to NATS")
	// ErrClosed is returned by a Publisher used after Close.
	ErrClosed = errors.New("stream: publisher closed")
	// ErrUndelivered is wrapped by Close when violations could be neither
	// delivered nor persisted (no spool directory).
	ErrUndelivered = errors.New("stream: violations not delivered")
)

// DefaultURL is the NATS server used when none is configured.
const DefaultURL = nats.DefaultURL

// ConnConfig says how to reach and authenticate to NATS. At most one of
// User/Password, Token, NKeyFile and CredsFile is used. Its String and
// zerolog forms never show secrets.
type ConnConfig struct {
	// URL is one or more comma-separated server URLs (nats://, tls://).
	URL string
	// Name is the client name the server shows (connz).
	Name string
	// User and Password authenticate with a user name and password.
	User, Password string
	// Token authenticates with a token.
	Token string
	// NKeyFile is a file holding an NKey user seed (SU...).
	NKeyFile string
	// CredsFile is a .creds file (user JWT and seed).
	CredsFile string
	// TLSCA is a PEM file of CAs to verify the server with.
	TLSCA string
	// TLSCert and TLSKey are the client certificate and key (mutual TLS).
	TLSCert, TLSKey string
	// ConnectTimeout bounds one connection attempt (default 2 s).
	ConnectTimeout time.Duration
}

// Validate checks that the settings can be used together.
func (c *ConnConfig) Validate() error {
	n := 0
	if c.User != "" || c.Password != "" {
		n++
		if c.User == "" {
			return fmt.Errorf("%w: a password needs a user", ErrConfig)
		}
	}
	for _, s := range []string{c.Token, c.NKeyFile, c.CredsFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: use only one of user/password, token, nkey and creds", ErrConfig)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("%w: a TLS client certificate needs its key and the key its certificate", ErrConfig)
	}
	for _, u := range strings.Split(c.url(), ",") {
		if _, err := url.Parse(strings.TrimSpace(u)); err != nil {
			return fmt.Errorf("%w: NATS URL %q is not a URL", ErrConfig, redactURL(u))
		}
	}
	return nil
}

func (c *ConnConfig) url() string {
	if c.URL == "" {
		return DefaultURL
	}
	return c.URL
}

// RedactedURL returns the server URLs with any user information removed.
func (c *ConnConfig) RedactedURL() string {
	parts := strings.Split(c.url(), ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return redactText(strings.Join(parts, ","), c.secrets())
}

// String describes the configuration without its secrets.
func (c ConnConfig) String() string {
	return fmt.Sprintf("nats %s auth=%s tls=%t", c.RedactedURL(), c.authKind(), c.TLSCA != "" || c.TLSCert != "")
}

// MarshalZerologObject logs the configuration without its secrets.
func (c ConnConfig) MarshalZerologObject(e *zerolog.Event) {
	e.Str("url", c.RedactedURL()).Str("auth", c.authKind())
	if c.TLSCA != "" {
		e.Str("tls_ca", c.TLSCA)
	}
	if c.TLSCert != "" {
		e.Str("tls_cert", c.TLSCert)
	}
}

func (c *ConnConfig) authKind() string {
	switch {
	case c.User != "":
		return "user"
	case c.Token != "":
		return "token"
	case c.NKeyFile != "":
		return "nkey"
	case c.CredsFile != "":
		return "creds"
	}
	for _, u := range strings.Split(c.url(), ",") {
		if pu, err := url.Parse(strings.TrimSpace(u)); err == nil && pu.User != nil {
			return "url"
		}
	}
	return "none"
}

// redactURL removes the user information (token, user:password) from one
// URL.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if j := strings.LastIndex(rest, "@"); j >= 0 {
			return s[:i+3] + "[REDACTED]@" + rest[j+1:]
		}
		return s
	}
	if j := strings.LastIndex(s, "@"); j >= 0 {
		return "[REDACTED]@" + s[j+1:]
	}
	return s
}

// secrets lists the strings that must never appear in an error or a log.
func (c *ConnConfig) secrets() []string {
	var out []string
	for _, s := range []string{c.Password, c.Token} {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, u := range strings.Split(c.url(), ",") {
		u = strings.TrimSpace(u)
		if i := strings.Index(u, "://"); i >= 0 {
			rest := u[i+3:]
			if j := strings.LastIndex(rest, "@"); j >= 0 {
				info := rest[:j]
				out = append(out, info)
				if k := strings.IndexByte(info, ':'); k >= 0 {
					out = append(out, info[k+1:])
				}
			}
		}
	}
	return out
}

// redactedError is an error whose text had secrets removed. Unwrap still
// reaches the sentinel errors (errors.Is works) but not the raw text.
type redactedError struct {
	msg string
	err error
}

// Error returns the text without secrets.
func (e *redactedError) Error() string { return e.msg }

// Is lets errors.Is see the original error's sentinels.
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// scrub returns err with every secret of c removed from its text.
func (c *ConnConfig) scrub(err error) error {
	if err == nil {
		return nil
	}
	return c.scrubWith(err, c.secrets())
}

func (c *ConnConfig) scrubWith(err error, secrets []string) error {
	raw := err.Error()
	msg := redactText(raw, secrets)
	if msg == raw {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

// Credential shapes removed from any text that is logged or returned,
// whether or not the configuration named them: NKey seeds (S + key type +
// base32), JWTs (NATS user JWTs, any "eyJ..." token), creds-file blocks,
// and the user information of URLs (tokens and user:password).
var (
	seedRE    = regexp.MustCompile(`\bS[ONACPUX][A-Z2-7]{50,}`)
	jwtRE     = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.?[A-Za-z0-9_-]*`)
	credsRE   = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*(JWT|SEED|KEY)[A-Z ]*-----.*?(-----END [A-Z ]*-----|$)`)
	urlInfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s"',]*@`)
)

// redactText removes secrets and every credential shape from s.
func redactText(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	s = credsRE.ReplaceAllString(s, "[REDACTED]")
	s = jwtRE.ReplaceAllString(s, "[REDACTED]")
	s = seedRE.ReplaceAllString(s, "[REDACTED]")
	return urlInfoRE.ReplaceAllString(s, "${1}[REDACTED]@")
}

// redact removes c's secrets and every credential shape from s.
func (c *ConnConfig) redact(s string) string { return redactText(s, c.secrets()) }

// options returns the nats.go options for c.
func (c *ConnConfig) options() ([]nats.Option, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	timeout := c.ConnectTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	opts := []nats.Option{nats.Timeout(timeout)}
	if c.Name != "" {
		opts = append(opts, nats.Name(c.Name))
	}
	switch {
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			// The error names the file, never its contents.
			return nil, fmt.Errorf("%w: nkey seed file %s: %w", ErrConfig, c.NKeyFile, c.scrub(err))
		}
		opts = append(opts, o)
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts, nil
}

// isAuthError reports whether err is the server refusing the credentials
// (nats.go's protocol errors compare equal to these with errors.Is).
func isAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

// isUnreachable reports whether err means no server answered (as opposed
// to a server that refused us), so that retrying later makes sense: no
// server, a refused, reset or unroutable connection, a failed dial, a
// connection closed under us, or a timeout.
func isUnreachable(err error) bool {
	for _, target := range [...]error{
		nats.ErrNoServers, nats.ErrTimeout, io.EOF, io.ErrUnexpectedEOF,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EHOSTUNREACH, syscall.ENETUNREACH,
		os.ErrDeadlineExceeded,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// connectError turns a nats.Connect error into one clear, secret-free error.
func (c *ConnConfig) connectError(err error) error {
	err = c.scrub(err)
	if isAuthError(err) {
		return fmt.Errorf("%w (%s auth): %s: %w", ErrAuth, c.authKind(), c.RedactedURL(), err)
	}
	return fmt.Errorf("%w: %s: %w", ErrConnect, c.RedactedURL(), err)
}

// Connect opens a NATS connection for c, adding extra options after the
// configured ones. It fails at once when no server answers or the
// credentials are refused (ErrConnect, ErrAuth); after that the connection
// reconnects for ever. Errors never contain secrets.
func Connect(c ConnConfig, log zerolog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	return dial(&c, log, connHooks{}, false, extra...)
}

// connHooks are called on connection changes, after logging.
type connHooks struct {
	connected    func()
	disconnected func()
}

// dial connects; with retry, a server that does not answer yet is not an
// error (the connection keeps trying in the background) but refused
// credentials and bad TLS files still are.
func dial(c *ConnConfig, log zerolog.Logger, hooks connHooks, retry bool, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := c.options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.MaxReconnects(-1), nats.CustomReconnectDelay(reconnectDelay))
	opts = append(opts, logHandlers(c, log, hooks)...)
	opts = append(opts, extra...)
	nc, err := nats.Connect(c.url(), opts...)
	if err == nil {
		return nc, nil
	}
	if !retry || !isUnreachable(err) || isAuthError(err) {
		return nil, c.connectError(err)
	}
	log.Warn().Str("url", c.RedactedURL()).Err(c.scrub(err)).Msg("NATS not reachable yet; spooling until it is")
	nc, err = nats.Connect(c.url(), append(opts, nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, c.connectError(err)
	}
	return nc, nil
}

// reconnectDelay backs off from 100 ms to 2 s between reconnect rounds.
func reconnectDelay(attempts int) time.Duration {
	d := 100 * time.Millisecond << min(attempts, 5)
	return min(d, 2*time.Second)
}

// logHandlers logs connection changes on log, secrets removed, and calls
// hooks.
func logHandlers(c *ConnConfig, log zerolog.Logger, hooks connHooks) []nats.Option {
	var lastErr limiter
	call := func(f func()) {
		if f != nil {
			f()
		}
	}
	return []nats.Option{
		nats.ConnectHandler(func(nc *nats.Conn) {
			// ConnectedUrlRedacted masks a password but shows a token
			// (nats://token@host): redact all user information.
			log.Info().Str("server", c.redact(redactURL(nc.ConnectedUrl()))).Msg("connected to NATS")
			call(hooks.connected)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(c.scrub(err)).Msg("disconnected from NATS")
			} else {
				log.Debug().Msg("disconnected from NATS")
			}
			call(hooks.disconnected)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("server", c.redact(redactURL(nc.ConnectedUrl()))).Msg("reconnected to NATS")
			call(hooks.connected)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if lastErr.allow(10 * time.Second) {
				log.Warn().Err(c.scrub(err)).Msg("NATS error")
			}
		}),
	}
}

// limiter lets an event through at most once per period.
type limiter struct {
	mu   sync.Mutex
	last time.Time
}

func (l *limiter) allow(every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		return false
	}
	l.last = now
	return true
}
