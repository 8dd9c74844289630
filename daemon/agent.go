package daemon

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/daemon/leader/election"
	"github.com/shoal-dev/shoal/daemon/leader/nodelifecycle"
	"github.com/shoal-dev/shoal/daemon/metrics"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/api/ui"
	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/daemon/leader/apiservice"
	"github.com/shoal-dev/shoal/daemon/leader/controller"
	"github.com/shoal-dev/shoal/daemon/leader/scheduler"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/enginehealth"
	"github.com/shoal-dev/shoal/daemon/node/imagebuild"
	"github.com/shoal-dev/shoal/daemon/node/imagemove"
	"github.com/shoal-dev/shoal/daemon/node/ingress"
	"github.com/shoal-dev/shoal/daemon/node/proxy"
	"github.com/shoal-dev/shoal/daemon/node/resourceusage"
	"github.com/shoal-dev/shoal/daemon/node/runtime"
	"github.com/shoal-dev/shoal/daemon/node/sandbox"
	"github.com/shoal-dev/shoal/daemon/node/volumereclaim"
	"github.com/shoal-dev/shoal/daemon/trust/atrest"
	"github.com/shoal-dev/shoal/daemon/trust/auth"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/daemon/trust/satoken"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
	"github.com/shoal-dev/shoal/registry/admission/ipalloc"
	"github.com/shoal-dev/shoal/registry/admission/podsecurity"
	"github.com/shoal-dev/shoal/registry/informer"
)

// Run runs the agent until ctx ends. Stopping leaves the pods' containers
// running; the next start adopts them.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	return run(ctx, cfg, log, nil)
}

