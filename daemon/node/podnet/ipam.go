package podnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// IPAMFile is the file in the agent's data directory that keeps which pod
// holds which address of the node's subnet.
const IPAMFile = "pod-ips.json"

// ErrNoAddress: every address of the node's pod subnet is held by a pod.
var ErrNoAddress = errors.New("network: no free pod address")

// ipamState is the file's content.
type ipamState struct {
	Subnet string `json:"subnet"`
	// Last is the address handed out last: the next search starts after
	// it, so that a freed address is not reused at once (a Service or a
	// peer may still point at it for a moment).
	Last string            `json:"last,omitempty"`
	Pods map[string]string `json:"pods"` // pod uid -> address
}

// IPAM hands out the addresses of the node's pod subnet, one per pod uid,
// and keeps them in <data-dir>/pod-ips.json: every change is on disk
// (written whole and renamed, then synced) before the address is used, so
// an agent that crashes and starts again gives each pod the address it
// had. The network address, the gateway (the bridge's) and the broadcast
// address are never handed out. Safe for concurrent use.
type IPAM struct {
	path string

	mu     sync.Mutex
	subnet netip.Prefix
	last   netip.Addr
	pods   map[string]netip.Addr
	byAddr map[netip.Addr]string
}

// OpenIPAM loads the saved assignments of subnet from dataDir. Those of
// another subnet (the node moved) are dropped: their pods were re-created
// on the new subnet.
func OpenIPAM(dataDir string, subnet netip.Prefix) (*IPAM, error) {
	if !subnet.Addr().Is4() || subnet.Bits() > 30 {
		return nil, fmt.Errorf("pod address manager: subnet %s: %w", subnet, ErrInvalidCIDR)
	}
	a := &IPAM{path: filepath.Join(dataDir, IPAMFile), subnet: subnet.Masked(),
		pods: map[string]netip.Addr{}, byAddr: map[netip.Addr]string{}}
	b, err := os.ReadFile(a.path)
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pod addresses: %w", err)
	}
	var st ipamState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read pod addresses %s: %w (remove the file: pods then get new addresses when their sandboxes are next created)", a.path, err)
	}
	if st.Subnet != a.subnet.String() {
		return a, nil
	}
	a.last, _ = netip.ParseAddr(st.Last)
	for uid, s := range st.Pods {
		ip, err := netip.ParseAddr(s)
		if err != nil || !a.usable(ip) || a.byAddr[ip] != "" {
			continue
		}
		a.pods[uid], a.byAddr[ip] = ip, uid
	}
	return a, nil
}

// Subnet is the subnet addresses come from.
func (a *IPAM) Subnet() netip.Prefix {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.subnet
}

// usable reports whether ip may be a pod's: inside the subnet, neither its
// network, gateway nor broadcast address.
func (a *IPAM) usable(ip netip.Addr) bool {
	return a.subnet.Contains(ip) && ip != a.subnet.Addr() && ip != gatewayOf(a.subnet) && ip != broadcastOf(a.subnet)
}

// broadcastOf is the last address of an IPv4 subnet.
func broadcastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Lookup returns the pod's address, if it holds one.
func (a *IPAM) Lookup(uid string) (netip.Addr, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip, ok := a.pods[uid]
	return ip, ok
}

// Allocate returns the pod's address, handing out (and saving) a free one
// if it has none.
func (a *IPAM) Allocate(uid string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.pods[uid]; ok {
		return ip, nil
	}
	start := a.last
	if !a.subnet.Contains(start) {
		start = a.subnet.Addr()
	}
	ip := start
	for {
		ip = ip.Next()
		if !a.subnet.Contains(ip) {
			ip = a.subnet.Addr()
		}
		if a.usable(ip) && a.byAddr[ip] == "" {
			break
		}
		if ip == start {
			return netip.Addr{}, fmt.Errorf("pod subnet %s: all %d addresses are held by pods on this node: %w; "+
				"delete pods here or cordon the node so that new pods go to others", a.subnet, len(a.pods), ErrNoAddress)
		}
	}
	prevLast := a.last
	a.pods[uid], a.byAddr[ip], a.last = ip, uid, ip
	if err := a.saveLocked(); err != nil {
		delete(a.pods, uid)
		delete(a.byAddr, ip)
		a.last = prevLast
		return netip.Addr{}, err
	}
	return ip, nil
}

