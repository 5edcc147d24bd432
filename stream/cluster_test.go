package stream

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsswatch/smsswatch/stream/natsserver"
)

// TestClusterNodeKilled: a 3-node cluster (routes on loopback) with a
// 3-replica stream; the node the publisher is connected to is shut down
// while publishing: the publisher fails over to a node it learnt from the
// cluster and every violation arrives, none twice.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	ports := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	nodes := make([]*natsserver.Server, 3)
	for i := range nodes {
		nodes[i] = startServer(t, natsserver.Config{
			Name: fmt.Sprintf("n%d", i+1), JetStream: true, StoreDir: t.TempDir(),
			ClusterName: "smsswatch-test", ClusterPort: ports[i], Routes: routes,
		})
	}
	eventually(t, 30*time.Second, "cluster formed with a JetStream leader", func() bool {
		for _, n := range nodes {
			if n.NATSServer().NumRoutes() < 2 {
				return false
			}
		}
		for _, n := range nodes {
			if n.NATSServer().JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	// The publisher knows only node 1; the others it learns from the
	// cluster.
	p := newPublisher(t, Config{
		Conn: ConnConfig{URL: nodes[0].URL()}, Logger: testLog(t),
		JetStream: true, Replicas: 3, SpoolDir: t.TempDir(), Heartbeat: -1, AckTimeout: 2 * time.Second,
	})
	p.Violation(violation(0))
	eventually(t, 30*time.Second, "stream bound", func() bool { return p.Stats().Published > 0 })
	const n = 3000
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i < n; i++ {
			p.Violation(violation(i))
			sent.Add(1)
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	eventually(t, 20*time.Second, "a third published", func() bool { return p.Stats().Published >= n/3 })
	nodes[0].Shutdown()
	t.Logf("node 1 killed after %d violations", sent.Load())
	<-done
	eventually(t, 45*time.Second, "all acknowledged", func() bool {
		st := p.Stats()
		return st.Published >= n && st.SpoolDepth == 0 && st.Inflight == 0
	})
	st := p.Stats()
	t.Logf("stats: %+v, now on %s", st, p.nc.ConnectedUrlRedacted())
	if st.Dropped != 0 || st.SpoolDropped != 0 {
		t.Errorf("stats %+v", st)
	}
	closePublisher(t, p, 5*time.Second)
	checkAll(t, readStream(t, nodes[1].URL(), DefaultStream, n), n, false)
}
