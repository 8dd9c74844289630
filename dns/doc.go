// Package dns is the cluster DNS server every shoal agent runs. It answers
// the cluster domain (cluster.local unless configured) from an immutable
// zone in memory, built by a pure function from the Services, Endpoints and
// Pods of the replicated state, and forwards every other name to the host's
// resolvers through a small cache.
//
// # Names served
//
// With the default domain, a service "web" and a headless service "db" in
// the namespace "shop" (answers carry a 5 s TTL and the AA bit):
//
//	web.shop.svc.cluster.local.              A     10.96.0.10        the ClusterIP
//	_http._tcp.web.shop.svc.cluster.local.   SRV   0 100 80 web.shop.svc.cluster.local.
//	web.shop.svc.cluster.local.              SRV   every port, same target
//	db.shop.svc.cluster.local.               A     10.244.1.10       one per ready endpoint
//	                                         A     10.244.2.11
//	_pg._tcp.db.shop.svc.cluster.local.      SRV   0 50 5432 db-0.db.shop.svc.cluster.local.
//	                                         SRV   0 50 5432 10-244-2-11.db.shop.svc.cluster.local.
//	db-0.db.shop.svc.cluster.local.          A     10.244.1.10       endpoint with hostname db-0
//	10-244-2-11.db.shop.svc.cluster.local.   A     10.244.2.11       endpoint without hostname
//	10-244-1-10.shop.pod.cluster.local.      A     10.244.1.10       any valid dashed address
//	ext.shop.svc.cluster.local.              CNAME api.example.com.  an ExternalName service
//	10.0.96.10.in-addr.arpa.                 PTR   web.shop.svc.cluster.local.
//	10.1.244.10.in-addr.arpa.                PTR   db-0.db.shop.svc.cluster.local.
//	5.3.244.10.in-addr.arpa.                 PTR   10-244-3-5.shop.pod.cluster.local.
//
// SRV answers carry the targets' addresses in the additional section. An
// address's PTR names the service whose ClusterIP it is, else the endpoint
// with a hostname it backs, else the pod. Not-ready endpoints are served
// only for services with publishNotReadyAddresses. Endpoint names exist for
// ClusterIP services too, as in CoreDNS; only a headless service answers
// with its endpoints' addresses.
//
// Asked for an address, an ExternalName service answers its CNAME and the
// target's records: from the zone when the target is a cluster name, else
// from the upstreams, as CoreDNS does (stub resolvers in pods do not chase a
// bare CNAME themselves).
//
// Pod names are "insecure" in the CoreDNS sense: a-b-c-d.<any namespace>.pod
// answers a.b.c.d for any valid address, so they are computed per query
// rather than stored.
//
// # Negative answers
//
// A name in the cluster domain or in the reverse zones of the pod and
// service networks (Config.ClusterCIDR, Config.ServiceCIDR) that does not
// exist is NXDOMAIN with the zone's SOA in the authority section; a name
// that exists with other types, or that is a level above existing names
// (shop.svc.cluster.local., _tcp.web.shop.svc.cluster.local.), is NODATA:
// NOERROR, no answer, the SOA. A headless service without ready endpoints
// or a service without an address yet is NODATA, not NXDOMAIN: the name
// exists, and resolvers that cut the tree below an NXDOMAIN (RFC 8020) would
// hide its SRV names otherwise. Until the first state arrives, cluster
// names get SERVFAIL, so no client caches a false NXDOMAIN.
//
// # Who may ask what
//
// Cluster names (the cluster domain and the reverse zones of the pod and
// service networks) are answered to anyone who reaches a listener. Every
// other name is forwarded only for the cluster's own clients: loopback,
// sources in the pod network (Config.ClusterCIDR) and the addresses of
// every Node in the store (Run follows them). Any other source gets
// REFUSED, no larger than its query, with RA clear in every answer it
// gets; asked for an ExternalName service, it gets the CNAME without the
// target's records. The policy is the same on every listener: the pod
// bridge's gateway and the host address alike. Without it the host
// listener was an open resolver: a 44-byte query drew 1,164 bytes for
// whomever its source address named.
//
// # Forwarding
//
// Every other name goes to the upstreams (Config.Upstreams, else the
// nameserver lines of /etc/resolv.conf, loopback stubs included: the agent
// shares the host's network namespace) over UDP, again over TCP when
// truncated, each upstream in turn with a 2 s timeout, starting with the
// one that answered last. Answers are cached for their TTL up to 60 s, NXDOMAIN and
// NODATA for the SOA minimum up to 30 s; failures are never cached, and when
// every upstream fails the client gets SERVFAIL.
//
// # Serving
//
// Queries read the zone through an atomic pointer and take no lock. Run
// follows a Source (registry.Registry) and rebuilds the zone at most once per
// Config.RebuildInterval; changes that name nothing, such as a pod's restart
// count, are dropped before a rebuild, and a rebuilt zone equal to the one
// served is dropped too. UDP answers are cut to what the client can receive
// (512 bytes, or its EDNS size up to 1232) with TC set; the client retries
// over TCP. Answers with several addresses rotate by one per query.
//
// UDP on a specific address is served by a loop of our own that reads and
// answers queries in batches (recvmmsg, sendmmsg). The usual query, one
// question of class IN with at most a plain OPT record, for a name the zone
// answers alone, takes the fast path: it is read in place and answered with
// a copy of a response packed once per zone (every rotation of it), with the
// id, the RD and CD bits and the client's spelling of the name patched in.
// The packed responses belong to the zone, so a new zone starts with none
// and no answer outlives a change. Every other packet is unpacked and
// queued for the workers (see Limits). A listener on an unspecified
// address (0.0.0.0, ::) reads each packet's destination (IP_PKTINFO) and
// answers from it. TCP is miekg's server.
//
// # Limits
//
// The work a packet can cause is bounded, and so is what a flood can take;
// every bound is a Config field, and every refusal is counted in Stats
// (shown under "dns" in /shoal/v1/agent).
//
//   - Rate limit (UDP): a token bucket per source address, 300 responses
//     a second with a burst of 600. Over it, every second query is answered
//     with its header and question alone and TC set (so a client whose
//     address an attacker spoofs can still ask over TCP; never larger than
//     the query), the others are dropped, as BIND's response-rate-limiting
//     does with slip 2 (Stats.RateLimited, Stats.Slipped). Loopback and
//     the pod network are not limited: pods are the cluster's own clients,
//     and a busy pod must not lose lookups. The table tracks 16,384 sources
//     at most; a full table forgets idle sources first. TCP is not rate
//     limited: its handshake proves the source.
//   - Workers: a UDP query off the fast path waits in a queue of 1,024 for
//     one of at most 128 workers, which start as queries come and end when
//     the queue is empty; no packet gets a goroutine of its own. A query
//     finding the queue full is dropped (Stats.Dropped): the client asks
//     again, and the flood that filled it gets no more.
//   - Upstreams: at most 100 questions wait for the upstreams at once; a
//     name to forward past that is answered SERVFAIL at once rather than
//     held (Stats.UpstreamBusy), so names nobody answers cannot take every
//     worker from the zone.
//   - TCP: 256 connections at once, 16 per source address; a connection
//     past either is closed as soon as accepted (Stats.TCPRejected). A
//     connection's first query must arrive within 2 s, the next ones within
//     8 s of the last answer, 128 queries at most, writes within 2 s.
//
// Wiring in an agent:
//
//	srv, err := dns.New(cfg, log)
//	go srv.Run(ctx, objects)               // follow the replicated state
//	go srv.Serve(ctx, dnsAddr)             // the agent's --dns-addr
//	srv.Listen(ctx, "10.244.1.1:53")       // once the pod bridge exists
package dns
