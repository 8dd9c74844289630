package apiservice

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Name and Namespace of the Service, as in Kubernetes.
const (
	Name      = "kubernetes"
	Namespace = "default"
	// PortName is the name of its one port, 443.
	PortName = "https"
	Port     = 443
)

// DefaultResync is how often the objects are checked even without a
// membership change, to undo a user's edit or deletion.
const DefaultResync = 30 * time.Second

// Store is the part of the object store the Reconciler writes through.
type Store interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
}

// Member is one agent as membership knows it.
type Member struct {
	Name string
	// APIURL is the URL of its API, "https://10.0.0.1:7480".
	APIURL string
	Alive  bool
}

// Config wires a Reconciler.
type Config struct {
	Store Store
	// Members lists the agents; Changes is signalled when they change.
	Members func() []Member
	Changes <-chan struct{}
	// ServiceCIDR is the service range; the Service takes its first address.
	ServiceCIDR netip.Prefix
	Resync      time.Duration
	Log         *slog.Logger
}

// Reconciler keeps the Service and its Endpoints.
type Reconciler struct {
	cfg Config
	log *slog.Logger
}

// New makes a Reconciler; a zero Resync takes DefaultResync.
func New(cfg Config) *Reconciler {
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{cfg: cfg, log: cfg.Log.With("component", "kubernetes-service")}
}

// ClusterIP is the first address of the service range (10.96.0.1 for
// 10.96.0.0/16), which the allocator never hands out.
func ClusterIP(cidr netip.Prefix) (string, error) {
	p := cidr.Masked()
	if !p.Addr().Is4() || p.Bits() > 30 {
		return "", fmt.Errorf("service range %s: want an IPv4 range of at least 4 addresses", cidr)
	}
	b := p.Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) + 1
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b).String(), nil
}

// Run reconciles at once, then on every membership change and every
// Resync, until ctx ends. A failed write is logged once and tried again at
// the next tick.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Resync)
	defer t.Stop()
	failing := false
	for {
		if err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				r.log.Warn("keeping the kubernetes service", "err", err)
			} else {
				r.log.Debug("keeping the kubernetes service", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-r.cfg.Changes:
		case <-t.C:
		}
	}
}

// Reconcile writes the Service and the Endpoints where they differ from
// what they should be.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	ip, err := ClusterIP(r.cfg.ServiceCIDR)
	if err != nil {
		return err
	}
	if err := r.ensureService(ctx, ip); err != nil {
		return err
	}
	return r.ensureEndpoints(ctx, Subsets(r.cfg.Members()))
}

// Labels are those Kubernetes puts on the Service and its Endpoints.
func Labels() map[string]string {
	return map[string]string{"component": "apiserver", "provider": "kubernetes"}
}

// desiredSpec is the Service's spec; a user's change of anything else
// (its type, selector, ports) is put back.
func desiredSpec(ip string) api.ServiceSpec {
	return api.ServiceSpec{
		Type:            api.ServiceTypeClusterIP,
		ClusterIP:       ip,
		ClusterIPs:      []string{ip},
		Ports:           []api.ServicePort{{Name: PortName, Protocol: "TCP", Port: Port, TargetPort: api.FromInt(Port)}},
		SessionAffinity: api.AffinityNone,
	}
}