// run is Run, or RunSimulated with sim set (simulation.go).
func run(ctx context.Context, cfg Config, log *slog.Logger, sim *Simulation) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	addr := cfg.advertiseAddress()
	log = log.With("node", cfg.Name)
	apiURL := cfg.apiURL(addr)
	log.Info("starting agent", "version", cfg.Version, "data_dir", cfg.DataDir, "api", apiURL, "address", addr)

	// The identity comes first: an agent a peer refuses writes nothing.
	certIPs := cfg.certificateIPs(addr)
	node, joined, err := loadOrJoin(ctx, cfg, certIPs, log)
	if err != nil {
		return err
	}
	sealer, err := atrest.Load(identity.Dir(cfg.DataDir))
	if err != nil {
		return err
	}
	// One registry per agent: agents run in one process (simulations,
	// tests) keep their metrics apart.
	mx := metrics.New()
	storeOpts := []gossip.Option{gossip.WithMaxClockOffset(cfg.MaxClockOffset), gossip.WithSealer(sealer),
		gossip.WithPersistObserver(mx.ObservePersist)}
	if cfg.DropFutureRecords {
		storeOpts = append(storeOpts, gossip.WithDropFutureRecords())
	}
	st, err := openStore(cfg, log, storeOpts...)
	if err != nil {
		return err
	}
	defer st.Close()
	ci, err := setupIdentity(ctx, cfg, st, node, joined, certIPs, log)
	if err != nil {
		return err
	}
	if err := ci.greetPeers(ctx); err != nil {
		return err
	}
	registry := registry.New(st)
	// Field stamps name the user of each write, for the Events that
	// report concurrent edits of one field.
	registry.SetUserOf(func(ctx context.Context) string {
		if u := server.UserFrom(ctx); u != nil {
			return u.Username
		}
		return ""
	})
	cl, err := startCluster(ctx, cfg, st, ci, recordValidators(registry), log)
	if err != nil {
		return err
	}
	defer func() {
		if err := cl.Leave(2 * time.Second); err != nil {
			log.Debug("leaving the cluster", "err", err)
		}
		_ = cl.Shutdown()
	}()
	if err := waitRebuilt(ctx, cl, st, log); err != nil {
		return err
	}
	mx.SetGossip(cl.Stats, cl.Members, st.Len)
	// Nodes are served with their Ready condition from membership.
	mem := gossipMembership{cl: cl, maxOffset: cfg.MaxClockOffset}
	objs := nodelifecycle.NewHealthStore(registry, mem, cfg.Name)
	_, serviceCIDR, _ := net.ParseCIDR(cfg.ServiceCIDR) // checked by validate
	objs.AddAdmission(ipalloc.NewAllocator(serviceCIDR).Admit)
	podSecurityDefault, _ := podsecurity.ParseLevel(cfg.PodSecurityDefault) // checked by validate
	objs.AddAdmission(podsecurity.New(podSecurityDefault, log).Admit)
	if err := ensureNamespaces(ctx, objs); err != nil {
		return err
	}
	// The agent's one shared cache: every consumer reads it, so each
	// change is decoded once here whatever their number.
	inf := informer.New(objs, informer.Options{Log: log.With("component", "informer")})
	policy, err := auth.NewCache(ctx, objs, log)
	if err != nil {
		return fmt.Errorf("authorisation: %w", err)
	}

	cdns, err := newClusterDNS(cfg, sim.hostLevel(), log)
	if err != nil {
		return err
	}
	defer cdns.shutdown()
	cdns.srv.SetObserver(mx)

	// notReady holds why the agent is not ready yet; nil once it is.
	lead := election.New(cfg.Name, mem, settleTime(cfg), log.With("component", "leadership"))
	var notReady atomic.Pointer[string]
	connecting := "connecting to the container engine"
	notReady.Store(&connecting)
	var rt atomic.Pointer[runtime.Runtime]
	var apiServer atomic.Pointer[server.Server]     // for the agent route, which the server serves
	var builder atomic.Pointer[engine.ImageBuilder] // set once the engine answers
	builds := imagebuild.New(imagebuild.Config{Log: log, Builder: func() engine.ImageBuilder {
		if b := builder.Load(); b != nil {
			return *b
		}
		return nil
	}, EnforceLevel: func(ctx context.Context, ns string) (string, error) {
		return namespaceEnforceLevel(ctx, objs, ns, cfg.PodSecurityDefault)
	}})
	mover := &imageMover{name: cfg.Name, cl: cl, live: ci.live}
	usage := &clusterUsage{node: cfg.Name, cl: cl, live: ci.live, log: log.With("component", "resource-usage")}
	srv := server.New(server.Config{Store: objs, Log: log, Version: cfg.Version,
		PodIO:        &podIO{rt: &rt, store: objs, node: cfg.Name, cl: cl, live: ci.live},
		AllowedHosts: cfg.apiAllowedHosts(),
		// Watches and streams are counted per user (forwarded requests
		// too: they carry their user), per address before authentication.
		ClientKey: func(r *http.Request) string {
			if u := server.UserFrom(r.Context()); u != nil {
				return "user:" + u.Username
			}
			return server.RemoteIP(r)
		},
		Ready: func() error {
			if why := notReady.Load(); why != nil {
				return errors.New(*why)
			}
			return nil
		},
		Authenticator: auth.NewAuthenticator(policy).WithServiceAccountTokens(&satoken.Verifier{
			Roots: func() *x509.CertPool { return ci.live.Node().Pool() }, Pods: objs}),
		Authorizer: auth.NewAuthorizer(policy),
		Metrics:    usage,
		Observer:   mx,
		UI:         ui.Handler(),
		Extra: append(agentRoutes(cfg, st, sealer, cl, mem, lead, cdns.srv, registry, inf,
			func() server.WatchStats { return apiServer.Load().WatchStats() }), builds.Route(), mover.route(),
			// Authorised by path: get on the non-resource URL /metrics
			// (the view role and the shoal:metrics role have it).
			server.Route{Method: http.MethodGet, Path: "/metrics", Handler: mx.Handler().ServeHTTP})})
	apiServer.Store(srv)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	stop := func(err error) error {
		cancel()
		wg.Wait()
		return err
	}
	run("authorisation", func(ctx context.Context) error { policy.Run(ctx); return nil })
	internalL, err := cl.TLSListener()
	if err != nil {
		return stop(err)
	}
	run("internal endpoints", func(ctx context.Context) error {
		return serveInternal(ctx, internalL, ci.live, internalHandler(cfg.Name, authority{st: st, members: cl.Members}, cl, srv,
			mover.serveSave, usage.serve, log.With("component", "internal")), log.With("component", "internal"))
	})
	run("cluster identity", ci.maintain(cl))
	serve := func(l net.Listener, what string, conn func(context.Context, net.Conn) context.Context) {
		hs := server.NewHTTPServer(srv)
		hs.ConnContext, hs.ErrorLog = conn, handshakeLog(log.With("component", "api"))
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", what, err)
			}
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
			defer c()
			_ = hs.Shutdown(sctx)
		}()
	}
	tlsCfg, err := ci.apiTLS()
	if err != nil {
		return stop(err)
	}
	apiL, err := listenAPI(cfg.APIAddr, apiURL, tlsCfg)
	if err != nil {
		return stop(fmt.Errorf("api address %s: %w", cfg.APIAddr, err))
	}
	serve(apiL, "api", nil)
	sock := filepath.Join(cfg.DataDir, "shoal.sock")
	_ = os.Remove(sock)
	if unixL, err := net.Listen("unix", sock); err == nil {
		_ = os.Chmod(sock, 0o600)
		// Only the agent's own user (root) can open the socket: it is the
		// host's administrator.
		serve(unixL, "unix socket", func(ctx context.Context, _ net.Conn) context.Context {
			return server.WithUser(ctx, localAdmin)
		})
	} else {
		log.Warn("local socket unavailable", "path", sock, "err", err)
	}
	if ci.founded {
		// The admin credential is usable at once, before any engine.
		if err := auth.EnsureBuiltins(ctx, objs); err != nil {
			return stop(err)
		}
	}
	if err := ci.ensureAdmin(ctx, objs, apiURL); err != nil {
		return stop(err)
	}

	eng, err := sim.engine(ctx, cfg, log)
	if err != nil {
		return stop(err)
	}
	if d, ok := eng.(*engine.Docker); ok {
		d.SetObserver(mx)
	}
	info, err := eng.Info(ctx)
	if err != nil {
		return stop(fmt.Errorf("engine info: %w", err))
	}
	if b, ok := eng.(engine.ImageBuilder); ok {
		builder.Store(&b)
	}
	var sandboxImage string
	if sim != nil {
		sandboxImage = sim.SandboxImage
	} else if sandboxImage, err = ensureSandboxImage(ctx, eng, cfg); err != nil {
		return stop(err)
	} else {
		// Off the start path: removing layers of earlier builds' images
		// takes the engine a while, and nothing waits for it.
		run("old sandbox images", func(ctx context.Context) error {
			sandbox.RemoveOldImages(ctx, eng, sandboxImage, log)
			return nil
		})
	}
	if err := waitSynced(ctx, cl, log, 10*time.Second); err != nil {
		return stop(err)
	}
	if err := auth.EnsureBuiltins(ctx, objs); err != nil {
		return stop(err)
	}
	if err := registerNode(ctx, objs, sim.node(nodeObject(cfg, info, addr))); err != nil {
		return stop(err)
	}

	rec := events.New(objs, "kubelet", cfg.Name, log)
	run("informer", func(ctx context.Context) error { inf.Run(ctx); return nil })
	// Every consumer below reads the informer: the read-only ones the
	// shared objects, those that change what they read private copies.
	view := inf.View()
	pnet, err := setupPodNetwork(ctx, cfg, addr, ci.live, eng, objs, rec, log.With("component", "pod-network"), sim.hostLevel(),
		func(gw net.IP) { cdns.useGateway(ctx, gw) })
	if err != nil {
		return stop(err)
	}
	cdns.useGateway(ctx, pnet.gateway)
	// Images move between hosts when the engine can save and load them
	// (the real one can; docs/images.md).
	var peers runtime.PeerImages
	if movable, ok := eng.(imagemove.Engine); ok {
		imgLog := log.With("component", "images")
		reporter := imagemove.NewReporter(movable, nodeImages{store: objs, name: cfg.Name}, 0, imgLog)
		fetcher := mover.start(ctx, &wg, movable, filepath.Join(cfg.DataDir, "image-spool"), view, reporter.Kick, imgLog)
		peers = mover
		run("node-images", func(ctx context.Context) error { reporter.Run(ctx); return nil })
		// Copies start when a pod is bound here, beside its sandbox.
		ownPods := view.Narrow(api.KindPod, informer.OnNode(cfg.Name))
		prefetch := imagemove.NewPrefetcher(fetcher, func(ctx context.Context) (<-chan api.WatchEvent, error) {
			return ownPods.Watch(ctx, api.KindPod, "", api.ListOptions{})
		}, imgLog)
		run("image-prefetch", func(ctx context.Context) error { prefetch.Run(ctx); return nil })
	}
	rtCfg := runtime.Config{NodeName: cfg.Name, HostIP: addr, SandboxImage: sandboxImage,
		DataDir: cfg.DataDir, Peers: peers,
		DNSServers: cdns.servers, DNSSearch: dnsSearch(cfg.ClusterDomain), Tokens: podTokensUnlessSimulated(ci, sim),
		APIServiceHost: apiServiceHost(cfg), Observer: mx}
	pnet.runtimeConfig(&rtCfg)
	// Pods of one container run without a sandbox, through this gate.
	if rtCfg.NetWaitPath, err = sandbox.InstallNetWait(filepath.Join(cfg.DataDir, "bin")); err != nil {
		return stop(err)
	}
	runner := runtime.New(rtCfg, eng,
		// Only this node's pods, through the informer's spec.nodeName
		// index; copies, as the runner writes what it reads.
		informedStore{objs, view.Narrow(api.KindPod, informer.OnNode(cfg.Name)).Copies()}, rec, log)
	rt.Store(runner)
	if vr, ok := eng.(engine.VolumeRemover); ok {
		reclaim := volumereclaim.New(volumereclaim.Config{Node: cfg.Name, Engine: vr, Objects: view, Answers: objs, Log: log})
		run("volume-reclaim", func(ctx context.Context) error { reclaim.Run(ctx); return nil })
	}
	if se, ok := eng.(resourceusage.Engine); ok {
		procRoot := ""
		if sim != nil {
			procRoot = "-" // simulated nodes share one host: no node usage of their own
		}
		sampler := resourceusage.New(resourceusage.Config{Node: cfg.Name, Engine: se, ProcRoot: procRoot, Log: log.With("component", "resource-usage")})
		usage.local.Store(sampler)
		run("resource-usage", func(ctx context.Context) error { sampler.Run(ctx); return nil })
	}
	manager := controller.NewManager(objs, inf, rec.ForComponent("controller-manager"), log, controller.Options{Metrics: usage,
		ReservedPorts: func() []int32 { return reservedPorts(cfg, cl.Members()) }, Observer: mx})
	sched := scheduler.New(informedStore{objs, view.Copies()}, rec.ForComponent("default-scheduler"), log, scheduler.Options{Observer: mx})
	mx.AddQueues(manager.QueueDepths)
	mx.AddQueues(sched.QueueDepth)

	ev := nodelifecycle.NewEvictor(objs, cfg.PodEvictionTimeout, rec.ForComponent("node-controller"), log.With("component", "eviction"))
	run("events", func(ctx context.Context) error { rec.Run(ctx); return nil })
	for name, loop := range pnet.loops(eng, view) {
		run(name, loop)
	}
	clusterPrefix, _ := netip.ParsePrefix(cfg.ClusterCIDR) // checked by validate
	px := proxy.New(proxy.Config{Rules: proxy.RulesConfig{ClusterCIDR: clusterPrefix}, Kernel: sim.proxyKernel(),
		OnSync: func(r proxy.SyncResult) {
			mx.ObserveProxySync(r.Generate+r.Apply, r.Latency, r.ServicePorts, r.Chains, r.Rules, r.Err)
		}}, log.With("component", "service-proxy"))
	run("service-proxy", func(ctx context.Context) error { return px.Run(ctx, view) })
	run("cluster-dns", func(ctx context.Context) error { return cdns.srv.Run(ctx, view) })
	if hostDNS := cfg.dnsHostAddr(addr); hostDNS != "" {
		run("cluster-dns-host", func(ctx context.Context) error { cdns.serveHost(ctx, hostDNS); return nil })
	}
	if cfg.IngressAddr != "" || cfg.IngressTLSAddr != "" || sim != nil {
		ing := ingress.New(ingress.DefaultConfig(), log.With("component", "ingress"))
		mx.SetIngress(ing.Stats)
		run("ingress", func(ctx context.Context) error { return ing.Run(ctx, view) })
		serveIngress(ctx, &wg, ing, cfg, log)
	}
	run("runtime", runner.Run)
	// The engine's health becomes the node's Ready condition; its recovery
	// makes the runner reconcile at once.
	health := enginehealth.New(eng, enginehealth.Config{Interval: cfg.EngineCheckInterval, Timeout: cfg.EngineCheckTimeout}, log)
	run("engine-health", func(ctx context.Context) error { health.Run(ctx); return nil })
	run("node-status", func(ctx context.Context) error {
		reportEngineHealth(ctx, objs, cfg.Name, health, runner.EngineRecovered, log.With("component", "node-status"))
		return nil
	})
	// The controllers, the scheduler and eviction act on the leader only.
	run("leadership", func(ctx context.Context) error {
		lead.Run(ctx, func(ctx context.Context) {
			var lw sync.WaitGroup
			repair := func(ctx context.Context) error {
				ipalloc.Repair(ctx, objs, log.With("component", "service-repair"), 5*time.Second)
				return nil
			}
			kubeSvc := func(ctx context.Context) error {
				changes, unsubscribe := cl.Subscribe()
				defer unsubscribe()
				apiservice.New(apiservice.Config{Store: objs, Members: func() []apiservice.Member { return apiMembersOf(cl) },
					Changes: changes, ServiceCIDR: netip.MustParsePrefix(cfg.ServiceCIDR), Log: log}).Run(ctx)
				return nil
			}
			for _, loop := range []func(context.Context) error{manager.Run, sched.Run, repair, kubeSvc,
				func(ctx context.Context) error { ev.Run(ctx); return nil }} {
				lw.Add(1)
				go func() {
					defer lw.Done()
					if err := loop(ctx); err != nil && ctx.Err() == nil {
						log.Error("leader loop failed", "err", err)
					}
				}()
			}
			lw.Wait()
		})
		return nil
	})
	run("tombstones", func(ctx context.Context) error { collectTombstones(ctx, st, log); return nil })
	run("orphaned statuses", func(ctx context.Context) error { collectOrphanStatuses(ctx, registry, log); return nil })
	run("conflicts", func(ctx context.Context) error {
		registry.RecordConflicts(ctx, cfg.Name, log.With("component", "registry"))
		return nil
	})
	notReady.Store(nil)
	log.Info("agent ready", "engine", info.ServerVersion, "sandbox_image", sandboxImage)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		log.Error("agent component failed", "err", runErr)
	case <-cl.Done():
		runErr = cl.Err()
		log.Error("left the cluster", "err", runErr)
	}
	cancel()
	wg.Wait()
	log.Info("agent stopped; pod containers keep running")
	return runErr
}

