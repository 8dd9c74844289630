package dns

import (
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// isLabel reports an RFC 1123 label in lower case: the only labels the
// builder puts into names, so a stray object cannot forge a name elsewhere.
func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// packableName reports a name that goes on the wire: absolute, in plain
// labels of at most 63 octets, at most 255 octets in all. The zone keeps
// only such names, since a record that cannot be packed would fail every
// answer that holds it, and records also arrive by replication, not only
// through the API's validation.
func packableName(name string) bool {
	if len(name) == 0 || len(name) > 254 || name[len(name)-1] != '.' {
		return false
	}
	var buf [256]byte
	_, err := mdns.PackDomainName(name, buf[:], 0, nil, false)
	return err == nil
}

// dashedIP writes an address as one label: 10.244.1.5 -> 10-244-1-5,
// fd00::1 -> fd00--1, as Kubernetes names pods and endpoints without a hostname.
func dashedIP(a netip.Addr) string {
	if a.Is4() {
		return strings.ReplaceAll(a.String(), ".", "-")
	}
	return strings.ReplaceAll(a.WithZone("").String(), ":", "-")
}

// parseDashedIP reads a label written by dashedIP. Three dashes and no double
// dash make an IPv4 address; anything else is tried as IPv6.
func parseDashedIP(label string) (netip.Addr, bool) {
	var s string
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		s = strings.ReplaceAll(label, "-", ".")
	} else {
		s = strings.ReplaceAll(label, "-", ":")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, false
	}
	return a, true
}

// parseIP reads an address from an object field, accepting only plain
// IPv4 and IPv6 addresses (no zones, no mapped forms).
func parseIP(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// reverseName is the in-addr.arpa or ip6.arpa name of an address.
func reverseName(a netip.Addr) string {
	var b strings.Builder
	b.Grow(73) // the longest: 32 nibbles and ip6.arpa.
	if a.Is4() {
		o := a.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(o[i])))
			b.WriteByte('.')
		}
		b.WriteString("in-addr.arpa.")
		return b.String()
	}
	const hex = "0123456789abcdef"
	o := a.As16()
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[o[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[o[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa.")
	return b.String()
}

// maxReverseZones bounds the zones one prefix expands to.
const maxReverseZones = 256

// reverseZones lists the reverse zones that exactly cover a prefix. Reverse
// names delegate on octet (IPv4) or nibble (IPv6) boundaries, so a /12 is
// served as sixteen /16 zones rather than one /8 zone that would claim
// addresses outside the cluster.
func reverseZones(p netip.Prefix) []string {
	if !p.IsValid() {
		return nil
	}
	p = p.Masked()
	step := 8
	if p.Addr().Is6() {
		step = 4
	}
	bits := (p.Bits() + step - 1) / step * step
	if bits == 0 {
		bits = step // the root of in-addr.arpa is not ours to answer
	}
	n := 1 << (bits - p.Bits())
	if n > maxReverseZones {
		return nil
	}
	zones := make([]string, 0, n)
	a := p.Addr()
	for i := 0; i < n; i++ {
		zones = append(zones, zoneOfAddr(a, bits))
		a = nextSubnet(a, bits)
	}
	return zones
}

// zoneOfAddr is the reverse zone name holding the first bits of a.
func zoneOfAddr(a netip.Addr, bits int) string {
	full := reverseName(a)
	labels := strings.Split(strings.TrimSuffix(full, "."), ".")
	per := 8 // address bits per label
	if a.Is6() {
		per = 4
	}
	total := a.BitLen() / per
	keep := bits / per
	return strings.Join(labels[total-keep:], ".") + "."
}

// nextSubnet advances a by one subnet of the given size.
func nextSubnet(a netip.Addr, bits int) netip.Addr {
	b := a.AsSlice()
	inc := uint(1) << (7 - uint(bits-1)%8)
	for i := (bits - 1) / 8; i >= 0; i-- {
		sum := uint(b[i]) + inc
		b[i] = byte(sum)
		if sum < 256 {
			break
		}
		inc = 1
	}
	out, _ := netip.AddrFromSlice(b)
	return out
}

// parentOf drops the first label of an absolute name; "" for the root.
func parentOf(name string) string {
	i := strings.IndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return ""
	}
	return name[i+1:]
}
