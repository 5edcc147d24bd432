package natsserver

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// Config configures an embedded nats-server.
type Config struct {
	// Host to listen on (default 127.0.0.1).
	Host string
	// Port for clients; 0 picks a free port.
	Port int
	// Name is the server name (default: generated; set it for clusters).
	Name string
	// JetStream enables JetStream, storing in StoreDir.
	JetStream bool
	// StoreDir is where JetStream keeps its files; "" makes a temporary
	// directory that Shutdown removes.
	StoreDir string
	// ClusterName, when set, makes the server a cluster node listening for
	// routes on ClusterPort (0 picks a free port) and connecting to Routes
	// (nats-route://host:port URLs).
	ClusterName string
	ClusterPort int
	Routes      []string
	// Configure, if set, adjusts the server options last (auth, TLS,
	// limits).
	Configure func(*server.Options)
	// Logger receives the server's log at debug level (warnings and errors
	// at their own level); nil keeps it quiet.
	Logger *zerolog.Logger
}

// Server is an in-process nats-server, for the replay command and tests.
type Server struct {
	ns      *server.Server
	tmpDir  string
	once    sync.Once
	storeTo string
}

// Start starts a nats-server in this process and waits until it accepts
// connections.
func Start(cfg Config) (*Server, error) {
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	opts := &server.Options{
		Host:       host,
		Port:       cfg.Port,
		ServerName: cfg.Name,
		NoSigs:     true,
		NoLog:      cfg.Logger == nil,
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	s := &Server{}
	if cfg.JetStream {
		opts.JetStream = true
		opts.StoreDir = cfg.StoreDir
		if opts.StoreDir == "" {
			dir, err := os.MkdirTemp("", "smsswatch-nats-")
			if err != nil {
				return nil, fmt.Errorf("natsserver: %w", err)
			}
			s.tmpDir, opts.StoreDir = dir, dir
		}
		s.storeTo = opts.StoreDir
	}
	if cfg.ClusterName != "" {
		opts.Cluster.Name = cfg.ClusterName
		opts.Cluster.Host = host
		opts.Cluster.Port = cfg.ClusterPort
		if opts.Cluster.Port == 0 {
			opts.Cluster.Port = server.RANDOM_PORT
		}
		opts.Cluster.PoolSize = -1
		for _, r := range cfg.Routes {
			opts.Routes = append(opts.Routes, server.RoutesFromStr(r)...)
		}
	}
	if cfg.Configure != nil {
		cfg.Configure(opts)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(serverLogger{cfg.Logger.With().Str("component", "nats-server").Logger()}, false, false, false)
	}
	s.ns = ns
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		s.cleanup()
		return nil, fmt.Errorf("natsserver on %s did not start", net.JoinHostPort(host, strconv.Itoa(cfg.Port)))
	}
	return s, nil
}

// URL returns the client URL, e.g. nats://127.0.0.1:41234.
func (s *Server) URL() string { return s.ns.ClientURL() }

// Port returns the client port.
func (s *Server) Port() int {
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// RouteURL returns the URL other cluster nodes use to route to this one
// ("" when not clustered).
func (s *Server) RouteURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + a.String()
}

// StoreDir returns the JetStream store directory ("" without JetStream).
func (s *Server) StoreDir() string { return s.storeTo }

// NATSServer returns the underlying server, for tests that need more.
func (s *Server) NATSServer() *server.Server { return s.ns }

// Shutdown stops the server, waits for it, and removes a temporary store.
// It is safe to call more than once.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.cleanup()
	})
}

func (s *Server) cleanup() {
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}

// serverLogger adapts zerolog to the nats-server Logger interface: notices
// go to debug, debug and trace to trace.
type serverLogger struct{ l zerolog.Logger }

func (s serverLogger) Noticef(format string, v ...any) { s.l.Debug().Msgf(format, v...) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warn().Msgf(format, v...) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.l.Error().Msgf(format, v...) }
func (s serverLogger) Errorf(format string, v ...any)  { s.l.Error().Msgf(format, v...) }
func (s serverLogger) Debugf(format string, v ...any)  { s.l.Trace().Msgf(format, v...) }
func (s serverLogger) Tracef(format string, v ...any)  { s.l.Trace().Msgf(format, v...) }