// localAdmin is whoever opens the agent's unix socket: only the agent's
// own user can.
var localAdmin = &api.UserInfo{Username: "system:local-admin", Groups: []string{api.GroupMasters, api.GroupAuthenticated}}

// settleTime is how long membership must be stable before an agent leads:
// none for an agent without peers.
func settleTime(cfg Config) time.Duration {
	if len(cfg.Join) == 0 {
		return 0
	}
	return 2 * time.Second
}

// ensureSandboxImage imports the pod sandbox image into the engine (the
// tiny pause, or the agent's own binary where there is none).
func ensureSandboxImage(ctx context.Context, eng engine.Engine, cfg Config) (string, error) {
	exe := cfg.ExePath
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return "", fmt.Errorf("find own executable: %w", err)
		}
	}
	ref, err := sandbox.EnsureImage(ctx, eng, exe)
	if err != nil {
		return "", fmt.Errorf("sandbox image: %w", err)
	}
	return ref, nil
}

// namespaceEnforceLevel is the Pod Security level a namespace enforces:
// its label, else the cluster's default (also for a namespace not made
// yet).
func namespaceEnforceLevel(ctx context.Context, objs server.Store, ns, def string) (string, error) {
	o, err := objs.Get(ctx, api.KindNamespace, "", ns)
	if api.IsNotFound(err) {
		return def, nil
	}
	if err != nil {
		return "", err
	}
	if l := o.GetObjectMeta().Labels[api.LabelPodSecurityEnforce]; l != "" {
		return l, nil
	}
	return def, nil
}

