package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/holeycow/holeycow/cow"
	"github.com/holeycow/holeycow/raftcluster"
	"github.com/holeycow/holeycow/raftcluster/netstorage"
	"github.com/holeycow/holeycow/stability"
	"github.com/holeycow/holeycow/vfs"
)

// NetOptions configures Networked.
type NetOptions struct {
	// Lease is the stability copier lease (netstorage's default 2s); keep
	// it above the failover time.
	Lease time.Duration
	// Bind is the stability listen address ("" = a free 127.0.0.1 port).
	Bind string
	// Listen, if set, returns the listener of member id's stability
	// endpoint and the address it advertises, in place of a port of its
	// own (Bind): e.g. its raftcluster.TLSTransport's StabilityListener
	// and Raft address, for two ports per node. Bytes does not count
	// these connections.
	Listen func(id string) (ln net.Listener, addr string, err error)
	// Bytes, if set, counts every byte of the stability connections this
	// member accepts (both directions).
	Bytes *atomic.Int64
	// Identity, if set, returns member id's certificate (its URI SAN
	// naming the ID: stability.NodeURI) and the cluster CA pool, instead
	// of minting them with the CA given to Networked (which may then be
	// nil).
	Identity func(id string) (tls.Certificate, *x509.CertPool, error)
	// Logger (nil discards).
	Logger *slog.Logger
}

// Networked returns a StorageFunc over raftcluster/netstorage: each
// member's stability endpoint (a stability.Responder as copier, a
// Coordinator as writer) is served over gRPC with mutual TLS on a fresh
// 127.0.0.1 port, with a certificate minted by ca (or o.Identity's).
func Networked(shared vfs.FS, ca *CA, o NetOptions) StorageFunc {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return func(id string, eng Engine) (Storage, error) {
		var cert tls.Certificate
		var pool *x509.CertPool
		if o.Identity != nil {
			var err error
			if cert, pool, err = o.Identity(id); err != nil {
				return nil, err
			}
		} else {
			conf, err := ca.TLSConfig(id)
			if err != nil {
				return nil, err
			}
			cert, pool = conf.Certificates[0], ca.Pool()
		}
		gc := stability.GRPCConfig{ID: id, Cert: cert, CA: pool, Logger: o.Logger}
		tr, err := stability.NewGRPCTransport(gc)
		if err != nil {
			return nil, err
		}
		st, err := netstorage.New(netstorage.Config{ID: id, Shared: shared, Transport: tr, Engine: eng,
			View: cow.Options{BlockSize: PageSize}, Lease: o.Lease, Logger: o.Logger})
		if err != nil {
			return nil, err
		}
		if o.Listen != nil {
			ln, addr, err := o.Listen(id)
			if err != nil {
				return nil, fmt.Errorf("cluster: stability listen: %w", err)
			}
			return ServeStability(st, gc, ln, addr)
		}
		bind := o.Bind
		if bind == "" {
			bind = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", bind)
		if err != nil {
			return nil, fmt.Errorf("cluster: stability listen: %w", err)
		}
		var l net.Listener = ln
		if o.Bytes != nil {
			l = &countingListener{Listener: ln, n: o.Bytes}
		}
		ns, err := ServeStability(st, gc, l, ln.Addr().String())
		if err != nil {
			ln.Close()
			return nil, err
		}
		return ns, nil
	}
}

// ServeStability serves st's stability endpoint (a gRPC server with
// mutual TLS, configured by gc) on ln, and returns st as the member's
// Storage, advertising addr as its stability address. Its Close closes st,
// then stops the server (which closes ln). On error, ln is the caller's
// to close.
func ServeStability(st *netstorage.Storage, gc stability.GRPCConfig, ln net.Listener, addr string) (Storage, error) {
	srv, err := stability.NewGRPCServer(gc, st.Handler())
	if err != nil {
		return nil, err
	}
	ns := &netStorage{Storage: st, srv: srv, addr: addr, served: make(chan struct{})}
	go func() { defer close(ns.served); srv.Serve(ln) }()
	return ns, nil
}

// netStorage is a netstorage.Storage with its stability endpoint.
type netStorage struct {
	*netstorage.Storage
	srv    *stability.GRPCServer
	addr   string
	served chan struct{}
}

func (s *netStorage) Attach(n *raftcluster.Node) { s.SetNode(n) }
func (s *netStorage) StabilityAddr() string      { return s.addr }

func (s *netStorage) Close() error {
	err := s.Storage.Close()
	s.srv.Stop()
	<-s.served
	if errors.Is(err, netstorage.ErrClosed) {
		err = nil
	}
	return err
}

// countingListener counts the bytes of the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}
