package dns

import (
	"fmt"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// dnsTestCases run against fixture(); every record type and every negative
// answer the cluster zone gives.
var dnsTestCases = []testCase{
	// A ClusterIP service.
	{Qname: "web.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"}},
	{Qname: "WEB.Default.svc.CLUSTER.local.", Qtype: mdns.TypeA,
		Answer: []string{"WEB.Default.svc.CLUSTER.local. 5 IN A 10.96.0.10"}},
	{Qname: "web.default.svc.cluster.local.", Qtype: mdns.TypeAAAA,
		Ns: []string{soaCluster}},
	{Qname: "web.default.svc.cluster.local.", Qtype: mdns.TypeCNAME,
		Ns: []string{soaCluster}},
	{Qname: "web.default.svc.cluster.local.", Qtype: mdns.TypeTXT,
		Ns: []string{soaCluster}},
	{Qname: "web.other.svc.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{"web.other.svc.cluster.local. 5 IN A 10.96.1.1"}},
	// SRV of a ClusterIP service: the named ports, and every port under the name itself.
	{Qname: "_http._tcp.web.default.svc.cluster.local.", Qtype: mdns.TypeSRV,
		Answer: []string{"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."},
		Extra:  []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"}},
	{Qname: "_dns._udp.web.default.svc.cluster.local.", Qtype: mdns.TypeSRV,
		Answer: []string{"_dns._udp.web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local."},
		Extra:  []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"}},
	{Qname: "web.default.svc.cluster.local.", Qtype: mdns.TypeSRV,
		Answer: []string{
			"web.default.svc.cluster.local. 5 IN SRV 0 50 53 web.default.svc.cluster.local.",
			"web.default.svc.cluster.local. 5 IN SRV 0 50 80 web.default.svc.cluster.local.",
		},
		Extra: []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"}},
	{Qname: "_http._udp.web.default.svc.cluster.local.", Qtype: mdns.TypeSRV,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "_http._tcp.web.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Ns: []string{soaCluster}},
	{Qname: "_tcp.web.default.svc.cluster.local.", Qtype: mdns.TypeSRV,
		Ns: []string{soaCluster}},
	// Endpoint names of a ClusterIP service (as CoreDNS answers them).
	{Qname: "10-244-1-5.web.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{"10-244-1-5.web.default.svc.cluster.local. 5 IN A 10.244.1.5"}},
	{Qname: "10-244-1-9.web.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	// A dual-stack service.
	{Qname: "dual.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{"dual.default.svc.cluster.local. 5 IN A 10.96.0.20"}},
	{Qname: "dual.default.svc.cluster.local.", Qtype: mdns.TypeAAAA,
		Answer: []string{"dual.default.svc.cluster.local. 5 IN AAAA fd00:96::20"}},
	// A headless service: its ready endpoints only.
	{Qname: "db.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{
			"db.default.svc.cluster.local. 5 IN A 10.244.1.10",
			"db.default.svc.cluster.local. 5 IN A 10.244.1.12",
			"db.default.svc.cluster.local. 5 IN A 10.244.2.11",
		}},
	{Qname: "_pg._tcp.db.default.svc.cluster.local.", Qtype: mdns.TypeSRV,
		Answer: []string{
			"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-0.db.default.svc.cluster.local.",
			"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-1.db.default.svc.cluster.local.",
			"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 10-244-1-12.db.default.svc.cluster.local.",
		},
		Extra: []string{
			"db-0.db.default.svc.cluster.local. 5 IN A 10.244.1.10",
			"db-1.db.default.svc.cluster.local. 5 IN A 10.244.2.11",
			"10-244-1-12.db.default.svc.cluster.local. 5 IN A 10.244.1.12",
		}},
	{Qname: "db-0.db.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{"db-0.db.default.svc.cluster.local. 5 IN A 10.244.1.10"}},
	{Qname: "10-244-1-12.db.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{"10-244-1-12.db.default.svc.cluster.local. 5 IN A 10.244.1.12"}},
	{Qname: "db-3.db.default.svc.cluster.local.", Qtype: mdns.TypeA, // not ready
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "db-0.db.default.svc.cluster.local.", Qtype: mdns.TypeAAAA,
		Ns: []string{soaCluster}},
	// Headless without ready endpoints: the name exists, without addresses.
	{Qname: "lonely.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Ns: []string{soaCluster}},
	// publishNotReadyAddresses publishes the endpoints that are not ready.
	{Qname: "pub.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{"pub.default.svc.cluster.local. 5 IN A 10.244.3.4"}},
	// A service without a cluster IP yet.
	{Qname: "pending.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Ns: []string{soaCluster}},
	// ExternalName: a CNAME; an in-cluster target is followed here.
	{Qname: "ext.default.svc.cluster.local.", Qtype: mdns.TypeCNAME,
		Answer: []string{"ext.default.svc.cluster.local. 5 IN CNAME example.com."}},
	{Qname: "alias.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{
			"alias.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.",
			"web.default.svc.cluster.local. 5 IN A 10.96.0.10",
		}},
	{Qname: "alias.default.svc.cluster.local.", Qtype: mdns.TypeAAAA,
		Answer: []string{"alias.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local."},
		Ns:     []string{soaCluster}},
	{Qname: "loop.default.svc.cluster.local.", Qtype: mdns.TypeA, // a CNAME to itself is not served
		Ns: []string{soaCluster}},
	{Qname: "ping.default.svc.cluster.local.", Qtype: mdns.TypeA, // a loop ends after 8 links
		Answer: []string{
			"ping.default.svc.cluster.local. 5 IN CNAME pong.default.svc.cluster.local.",
			"pong.default.svc.cluster.local. 5 IN CNAME ping.default.svc.cluster.local.",
			"ping.default.svc.cluster.local. 5 IN CNAME pong.default.svc.cluster.local.",
			"pong.default.svc.cluster.local. 5 IN CNAME ping.default.svc.cluster.local.",
			"ping.default.svc.cluster.local. 5 IN CNAME pong.default.svc.cluster.local.",
			"pong.default.svc.cluster.local. 5 IN CNAME ping.default.svc.cluster.local.",
			"ping.default.svc.cluster.local. 5 IN CNAME pong.default.svc.cluster.local.",
			"pong.default.svc.cluster.local. 5 IN CNAME ping.default.svc.cluster.local.",
		}},
	// Names that do not exist, and the levels above services that do.
	{Qname: "nope.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "bad_name.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "badip.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Ns: []string{soaCluster}},
	{Qname: "orphan.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "default.svc.cluster.local.", Qtype: mdns.TypeA,
		Ns: []string{soaCluster}},
	{Qname: "nons.svc.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "svc.cluster.local.", Qtype: mdns.TypeA,
		Ns: []string{soaCluster}},
	{Qname: "dns-version.cluster.local.", Qtype: mdns.TypeTXT,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "web.default.svc.cluster.local.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "google.com.default.svc.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	// The apex.
	{Qname: "cluster.local.", Qtype: mdns.TypeSOA,
		Answer: []string{soaCluster}},
	{Qname: "cluster.local.", Qtype: mdns.TypeNS,
		Answer: []string{"cluster.local. 5 IN NS ns.dns.cluster.local."}},
	{Qname: "cluster.local.", Qtype: mdns.TypeA,
		Ns: []string{soaCluster}},
	{Qname: "cluster.local.", Qtype: mdns.TypeANY,
		Answer: []string{soaCluster, "cluster.local. 5 IN NS ns.dns.cluster.local."}},
	// Pods: any valid dashed address in any namespace ("pods insecure").
	{Qname: "10-244-1-5.default.pod.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{"10-244-1-5.default.pod.cluster.local. 5 IN A 10.244.1.5"}},
	{Qname: "10-244-9-9.anyns.pod.cluster.local.", Qtype: mdns.TypeA,
		Answer: []string{"10-244-9-9.anyns.pod.cluster.local. 5 IN A 10.244.9.9"}},
	{Qname: "10-244-1-5.default.pod.cluster.local.", Qtype: mdns.TypeAAAA,
		Ns: []string{soaCluster}},
	{Qname: "fd00--1.default.pod.cluster.local.", Qtype: mdns.TypeAAAA,
		Answer: []string{"fd00--1.default.pod.cluster.local. 5 IN AAAA fd00::1"}},
	{Qname: "1-2-3.default.pod.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "999-1-1-1.default.pod.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "10-244-1-5.Bad_NS.pod.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "x.10-244-1-5.default.pod.cluster.local.", Qtype: mdns.TypeA,
		Rcode: mdns.RcodeNameError, Ns: []string{soaCluster}},
	{Qname: "default.pod.cluster.local.", Qtype: mdns.TypeA,
		Ns: []string{soaCluster}},
	{Qname: "pod.cluster.local.", Qtype: mdns.TypeA,
		Ns: []string{soaCluster}},
	// PTR: a service address names the service, an endpoint with a hostname
	// the endpoint, any other pod its pod name.
	{Qname: "10.0.96.10.in-addr.arpa.", Qtype: mdns.TypePTR,
		Answer: []string{"10.0.96.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local."}},
	{Qname: "10.1.244.10.in-addr.arpa.", Qtype: mdns.TypePTR,
		Answer: []string{"10.1.244.10.in-addr.arpa. 5 IN PTR db-0.db.default.svc.cluster.local."}},
	{Qname: "11.2.244.10.in-addr.arpa.", Qtype: mdns.TypePTR,
		Answer: []string{"11.2.244.10.in-addr.arpa. 5 IN PTR db-1.db.default.svc.cluster.local."}},
	{Qname: "5.1.244.10.in-addr.arpa.", Qtype: mdns.TypePTR,
		Answer: []string{"5.1.244.10.in-addr.arpa. 5 IN PTR 10-244-1-5.default.pod.cluster.local."}},
	{Qname: "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa.", Qtype: mdns.TypePTR,
		NoAA:   true, // outside the cluster's reverse zones: known, not authoritative
		Answer: []string{"0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa. 5 IN PTR dual.default.svc.cluster.local."}},
	{Qname: "5.0.17.172.in-addr.arpa.", Qtype: mdns.TypePTR,
		NoAA:   true,
		Answer: []string{"5.0.17.172.in-addr.arpa. 5 IN PTR 172-17-0-5.default.pod.cluster.local."}},
	{Qname: "99.9.244.10.in-addr.arpa.", Qtype: mdns.TypePTR,
		Rcode: mdns.RcodeNameError, Ns: []string{soaPods}},
	{Qname: "9.3.244.10.in-addr.arpa.", Qtype: mdns.TypePTR, // a failed pod's address is free
		Rcode: mdns.RcodeNameError, Ns: []string{soaPods}},
	{Qname: "99.0.96.10.in-addr.arpa.", Qtype: mdns.TypePTR,
		Rcode: mdns.RcodeNameError, Ns: []string{soaServices}},
	{Qname: "1.244.10.in-addr.arpa.", Qtype: mdns.TypePTR,
		Ns: []string{soaPods}},
	{Qname: "5.1.244.10.in-addr.arpa.", Qtype: mdns.TypeA,
		Ns: []string{soaPods}},
	{Qname: "244.10.in-addr.arpa.", Qtype: mdns.TypeSOA,
		Answer: []string{soaPods}},
}

func TestZone(t *testing.T) {
	s := newTestServer(t, testConfig())
	serveZone(s, fixture())
	for _, tc := range dnsTestCases {
		t.Run(tc.Qname+"/"+mdns.TypeToString[tc.Qtype], func(t *testing.T) {
			tc.check(t, query(t, s, tc.Qname, tc.Qtype))
		})
	}
}

// The zone keeps no record it cannot pack, whatever the objects hold: an
// ExternalName of "\" (found by FuzzBuildZone) once made a CNAME whose
// target was the escaped dot "\.", not an absolute name, and every answer
// holding it failed. Objects arrive by replication too, so the builder
// checks them itself rather than trusting the API's validation.
func TestBuildZoneSkipsWhatDoesNotPack(t *testing.T) {
	long := strings.Repeat("a", 63)
	snap := Snapshot{}
	for i, target := range []string{`\`, `a\`, `a\.b`, "a..b", ".a", "a b", "10.0.0.1", strings.Repeat(long+".", 4) + "com", "ok.example.com"} {
		snap.Services = append(snap.Services, extSvc("default", fmt.Sprintf("ext-%d", i), target))
	}
	// A domain long enough that endpoint names under it pass 255 octets.
	opts := zoneOptions{domain: strings.Repeat("d", 63) + "." + strings.Repeat("e", 63) + ".", ttl: 5}
	snap.Services = append(snap.Services, svc(long, long, api.ClusterIPNone, svcPort("http", "TCP", 80)))
	snap.Endpoints = append(snap.Endpoints, eps(long, long, []api.EndpointAddress{addr("10.244.1.5", long)}, nil,
		api.EndpointPort{Name: "http", Port: 80, Protocol: "TCP"}))

	for _, o := range []zoneOptions{{domain: "cluster.local.", ttl: 5}, opts} {
		z := buildZone(o, reduceSnapshot(snap))
		z.publish(1)
		cnames := 0
		for owner, n := range z.nodes {
			if !packableName(owner) {
				t.Errorf("owner %q does not pack", owner)
			}
			for _, set := range n.sets {
				m := new(mdns.Msg)
				m.SetQuestion(owner, mdns.TypeANY)
				m.Answer = set.rrs
				if _, err := m.Pack(); err != nil {
					t.Errorf("records of %q do not pack: %v %v", owner, err, set.rrs)
				}
				if set.typ == mdns.TypeCNAME {
					cnames++
				}
			}
		}
		if cnames != 1 {
			t.Errorf("domain %s: %d CNAMEs, want only ok.example.com's", o.domain, cnames)
		}
	}
	s := newTestServer(t, testConfig())
	serveZone(s, snap)
	if r := query(t, s, "ext-0.default.svc.cluster.local.", mdns.TypeCNAME); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("an ExternalName that cannot be served: %v, want NODATA", r)
	}
	if r := query(t, s, "ext-8.default.svc.cluster.local.", mdns.TypeCNAME); len(r.Answer) != 1 {
		t.Errorf("a valid ExternalName: %v", r)
	}
}