// connectEngine waits for the engine to answer, saying so while it waits.
func connectEngine(ctx context.Context, cfg Config, log *slog.Logger) (engine.Engine, error) {
	eng, err := engine.NewDocker(cfg.DockerHost, log)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", cfg.DockerHost, err)
	}
	delay := 200 * time.Millisecond
	for {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := eng.Info(ictx)
		cancel()
		if err == nil {
			return eng, nil
		}
		log.Warn("container engine not reachable yet; retrying", "docker_host", cfg.DockerHost, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// collectTombstones forgets deletions older than the retention period.
func collectTombstones(ctx context.Context, st *gossip.Store, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := st.CollectTombstones(ctx, gossip.DefaultRetention); err != nil {
				log.Warn("collecting tombstones failed", "err", err)
			} else if n > 0 {
				log.Debug("tombstones collected", "count", n)
			}
		}
	}
}

// orphanInterval is how often an agent looks for status records of
// deleted objects (registry.CollectOrphanStatuses): a scan of the status
// records in memory, cheap, and writes only when it finds one.
const orphanInterval = 15 * time.Second

func collectOrphanStatuses(ctx context.Context, reg *registry.Registry, log *slog.Logger) {
	t := time.NewTicker(orphanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := reg.CollectOrphanStatuses(ctx); err != nil {
				if ctx.Err() == nil {
					log.Warn("collecting orphaned status records failed", "err", err)
				}
			} else if n > 0 {
				log.Info("orphaned status records collected: their objects were deleted", "count", n)
			}
		}
	}
}

