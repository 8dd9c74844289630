package podnet

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// setHairpin turns hairpin mode on for the bridge's ports, through netlink
// (sysfs would show the namespace it was mounted in, not the agent's).
func setHairpin(bridge string) (int, error) {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return 0, nil // no pod yet
		}
		return 0, fmt.Errorf("bridge %s: %w", bridge, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return 0, fmt.Errorf("list links: %w", err)
	}
	n := 0
	for _, l := range links {
		a := l.Attrs()
		if a.MasterIndex != br.Attrs().Index {
			continue
		}
		if a.Protinfo != nil && a.Protinfo.Hairpin {
			continue
		}
		if err := netlink.LinkSetHairpin(l, true); err != nil {
			return n, fmt.Errorf("hairpin on %s: %w", a.Name, err)
		}
		n++
	}
	return n, nil
}