// Reserve records that the pod holds ip (adoption of a sandbox that has
// it already). It fails if ip is outside the subnet or another pod's.
func (a *IPAM) Reserve(uid string, ip netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.pods[uid]; ok && cur == ip {
		return nil
	}
	if !a.usable(ip) {
		return fmt.Errorf("pod address %s is not a pod address of subnet %s", ip, a.subnet)
	}
	if other := a.byAddr[ip]; other != "" && other != uid {
		return fmt.Errorf("pod address %s is held by pod %s", ip, other)
	}
	old, had := a.pods[uid]
	if had {
		delete(a.byAddr, old)
	}
	a.pods[uid], a.byAddr[ip] = ip, uid
	if err := a.saveLocked(); err != nil {
		delete(a.byAddr, ip)
		delete(a.pods, uid)
		if had {
			a.pods[uid], a.byAddr[old] = old, uid
		}
		return err
	}
	return nil
}

// Release frees the pod's address.
func (a *IPAM) Release(uid string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip, ok := a.pods[uid]
	if !ok {
		return nil
	}
	delete(a.pods, uid)
	delete(a.byAddr, ip)
	if err := a.saveLocked(); err != nil {
		a.pods[uid], a.byAddr[ip] = ip, uid
		return err
	}
	return nil
}

// Retain frees the addresses of every pod keep says no to, and returns
// their uids.
func (a *IPAM) Retain(keep func(uid string) bool) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var gone []string
	for uid := range a.pods {
		if !keep(uid) {
			gone = append(gone, uid)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	sort.Strings(gone)
	freed := map[string]netip.Addr{}
	for _, uid := range gone {
		freed[uid] = a.pods[uid]
		delete(a.byAddr, a.pods[uid])
		delete(a.pods, uid)
	}
	if err := a.saveLocked(); err != nil {
		for uid, ip := range freed {
			a.pods[uid], a.byAddr[ip] = ip, uid
		}
		return nil, err
	}
	return gone, nil
}

// Reset moves the manager to another subnet, forgetting every assignment
// (the node moves only while it runs no pods).
func (a *IPAM) Reset(subnet netip.Prefix) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if subnet.Masked() == a.subnet {
		return nil
	}
	a.subnet, a.last = subnet.Masked(), netip.Addr{}
	a.pods, a.byAddr = map[string]netip.Addr{}, map[netip.Addr]string{}
	return a.saveLocked()
}

// Held returns a copy of the assignments.
func (a *IPAM) Held() map[string]netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]netip.Addr, len(a.pods))
	for k, v := range a.pods {
		out[k] = v
	}
	return out
}

// saveLocked writes the file atomically and durably: a crash leaves the
// old content or the new, never a torn file.
func (a *IPAM) saveLocked() error {
	st := ipamState{Subnet: a.subnet.String(), Pods: make(map[string]string, len(a.pods))}
	if a.last.IsValid() {
		st.Last = a.last.String()
	}
	for uid, ip := range a.pods {
		st.Pods[uid] = ip.String()
	}
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return fmt.Errorf("save pod addresses: %w", err)
	}
	dir := filepath.Dir(a.path)
	tmp, err := os.CreateTemp(dir, IPAMFile+".tmp*")
	if err != nil {
		return fmt.Errorf("save pod addresses: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save pod addresses: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save pod addresses: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save pod addresses: %w", err)
	}
	if err := os.Rename(tmp.Name(), a.path); err != nil {
		return fmt.Errorf("save pod addresses: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename itself; best effort where unsupported
		d.Close()
	}
	return nil
}