func (r *Reconciler) ensureService(ctx context.Context, ip string) error {
	want := desiredSpec(ip)
	obj, err := r.cfg.Store.Get(ctx, api.KindService, Namespace, Name)
	if api.IsNotFound(err) {
		svc := &api.Service{ObjectMeta: api.ObjectMeta{Name: Name, Namespace: Namespace, Labels: Labels()}, Spec: want}
		if _, err := r.cfg.Store.Create(ctx, svc); err != nil && !api.IsAlreadyExists(err) {
			return fmt.Errorf("create service %s/%s: %w", Namespace, Name, err)
		}
		r.log.Info("created the kubernetes service", "cluster_ip", ip)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read service %s/%s: %w", Namespace, Name, err)
	}
	svc := obj.(*api.Service)
	if svc.Spec.ClusterIP != ip {
		// The address is immutable: a Service made by hand with another
		// one is left alone, and said so.
		return fmt.Errorf("service %s/%s has cluster IP %s, not %s: delete it and the agents re-create it", Namespace, Name, svc.Spec.ClusterIP, ip)
	}
	if svc.Spec.Type == want.Type && len(svc.Spec.Selector) == 0 && reflect.DeepEqual(portsOf(svc.Spec.Ports), portsOf(want.Ports)) {
		return nil
	}
	svc.Spec.Type, svc.Spec.Selector, svc.Spec.Ports = want.Type, nil, want.Ports
	if _, err := r.cfg.Store.Update(ctx, svc); err != nil {
		return fmt.Errorf("update service %s/%s: %w", Namespace, Name, err)
	}
	return nil
}

// portsOf is what matters of service ports: defaults the store adds (node
// ports, app protocols) are not a difference.
func portsOf(ps []api.ServicePort) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%s/%s/%d/%s", p.Name, p.Protocol, p.Port, p.TargetPort.String())
	}
	return out
}

// Subsets lists the live agents' API addresses, one subset per API port
// (agents normally share one), sorted so that equal memberships give equal
// objects.
func Subsets(members []Member) []api.EndpointSubset {
	byPort := map[int32][]api.EndpointAddress{}
	for _, m := range members {
		if !m.Alive {
			continue
		}
		ip, port, ok := apiEndpoint(m.APIURL)
		if !ok {
			continue
		}
		name := m.Name
		byPort[port] = append(byPort[port], api.EndpointAddress{IP: ip, NodeName: &name})
	}
	ports := make([]int32, 0, len(byPort))
	for p := range byPort {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	var out []api.EndpointSubset
	for _, p := range ports {
		addrs := byPort[p]
		slices.SortFunc(addrs, func(a, b api.EndpointAddress) int {
			x, _ := netip.ParseAddr(a.IP)
			y, _ := netip.ParseAddr(b.IP)
			return x.Compare(y)
		})
		addrs = slices.CompactFunc(addrs, func(a, b api.EndpointAddress) bool { return a.IP == b.IP })
		out = append(out, api.EndpointSubset{Addresses: addrs,
			Ports: []api.EndpointPort{{Name: PortName, Port: p, Protocol: "TCP"}}})
	}
	return out
}

// apiEndpoint reads the IPv4 address and port of an API URL; loopback,
// unspecified and host-name addresses do not count.
func apiEndpoint(raw string) (string, int32, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" {
		return "", 0, false
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", 0, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() || ip.IsLoopback() || ip.IsUnspecified() {
		return "", 0, false
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return "", 0, false
	}
	return ip.String(), int32(port), true
}

func (r *Reconciler) ensureEndpoints(ctx context.Context, subsets []api.EndpointSubset) error {
	obj, err := r.cfg.Store.Get(ctx, api.KindEndpoints, Namespace, Name)
	if api.IsNotFound(err) {
		ep := &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: Name, Namespace: Namespace, Labels: Labels()}, Subsets: subsets}
		if _, err := r.cfg.Store.Create(ctx, ep); err != nil && !api.IsAlreadyExists(err) {
			return fmt.Errorf("create endpoints %s/%s: %w", Namespace, Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read endpoints %s/%s: %w", Namespace, Name, err)
	}
	ep := obj.(*api.Endpoints)
	if reflect.DeepEqual(ep.Subsets, subsets) || len(ep.Subsets) == 0 && len(subsets) == 0 {
		return nil
	}
	ep.Subsets = subsets
	if _, err := r.cfg.Store.Update(ctx, ep); err != nil {
		return fmt.Errorf("update endpoints %s/%s: %w", Namespace, Name, err)
	}
	r.log.Info("the kubernetes service's endpoints changed", "subsets", len(subsets))
	return nil
}