// podIO serves logs and exec through the runner once it exists, and says
// which agent serves pods of other nodes.
type podIO struct {
	rt    *atomic.Pointer[runtime.Runtime]
	store Store
	node  string
	cl    *gossip.Cluster
	live  *identity.Live

	transports sync.Map // node name -> http.RoundTripper
}

// Locate returns the agent that runs the pod, or nil for here: the member
// of that name, at the address membership knows, over mutual TLS that
// accepts only that node's certificate.
func (p *podIO) Locate(ctx context.Context, ns, pod string) (*server.Target, error) {
	obj, err := p.store.Get(ctx, api.KindPod, ns, pod)
	if err != nil {
		return nil, err
	}
	node := obj.(*api.Pod).Spec.NodeName
	if node == "" || node == p.node {
		return nil, nil
	}
	for _, m := range p.cl.Members() {
		if m.Name != node {
			continue
		}
		if m.State != gossip.StateAlive {
			return nil, api.NewUnavailable(fmt.Sprintf("pod %s runs on node %s, whose agent is not reachable (%s)", pod, node, m.State))
		}
		tr, ok := p.transports.Load(node)
		if !ok {
			tr, _ = p.transports.LoadOrStore(node, peerClient(p.live, node, 0).Transport)
		}
		return &server.Target{URL: forwardTarget(m.Addr), Transport: tr.(http.RoundTripper)}, nil
	}
	return nil, api.NewUnavailable(fmt.Sprintf("pod %s runs on node %s, which is not a member of the cluster this agent knows", pod, node))
}

