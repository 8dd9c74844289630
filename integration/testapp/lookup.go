package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// resolver is the part of *net.Resolver that lookup uses; tests fake it.
type resolver interface {
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupCNAME(ctx context.Context, host string) (string, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

func runLookup(args []string) error {
	fs := newFlagSet("lookup", "NAME [--type A|AAAA|SRV|PTR|CNAME|TXT] [--timeout 5s]")
	typ := fs.String("type", "A", "record type: A, AAAA, SRV, PTR (NAME is an IP), CNAME or TXT")
	timeout := fs.Duration("timeout", 5*time.Second, "timeout for the whole lookup")
	pos, err := parseExact(fs, args, 1)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	// The pure-Go resolver reads /etc/resolv.conf itself and applies its
	// search list and ndots the way a pod's resolver does.
	r := &net.Resolver{PreferGo: true}
	lines, err := lookup(ctx, r, strings.ToUpper(*typ), pos[0])
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return err
}

// lookup resolves name for one record type and formats one answer a line.
// SRV answers read "priority weight port target", as dig prints them.
func lookup(ctx context.Context, r resolver, typ, name string) ([]string, error) {
	switch typ {
	case "A", "AAAA":
		network := map[string]string{"A": "ip4", "AAAA": "ip6"}[typ]
		ips, err := r.LookupIP(ctx, network, name)
		lines := make([]string, len(ips))
		for i, ip := range ips {
			lines[i] = ip.String()
		}
		return lines, err
	case "SRV":
		// Empty service and proto make Go query name as given.
		_, srvs, err := r.LookupSRV(ctx, "", "", name)
		lines := make([]string, len(srvs))
		for i, s := range srvs {
			lines[i] = fmt.Sprintf("%d %d %d %s", s.Priority, s.Weight, s.Port, s.Target)
		}
		return lines, err
	case "PTR":
		return r.LookupAddr(ctx, name)
	case "CNAME":
		cname, err := r.LookupCNAME(ctx, name)
		if err != nil {
			return nil, err
		}
		return []string{cname}, nil
	case "TXT":
		return r.LookupTXT(ctx, name)
	default:
		return nil, fmt.Errorf("unsupported record type %q", typ)
	}
}
