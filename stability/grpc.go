package stability

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/holeycow/holeycow/stability/connlimit"
	"github.com/holeycow/holeycow/stability/internal/wire"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

const (
	serviceName    = "holeycow.stability.v1.Stability"
	methodPreserve = "/" + serviceName + "/Preserve"
	methodReset    = "/" + serviceName + "/Reset"
	// grpcSlack leaves room for gRPC framing over wire.MaxMessageSize.
	grpcSlack = 1 << 10
)

// codec is the gRPC codec for this package's messages: the hand-written
// binary encoding, no protobuf. A message that fails to decode fails its
// RPC (gRPC answers codes.Internal) and is logged.
type codec struct{ log *slog.Logger }

func (codec) Name() string { return "holeycow-stability-v1" }

func (codec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case *PreserveRequest:
		return (*wire.PreserveRequest)(m).Marshal()
	case *PreserveResponse:
		return (*wireResponse)(m).Marshal()
	case *ResetFrame:
		return (*wireFrame)(m).Marshal()
	}
	return nil, fmt.Errorf("%w: cannot encode %T", ErrMalformed, v)
}

func (c codec) Unmarshal(data []byte, v any) (err error) {
	switch m := v.(type) {
	case *PreserveRequest:
		var d *wire.PreserveRequest
		if d, err = wire.DecodePreserveRequest(data); err == nil {
			*m = PreserveRequest(*d)
		}
	case *PreserveResponse:
		var d *wireResponse
		if d, err = wire.DecodePreserveResponse[Code](data); err == nil {
			*m = PreserveResponse(*d)
		}
	case *ResetFrame:
		var d *wireFrame
		if d, err = wire.DecodeResetFrame[FrameType, Code](data); err == nil {
			*m = ResetFrame(*d)
		}
	default:
		err = fmt.Errorf("%w: cannot decode into %T", ErrMalformed, v)
	}
	if err != nil {
		c.log.Error("stability: bad message", "err", err, "bytes", len(data))
	}
	return err
}

// GRPCConfig configures the gRPC transport and server of one node.
type GRPCConfig struct {
	ID     string               // this node's ID, as in Cert
	Cert   tls.Certificate      // this node's certificate (client and server auth)
	CA     *x509.CertPool       // the cluster CA
	Allow  func(id string) bool // server: which authenticated nodes may call (nil: any the CA vouches for)
	Logger *slog.Logger
	// Limits bound the server's connections.
	Limits GRPCLimits
}

// Defaults of GRPCLimits.
const (
	DefaultHandshakeTimeout     = 5 * time.Second
	DefaultMaxConns             = 256
	DefaultMaxConcurrentStreams = 64
	DefaultIdleTimeout          = 5 * time.Minute
)

// GRPCLimits bound the connections a GRPCServer accepts. Zero fields take
// the defaults; a negative MaxConns or IdleTimeout means no bound.
type GRPCLimits struct {
	// HandshakeTimeout bounds a new connection's TLS and HTTP/2
	// handshakes: a connection still silent then is closed (gRPC's own
	// default is 120s).
	HandshakeTimeout time.Duration
	// MaxConns caps the open connections. At the cap, a new connection
	// closes the oldest one still in its handshake (not yet
	// authenticated); if none is, the new one is closed.
	MaxConns int
	// MaxConcurrentStreams bounds the RPCs in flight on one connection.
	MaxConcurrentStreams uint32
	// IdleTimeout closes a connection without RPCs for that long (the
	// client reconnects on its next call).
	IdleTimeout time.Duration
}

func (l GRPCLimits) withDefaults() GRPCLimits {
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = DefaultHandshakeTimeout
	}
	switch {
	case l.MaxConns == 0:
		l.MaxConns = DefaultMaxConns
	case l.MaxConns < 0:
		l.MaxConns = 0
	}
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	switch {
	case l.IdleTimeout == 0:
		l.IdleTimeout = DefaultIdleTimeout
	case l.IdleTimeout < 0:
		l.IdleTimeout = 0 // keepalive: infinity
	}
	return l
}

func (c *GRPCConfig) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// GRPCServer serves a Handler over gRPC with mutual TLS.
//
// Concurrency: safe for concurrent use.
type GRPCServer struct {
	s   *grpc.Server
	h   Handler
	log *slog.Logger
	lim GRPCLimits

	mu struct {
		sync.Mutex
		lns []*connlimit.Listener // those Serve wrapped
	}
}

// NewGRPCServer returns a server for h; call Serve with a listener.
func NewGRPCServer(cfg GRPCConfig, h Handler) (*GRPCServer, error) {
	tc, err := ServerTLS(cfg.Cert, cfg.CA, cfg.Allow)
	if err != nil {
		return nil, err
	}
	log := cfg.logger().With("node", cfg.ID)
	lim := cfg.Limits.withDefaults()
	gs := &GRPCServer{h: h, log: log, lim: lim}
	kp := keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}
	if lim.IdleTimeout > 0 {
		kp.MaxConnectionIdle = lim.IdleTimeout
	}
	gs.s = grpc.NewServer(
		grpc.Creds(markingCreds{credentials.NewTLS(tc)}),
		grpc.ForceServerCodec(codec{log}),
		grpc.MaxRecvMsgSize(wire.MaxMessageSize+grpcSlack),
		grpc.MaxSendMsgSize(wire.MaxMessageSize+grpcSlack),
		grpc.ConnectionTimeout(lim.HandshakeTimeout),
		grpc.MaxConcurrentStreams(lim.MaxConcurrentStreams),
		grpc.KeepaliveParams(kp),
		// Clients send no keepalive pings; one that pings more than every
		// 10s is told to go away.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	gs.s.RegisterService(&grpc.ServiceDesc{
		ServiceName: serviceName,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Preserve", Handler: gs.preserve}},
		Streams:     []grpc.StreamDesc{{StreamName: "Reset", Handler: gs.reset, ServerStreams: true, ClientStreams: true}},
	}, gs)
	return gs, nil
}