func (p *podIO) runner() (*runtime.Runtime, error) {
	r := p.rt.Load()
	if r == nil {
		return nil, api.NewUnavailable("the agent is still starting; try again in a moment")
	}
	return r, nil
}

func (p *podIO) Logs(ctx context.Context, ns, pod string, opts api.LogOptions, w io.Writer) error {
	r, err := p.runner()
	if err != nil {
		return err
	}
	return notHere(r.Logs(ctx, ns, pod, opts, w))
}

func (p *podIO) Exec(ctx context.Context, ns, pod string, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) (int, error) {
	r, err := p.runner()
	if err != nil {
		return -1, err
	}
	code, err := r.Exec(ctx, ns, pod, opts, stdin, stdout, stderr, resize)
	return code, notHere(err)
}

// Attach joins the main process of a container of a pod on this node.
func (p *podIO) Attach(ctx context.Context, ns, pod string, opts api.ExecOptions, stdin io.Reader, stdout, stderr io.Writer, resize <-chan api.TerminalSize) error {
	r, err := p.runner()
	if err != nil {
		return err
	}
	return notHere(r.Attach(ctx, ns, pod, opts, stdin, stdout, stderr, resize))
}

// DialPod connects to a port of a pod on this node.
func (p *podIO) DialPod(ctx context.Context, ns, pod string, port uint16) (net.Conn, error) {
	r, err := p.runner()
	if err != nil {
		return nil, err
	}
	c, err := r.DialPod(ctx, ns, pod, port)
	return c, notHere(err)
}

// Top lists the processes of a container of a pod on this node.
func (p *podIO) Top(ctx context.Context, ns, pod, container string) (*api.PodTop, error) {
	r, err := p.runner()
	if err != nil {
		return nil, err
	}
	top, err := r.Top(ctx, ns, pod, container)
	return top, notHere(err)
}

// notHere reports pods on other nodes; proxying to them comes with the
// multi-host cluster.
func notHere(err error) error {
	var nh *runtime.ErrNotHere
	if errors.As(err, &nh) {
		return api.NewUnavailable(fmt.Sprintf("%v; ask that node's agent", err))
	}
	return err
}

// informedStore is the registry for a consumer written against it, with
// its lists and watches served by the agent's informer (view) instead of
// watches of its own: nothing is decoded again for it.
type informedStore struct {
	*nodelifecycle.HealthStore
	view *informer.View
}

func (s informedStore) List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error) {
	return s.view.List(ctx, k, ns, sel)
}

func (s informedStore) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	return s.view.Watch(ctx, k, ns, opts)
}
