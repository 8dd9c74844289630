package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"

	"github.com/shoal-dev/shoal/daemon/leader/workqueue"

	"github.com/shoal-dev/shoal/api"
)

// endpointsController keeps, for every Service with a selector, an
// Endpoints object of the same name listing the pods it selects: ready pods
// in addresses, the others in notReadyAddresses, with the service's target
// ports resolved against each pod's container ports. Services without a
// selector keep whatever Endpoints their users write.
type endpointsController struct {
	store Store
	cache cache
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue
}

func newEndpointsController(ctx context.Context, store Store, cache cache, log *slog.Logger, opts Options) *endpointsController {
	return &endpointsController{store: store, cache: cache, log: log.With("component", "endpoints"), opts: opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax)}
}

func (c *endpointsController) loop() *loop {
	return &loop{
		name: "endpoints", cache: c.cache, log: c.log, queue: c.queue,
		workers: c.opts.Workers, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: api.KindService, handle: func(_ context.Context, ev api.WatchEvent) { c.queue.Add(keyOf(ev.Object)) }},
			{kind: api.KindPod, handle: c.onPod},
		},
		sync:   c.sync,
		resync: func(context.Context) error { return enqueueAll(c.cache, api.KindService, c.queue) },
	}
}

// onPod queues the services of the pod's namespace that select it. A pod
// whose labels changed may have left a service: its namespace's services
// are all queued then, which stays cheap.
func (c *endpointsController) onPod(_ context.Context, ev api.WatchEvent) {
	pod := ev.Object.(*api.Pod)
	for _, o := range c.cache.list(api.KindService, pod.Namespace, nil) {
		s := o.(*api.Service)
		if len(s.Spec.Selector) > 0 {
			c.queue.Add(keyOf(s))
		}
	}
}

func (c *endpointsController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindService, ns, name)
	if !ok {
		// The garbage collector removes Endpoints we own; a selector-less
		// service's Endpoints belong to the user.
		return nil
	}
	svc := obj.(*api.Service)
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == api.ServiceTypeExternalName {
		return nil
	}
	pods := c.cache.list(api.KindPod, ns, api.SelectorFromSet(svc.Spec.Selector))
	want := &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: svc.Name, Namespace: ns, Labels: copyMap(svc.Labels),
		OwnerReferences: []api.OwnerReference{api.NewControllerRef(svc)}},
		Subsets: endpointSubsets(svc, pods)}
	cur, ok := c.cache.get(api.KindEndpoints, ns, name)
	if !ok {
		_, err := c.store.Create(ctx, want)
		if api.IsAlreadyExists(err) {
			c.queue.Add(key)
			return nil
		}
		return err
	}
	if sameEndpoints(cur.(*api.Endpoints), want) {
		return nil
	}
	want.ResourceVersion = cur.GetObjectMeta().ResourceVersion
	_, err := c.store.Update(ctx, want)
	if api.IsConflict(err) {
		c.queue.Add(key)
		return nil
	}
	return err
}

func sameEndpoints(a, b *api.Endpoints) bool {
	ja, _ := json.Marshal(a.Subsets)
	jb, _ := json.Marshal(b.Subsets)
	la, _ := json.Marshal(a.Labels)
	lb, _ := json.Marshal(b.Labels)
	return string(ja) == string(jb) && string(la) == string(lb)
}

// endpointSubsets groups the pods by their resolved ports, as Kubernetes
// does: pods whose named target ports resolve to the same numbers share a
// subset. Addresses are sorted so that an unchanged set compares equal.
func endpointSubsets(svc *api.Service, objs []api.Object) []api.EndpointSubset {
	bySig := map[string]*api.EndpointSubset{}
	var sigs []string
	for _, o := range objs {
		pod := o.(*api.Pod)
		if pod.Status.PodIP == "" || pod.DeletionTimestamp != nil || api.IsPodTerminal(pod) {
			continue
		}
		ports, ok := resolvePorts(svc, pod)
		if !ok {
			continue
		}
		sig := fmt.Sprint(ports)
		sub := bySig[sig]
		if sub == nil {
			sub = &api.EndpointSubset{Ports: ports}
			bySig[sig] = sub
			sigs = append(sigs, sig)
		}
		node := pod.Spec.NodeName
		addr := api.EndpointAddress{IP: pod.Status.PodIP, NodeName: &node,
			TargetRef: &api.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}}
		if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
			addr.Hostname = pod.Spec.Hostname
		}
		if api.IsPodReady(pod) || svc.Spec.PublishNotReadyAddresses {
			sub.Addresses = append(sub.Addresses, addr)
		} else {
			sub.NotReadyAddresses = append(sub.NotReadyAddresses, addr)
		}
	}
	sort.Strings(sigs)
	out := make([]api.EndpointSubset, 0, len(sigs))
	for _, sig := range sigs {
		sub := bySig[sig]
		sortAddresses(sub.Addresses)
		sortAddresses(sub.NotReadyAddresses)
		out = append(out, *sub)
	}
	return out
}

func sortAddresses(a []api.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool { return a[i].IP < a[j].IP })
}

// resolvePorts maps the service's ports to the pod's: numbers as they are,
// names through the pod's container ports. A pod lacking a named port is
// left out of the service.
func resolvePorts(svc *api.Service, pod *api.Pod) ([]api.EndpointPort, bool) {
	out := make([]api.EndpointPort, 0, len(svc.Spec.Ports))
	for _, sp := range svc.Spec.Ports {
		port := sp.TargetPort.IntVal
		if sp.TargetPort.IsString {
			port = 0
			for _, c := range pod.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal && cp.Protocol == sp.Protocol {
						port = cp.ContainerPort
					}
				}
			}
			if port == 0 {
				return nil, false
			}
		}
		out = append(out, api.EndpointPort{Name: sp.Name, Port: port, Protocol: sp.Protocol})
	}
	return out, true
}