// Serve serves on lis, capped at the Limits' MaxConns, until Stop. A
// connection may start with MuxPreamble (dropped), so lis may be a port of
// its own or the stability connections of a shared port
// (raftcluster.TLSTransport.StabilityListener).
func (s *GRPCServer) Serve(lis net.Listener) error {
	ln := connlimit.New(preambleListener{lis}, s.lim.MaxConns)
	s.mu.Lock()
	s.mu.lns = append(s.mu.lns, ln)
	s.mu.Unlock()
	return s.s.Serve(ln)
}

// ConnStats reports the open connections of the listeners Serve serves,
// and those closed to stay under the Limits' MaxConns.
func (s *GRPCServer) ConnStats() (open int, evicted, rejected uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ln := range s.mu.lns {
		st := ln.Stats()
		open, evicted, rejected = open+st.Open, evicted+st.Evicted, rejected+st.Rejected
	}
	return open, evicted, rejected
}

// markingCreds marks a connection authenticated once its TLS handshake
// succeeds, so that the connection cap no longer evicts it.
type markingCreds struct {
	credentials.TransportCredentials
}

func (m markingCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, ai, err := m.TransportCredentials.ServerHandshake(raw)
	if err == nil {
		if lc := connlimit.Of(raw); lc != nil {
			lc.SetEvictable(false)
		}
	}
	return c, ai, err
}

func (m markingCreds) Clone() credentials.TransportCredentials {
	return markingCreds{m.TransportCredentials.Clone()}
}

// Stop closes the listeners and connections at once.
func (s *GRPCServer) Stop() { s.s.Stop() }

// peerID returns the authenticated node ID of the caller.
func peerID(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", errNoTLS
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", errNoTLS
	}
	return NodeID(ti.State.PeerCertificates[0])
}

func (s *GRPCServer) preserve(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	from, err := peerID(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	req := new(PreserveRequest)
	if err := dec(req); err != nil {
		s.log.Error("stability: bad request", "from", from, "err", err)
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return s.h.HandlePreserve(ctx, from, req), nil
}

func (s *GRPCServer) reset(_ any, stream grpc.ServerStream) error {
	from, err := peerID(stream.Context())
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	return s.h.HandleReset(stream.Context(), from, grpcStream{stream})
}

type grpcStream struct {
	s interface {
		SendMsg(any) error
		RecvMsg(any) error
	}
}

func (g grpcStream) Send(f *ResetFrame) error { return g.s.SendMsg(f) }

func (g grpcStream) Recv() (*ResetFrame, error) {
	f := new(ResetFrame)
	if err := g.s.RecvMsg(f); err != nil {
		return nil, err
	}
	return f, nil
}

// GRPCTransport dials peers over gRPC with mutual TLS.
//
// Concurrency: safe for concurrent use.
type GRPCTransport struct {
	cfg GRPCConfig
	log *slog.Logger
}

var _ Transport = (*GRPCTransport)(nil)

// NewGRPCTransport returns a transport that presents cfg.Cert.
func NewGRPCTransport(cfg GRPCConfig) (*GRPCTransport, error) {
	if err := wire.ValidID(cfg.ID); err != nil {
		return nil, fmt.Errorf("%w: ID: %v", ErrConfig, err)
	}
	if cfg.CA == nil || len(cfg.Cert.Certificate) == 0 {
		return nil, fmt.Errorf("%w: certificate and CA required", ErrConfig)
	}
	return &GRPCTransport{cfg: cfg, log: cfg.logger().With("node", cfg.ID)}, nil
}

// Dial implements Transport. It connects lazily; the server must prove to
// be p.ID.
func (t *GRPCTransport) Dial(p Peer) (Conn, error) {
	tc, err := ClientTLS(t.cfg.Cert, t.cfg.CA, p.ID)
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient("passthrough:///"+p.Addr,
		grpc.WithContextDialer(dialPreamble),
		grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		// Reconnect quickly: a copier that restarts must be reachable again
		// well within a lease, not after gRPC's default backoff (up to 2 min).
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 20 * time.Second,
		}),
		grpc.WithDefaultCallOptions(
			grpc.ForceCodec(codec{t.log}),
			grpc.MaxCallRecvMsgSize(wire.MaxMessageSize+grpcSlack),
			grpc.MaxCallSendMsgSize(wire.MaxMessageSize+grpcSlack),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("stability: dial %s at %s: %w", p.ID, p.Addr, err)
	}
	return &grpcConn{cc: cc}, nil
}

type grpcConn struct{ cc *grpc.ClientConn }

func (c *grpcConn) Preserve(ctx context.Context, req *PreserveRequest) (*PreserveResponse, error) {
	resp := new(PreserveResponse)
	if err := c.cc.Invoke(ctx, methodPreserve, req, resp); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	return resp, nil
}

var resetStreamDesc = grpc.StreamDesc{StreamName: "Reset", ServerStreams: true, ClientStreams: true}

func (c *grpcConn) Reset(ctx context.Context) (ResetStream, error) {
	s, err := c.cc.NewStream(ctx, &resetStreamDesc, methodReset)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	return grpcStream{s}, nil
}

func (c *grpcConn) Close() error { return c.cc.Close() }
