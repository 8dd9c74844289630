package ipalloc

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry"
)

// AnnotationReallocate asks for a new cluster IP (or node ports) for a
// Service; the repair loop sets it on the younger of two Services that got
// the same address. The allocator removes it.
const AnnotationReallocate = "shoal.io/reallocate"

// ErrRangeFull means no address or port is left.
var ErrRangeFull = errors.New("services: no free address left in the range")

// Allocator assigns cluster IPs from the service CIDR and node ports from
// 30000-32767, at random among the free ones: two agents allocating at the
// same moment rarely collide, and Repair fixes it when they do.
type Allocator struct {
	cidr *net.IPNet
}

// NewAllocator allocates from cidr (e.g. 10.96.0.0/16).
func NewAllocator(cidr *net.IPNet) *Allocator { return &Allocator{cidr: cidr} }

// Admit is a registry.Admission for Services.
func (a *Allocator) Admit(v *registry.TxnView, old, obj api.Object) error {
	svc, ok := obj.(*api.Service)
	if !ok {
		return nil
	}
	var prev *api.Service
	if old != nil {
		prev, _ = old.(*api.Service)
	}
	realloc := svc.Annotations[AnnotationReallocate]
	delete(svc.Annotations, AnnotationReallocate)
	others := otherServices(v, svc)
	var errs api.FieldErrors
	a.admitClusterIP(svc, prev, others, realloc == "clusterIP", &errs)
	admitNodePorts(svc, prev, others, realloc == "nodePorts", &errs)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func otherServices(v *registry.TxnView, svc *api.Service) []*api.Service {
	var out []*api.Service
	for _, o := range v.List(api.KindService) {
		s := o.(*api.Service)
		if s.Namespace == svc.Namespace && s.Name == svc.Name {
			continue
		}
		out = append(out, s)
	}
	return out
}

func (a *Allocator) admitClusterIP(svc, prev *api.Service, others []*api.Service, realloc bool, errs *api.FieldErrors) {
	field := "spec.clusterIP"
	if svc.Spec.Type == api.ServiceTypeExternalName {
		if svc.Spec.ClusterIP != "" {
			*errs = append(*errs, api.FieldError{Field: field, Value: svc.Spec.ClusterIP, Type: api.ErrTypeForbidden,
				Detail: "an ExternalName service has no cluster IP"})
		}
		svc.Spec.ClusterIPs = nil
		return
	}
	if prev != nil && prev.Spec.Type != api.ServiceTypeExternalName && !realloc {
		switch {
		case svc.Spec.ClusterIP == "":
			svc.Spec.ClusterIP = prev.Spec.ClusterIP
		case svc.Spec.ClusterIP != prev.Spec.ClusterIP:
			*errs = append(*errs, api.FieldError{Field: field, Value: svc.Spec.ClusterIP, Type: api.ErrTypeInvalid,
				Detail: fmt.Sprintf("field is immutable (it is %s); delete and re-create the service to change it", prev.Spec.ClusterIP)})
			return
		}
	}
	if realloc {
		svc.Spec.ClusterIP = ""
	}
	used := map[string]bool{}
	for _, o := range others {
		used[o.Spec.ClusterIP] = true
	}
	switch ip := svc.Spec.ClusterIP; {
	case ip == api.ClusterIPNone:
	case ip == "":
		got, err := a.freeIP(used)
		if err != nil {
			*errs = append(*errs, api.FieldError{Field: field, Type: api.ErrTypeInvalid,
				Detail: fmt.Sprintf("no free address left in the service range %s", a.cidr)})
			return
		}
		svc.Spec.ClusterIP = got
	case !a.cidr.Contains(net.ParseIP(ip)):
		*errs = append(*errs, api.FieldError{Field: field, Value: ip, Type: api.ErrTypeInvalid,
			Detail: fmt.Sprintf("provided IP is not in the valid range; the service range is %s", a.cidr)})
		return
	case used[ip] && (prev == nil || prev.Spec.ClusterIP != ip):
		*errs = append(*errs, api.FieldError{Field: field, Value: ip, Type: api.ErrTypeInvalid,
			Detail: "provided IP is already allocated to another service"})
		return
	}
	svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
}

// freeIP picks a random unused address of the range, skipping the network
// address, the first address (reserved, as Kubernetes does for its own
// API service) and the broadcast address.
func (a *Allocator) freeIP(used map[string]bool) (string, error) {
	base := binary.BigEndian.Uint32(a.cidr.IP.To4())
	ones, bits := a.cidr.Mask.Size()
	size := uint32(1) << uint(bits-ones)
	if size < 4 {
		return "", ErrRangeFull
	}
	start := randUint32() % (size - 3)
	for i := uint32(0); i < size-3; i++ {
		off := 2 + (start+i)%(size-3)
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, base+off)
		if !used[ip.String()] {
			return ip.String(), nil
		}
	}
	return "", ErrRangeFull
}

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func admitNodePorts(svc, prev *api.Service, others []*api.Service, realloc bool, errs *api.FieldErrors) {
	if svc.Spec.Type != api.ServiceTypeNodePort && svc.Spec.Type != api.ServiceTypeLoadBalancer {
		return
	}
	used := map[int32]bool{}
	for _, o := range others {
		for _, p := range o.Spec.Ports {
			if p.NodePort != 0 {
				used[p.NodePort] = true
			}
		}
	}
	kept := map[string]int32{}
	if prev != nil && !realloc {
		for _, p := range prev.Spec.Ports {
			kept[fmt.Sprintf("%d/%s", p.Port, p.Protocol)] = p.NodePort
		}
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if realloc {
			p.NodePort = 0
		}
		if p.NodePort == 0 {
			p.NodePort = kept[fmt.Sprintf("%d/%s", p.Port, p.Protocol)]
		}
		if p.NodePort != 0 {
			if used[p.NodePort] {
				*errs = append(*errs, api.FieldError{Field: fmt.Sprintf("spec.ports[%d].nodePort", i), Value: p.NodePort,
					Type: api.ErrTypeInvalid, Detail: "provided port is already allocated to another service"})
			}
			used[p.NodePort] = true
			continue
		}
		span := uint32(api.NodePortMax - api.NodePortMin + 1)
		start := randUint32() % span
		for k := uint32(0); k < span; k++ {
			cand := int32(api.NodePortMin + (start+k)%span)
			if !used[cand] {
				p.NodePort = cand
				used[cand] = true
				break
			}
		}
		if p.NodePort == 0 {
			*errs = append(*errs, api.FieldError{Field: fmt.Sprintf("spec.ports[%d].nodePort", i), Type: api.ErrTypeInvalid,
				Detail: "no free node port left in 30000-32767"})
		}
	}
}
