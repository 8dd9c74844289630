package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/leader/workqueue"
)

// Event reasons of the load balancer controller.
const (
	ReasonLoadBalancerPending = "LoadBalancerPending"
	ReasonEnsuredLoadBalancer = "EnsuredLoadBalancer"
)

// loadBalancerController writes status.loadBalancer.ingress of every
// LoadBalancer Service: the addresses of the Ready nodes, each of which
// takes the service's ports (the service proxy routes them, as kube-proxy
// routes a cloud balancer's addresses). So `kubectl wait`, `helm --wait` and
// anything else that waits for an address sees one.
//
// A port is one host port on every node, so two such Services cannot share
// one: the oldest keeps it and the other stays pending, with an event, as
// k3s's ServiceLB does. Ports the agents themselves listen on
// (Options.ReservedPorts) are never taken.
type loadBalancerController struct {
	store Store
	cache cache
	rec   Recorder
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue
}

func newLoadBalancerController(ctx context.Context, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *loadBalancerController {
	return &loadBalancerController{store: store, cache: cache, rec: rec, log: log.With("component", "loadbalancer"), opts: opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax)}
}

func (c *loadBalancerController) loop() *loop {
	all := func(_ context.Context, _ api.WatchEvent) { c.enqueueAll() }
	return &loop{
		name: "loadbalancer", cache: c.cache, log: c.log, queue: c.queue,
		workers: 1, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			// Any change may free or take a port of another Service.
			{kind: api.KindService, handle: func(ctx context.Context, ev api.WatchEvent) {
				svc := ev.Object.(*api.Service)
				if svc.Spec.Type == api.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
					all(ctx, ev)
				}
			}},
			{kind: api.KindNode, handle: all},
		},
		sync:   c.sync,
		resync: func(context.Context) error { c.enqueueAll(); return nil },
	}
}

func (c *loadBalancerController) enqueueAll() {
	for _, o := range c.cache.list(api.KindService, "", nil) {
		svc := o.(*api.Service)
		if svc.Spec.Type == api.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) > 0 {
			c.queue.Add(keyOf(svc))
		}
	}
}

func (c *loadBalancerController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindService, ns, name)
	if !ok {
		return nil
	}
	svc := obj.(*api.Service)
	var want []api.LoadBalancerIngress
	if svc.Spec.Type == api.ServiceTypeLoadBalancer && svc.DeletionTimestamp == nil {
		if why := c.portConflict(svc); why != "" {
			c.rec.Eventf(svc, api.EventWarning, ReasonLoadBalancerPending, "No address: %s", why)
		} else {
			want = c.nodeAddresses()
		}
	}
	if jsonEqual(svc.Status.LoadBalancer.Ingress, want) || len(want) == 0 && len(svc.Status.LoadBalancer.Ingress) == 0 {
		return nil
	}
	fresh, err := c.store.Get(ctx, api.KindService, ns, name)
	if err != nil {
		if api.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("read service %s: %w", key, err)
	}
	upd := fresh.(*api.Service)
	upd.Status.LoadBalancer.Ingress = want
	if _, err := c.store.UpdateStatus(ctx, upd); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("write the load balancer status of service %s: %w", key, err)
	}
	if len(want) > 0 {
		ips := make([]string, len(want))
		for i, in := range want {
			ips[i] = in.IP
		}
		c.rec.Eventf(upd, api.EventNormal, ReasonEnsuredLoadBalancer, "Published on the nodes' addresses %s", strings.Join(ips, ", "))
	}
	return nil
}

// nodeAddresses are the IPv4 InternalIPs of the Ready nodes, sorted.
func (c *loadBalancerController) nodeAddresses() []api.LoadBalancerIngress {
	var ips []netip.Addr
	for _, o := range c.cache.list(api.KindNode, "", nil) {
		n := o.(*api.Node)
		if cond := api.FindCondition(n.Status.Conditions, api.NodeReady); cond == nil || cond.Status != api.ConditionTrue {
			continue
		}
		for _, a := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); a.Type == api.NodeInternalIP && err == nil && ip.Is4() && !ip.IsLoopback() {
				ips = append(ips, ip)
			}
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	ips = slices.Compact(ips)
	out := make([]api.LoadBalancerIngress, len(ips))
	for i, ip := range ips {
		out[i] = api.LoadBalancerIngress{IP: ip.String()}
	}
	return out
}

// portConflict says why the Service cannot have its ports on the nodes, or
// "": an agent listens there, or an older LoadBalancer Service has one.
func (c *loadBalancerController) portConflict(svc *api.Service) string {
	reserved := map[int32]bool{}
	if c.opts.ReservedPorts != nil {
		for _, p := range c.opts.ReservedPorts() {
			reserved[p] = true
		}
	}
	for _, p := range svc.Spec.Ports {
		if reserved[p.Port] {
			return fmt.Sprintf("port %d is one the shoal agents listen on; choose another spec.ports[].port", p.Port)
		}
	}
	for _, o := range c.cache.list(api.KindService, "", nil) {
		other := o.(*api.Service)
		if other.UID == svc.UID || other.Spec.Type != api.ServiceTypeLoadBalancer || other.DeletionTimestamp != nil || !olderService(other, svc) {
			continue
		}
		for _, p := range svc.Spec.Ports {
			for _, q := range other.Spec.Ports {
				if p.Port == q.Port && protocol(p.Protocol) == protocol(q.Protocol) {
					return fmt.Sprintf("port %d/%s is taken on the nodes by LoadBalancer service %s/%s", p.Port, protocol(p.Protocol), other.Namespace, other.Name)
				}
			}
		}
	}
	return ""
}

func protocol(p string) string {
	if p == "" {
		return "TCP"
	}
	return strings.ToUpper(p)
}

// olderService orders Services by creation, then namespace and name.
func olderService(a, b *api.Service) bool {
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.Before(b.CreationTimestamp.Time)
	}
	return keyOf(a) < keyOf(b)
}
