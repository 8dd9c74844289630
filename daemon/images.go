package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/node/imagemove"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry/informer"
)

// nodeImagesPath is the API's endpoint that makes a node's engine hold an
// image, fetched from a peer (docs/api.md): POST with a NodeImageRequest.
// It is a subresource of the node, so RBAC grants it as "create" on
// nodes/images.
const nodeImagesPath = "/api/v1/nodes/{name}/images"

// forwardedHeader marks a request one agent forwarded to another (as the
// API server's pod forwarding does), so that it is never forwarded again.
const forwardedHeader = "X-Shoal-Forwarded"

// maxNodeImageRequest bounds the body of a NodeImageRequest.
const maxNodeImageRequest = 16 << 10

// imageMover is this agent's part in moving images: it exists once the
// engine answers; until then its endpoints answer 503.
type imageMover struct {
	name    string
	cl      *gossip.Cluster
	live    *identity.Live
	fetcher atomic.Pointer[imagemove.Fetcher]
	save    atomic.Pointer[imagemove.Server]
	eng     atomic.Pointer[imagemove.Engine] // for registry pulls and their image IDs

	transports sync.Map // node name -> http.RoundTripper
}

// start creates the fetcher and the save endpoint over the engine; the
// save server spools under spoolDir and runs until ctx ends.
func (m *imageMover) start(ctx context.Context, wg *sync.WaitGroup, eng imagemove.Engine, spoolDir string, view *informer.View, loaded func(), log *slog.Logger) *imagemove.Fetcher {
	f := imagemove.NewFetcher(eng, imagemove.Config{Self: m.name, Log: log, Loaded: loaded,
		Nodes: func(ctx context.Context) ([]*api.Node, error) {
			objs, _, err := view.List(ctx, api.KindNode, "", nil)
			if err != nil {
				return nil, err
			}
			nodes := make([]*api.Node, 0, len(objs))
			for _, o := range objs {
				nodes = append(nodes, o.(*api.Node))
			}
			return nodes, nil
		},
		Dial: m.dial})
	m.fetcher.Store(f)
	m.eng.Store(&eng)
	saves := imagemove.NewServer(eng, spoolDir, log)
	wg.Go(func() {
		if err := saves.Run(ctx); err != nil {
			log.Error("the image save server stopped; peers cannot copy images from this host", "err", err)
		}
	})
	m.save.Store(saves)
	return f
}

// dial reaches the agent of node over mutual TLS that accepts only that
// node's certificate, at the gossip address membership knows.
func (m *imageMover) dial(node string) (http.RoundTripper, *url.URL, error) {
	for _, mem := range m.cl.Members() {
		if mem.Name != node {
			continue
		}
		if mem.State != gossip.StateAlive {
			return nil, nil, fmt.Errorf("the agent of node %s is not reachable (%s)", node, mem.State)
		}
		tr, ok := m.transports.Load(node)
		if !ok {
			tr, _ = m.transports.LoadOrStore(node, peerClient(m.live, node, 0).Transport)
		}
		return tr.(http.RoundTripper), &url.URL{Scheme: "https", Host: mem.Addr}, nil
	}
	return nil, nil, fmt.Errorf("node %s is not a member of the cluster this agent knows", node)
}

// serveSave is the internal save endpoint.
func (m *imageMover) serveSave(w http.ResponseWriter, r *http.Request) {
	saves := m.save.Load()
	if saves == nil {
		http.Error(w, "the agent is still starting", http.StatusServiceUnavailable)
		return
	}
	saves.ServeHTTP(w, r)
}

// FetchFromPeer serves the pod runner (runtime.PeerImages).
func (m *imageMover) FetchFromPeer(ctx context.Context, ref string) (string, error) {
	f := m.fetcher.Load()
	if f == nil {
		return "", nil
	}
	r, err := f.Fetch(ctx, ref)
	f.CopiedFrom(ref) // told by this answer: not again
	switch {
	case errors.Is(err, imagemove.ErrNoPeer) || errors.Is(err, imagemove.ErrNotMovable):
		return "", nil
	case err != nil:
		return "", err
	case r.Source == imagemove.SourcePresent:
		return m.name, nil
	}
	return r.Source, nil
}

// CopiedFrom serves the pod runner (runtime.PeerImages).
func (m *imageMover) CopiedFrom(ref string) (string, time.Duration) {
	f := m.fetcher.Load()
	if f == nil {
		return "", 0
	}
	r, ok := f.CopiedFrom(ref)
	if !ok {
		return "", 0
	}
	return r.Source, r.Elapsed
}

// route is the API's POST /api/v1/nodes/{name}/images.
func (m *imageMover) route() server.Route {
	return server.Route{Method: http.MethodPost, Path: nodeImagesPath, Handler: m.serveNodeImages}
}

func (m *imageMover) serveNodeImages(w http.ResponseWriter, r *http.Request) {
	node := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/nodes/"), "/images")
	if node != m.name {
		m.forward(w, r, node)
		return
	}
	var req api.NodeImageRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxNodeImageRequest)).Decode(&req); err != nil {
		writeStatus(w, api.NewBadRequest("the body must be a NodeImageRequest, {\"image\": \"NAME[:TAG]\"}: "+err.Error()))
		return
	}
	if req.Image == "" {
		writeStatus(w, api.NewBadRequest("image: required: the image to place on the node, as NAME[:TAG] or an image ID"))
		return
	}
	f := m.fetcher.Load()
	if f == nil {
		writeStatus(w, api.NewUnavailable("the agent is still starting; try again in a moment"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Minute)
	defer cancel()
	res, err := f.Fetch(ctx, req.Image)
	if errors.Is(err, imagemove.ErrNoPeer) && req.Pull {
		res, err = m.pullFromRegistry(ctx, req.Image)
		if err != nil {
			writeStatus(w, api.NewStatusError(http.StatusNotFound, api.ReasonNotFound,
				fmt.Sprintf("image %q: no node holds it and node %s could not pull it from its registry: %v", req.Image, m.name, err)))
			return
		}
	}
	switch {
	case errors.Is(err, imagemove.ErrNoPeer):
		writeStatus(w, api.NewStatusError(http.StatusNotFound, api.ReasonNotFound,
			fmt.Sprintf("no other node reports image %q (shoal image ls shows which hosts hold which images)", req.Image)))
		return
	case errors.Is(err, imagemove.ErrNotMovable):
		writeStatus(w, api.NewBadRequest(fmt.Sprintf("image %q: %v; name it by tag or image ID", req.Image, err)))
		return
	case err != nil:
		writeStatus(w, api.NewUnavailable(fmt.Sprintf("image %q: %v", req.Image, err)))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(api.NodeImageResult{TypeMeta: api.TypeMeta{Kind: "NodeImageResult", APIVersion: "v1"},
		Node: m.name, Image: req.Image, ImageID: res.ImageID, Source: res.Source, Bytes: res.Bytes, Seconds: res.Elapsed.Seconds()})
}

// registrySource is the Source of an image a node pulled from its registry.
const registrySource = "registry"

// pullFromRegistry pulls ref through this node's engine, for a request
// that allows it when no peer holds the image.
func (m *imageMover) pullFromRegistry(ctx context.Context, ref string) (imagemove.Result, error) {
	p := m.eng.Load()
	if p == nil {
		return imagemove.Result{}, errors.New("the engine is not ready")
	}
	eng := *p
	puller, ok := eng.(interface {
		PullImage(ctx context.Context, ref string) error
	})
	if !ok {
		return imagemove.Result{}, errors.New("the engine cannot pull")
	}
	start := time.Now()
	if err := puller.PullImage(ctx, ref); err != nil {
		return imagemove.Result{}, err
	}
	info, err := eng.InspectImage(ctx, ref)
	if err != nil {
		return imagemove.Result{}, fmt.Errorf("inspect the pulled image: %w", err)
	}
	return imagemove.Result{ImageID: info.ID, Source: registrySource, Elapsed: time.Since(start)}, nil
}

// forward sends the request to the agent of node, on the caller's behalf.
func (m *imageMover) forward(w http.ResponseWriter, r *http.Request, node string) {
	if r.Header.Get(forwardedHeader) != "" {
		writeStatus(w, api.NewUnavailable(fmt.Sprintf("node %s is not served by the agent the request was forwarded to; try again", node)))
		return
	}
	rt, base, err := m.dial(node)
	if err != nil {
		writeStatus(w, api.NewUnavailable(err.Error()))
		return
	}
	target := &url.URL{Scheme: base.Scheme, Host: base.Host, Path: forwardPrefix}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Del("Origin")
			pr.Out.Header.Set(forwardedHeader, "1")
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del(server.ForwardedUserHeader)
			pr.Out.Header.Del(server.ForwardedGroupHeader)
			if u := server.UserFrom(pr.In.Context()); u != nil {
				pr.Out.Header.Set(server.ForwardedUserHeader, u.Username)
				for _, g := range u.Groups {
					pr.Out.Header.Add(server.ForwardedGroupHeader, g)
				}
			}
		},
		Transport: rt,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeStatus(w, api.NewUnavailable(fmt.Sprintf("the agent of node %s did not answer: %v", node, err)))
		},
	}
	proxy.ServeHTTP(w, r)
}

// writeStatus answers with a Status object.
func writeStatus(w http.ResponseWriter, err error) {
	var se *api.StatusError
	if !errors.As(err, &se) {
		se = api.NewInternal(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(se.Code())
	_ = json.NewEncoder(w).Encode(se.ErrStatus)
}

// nodeImages reads and writes this node's status.images in the store.
type nodeImages struct {
	store Store
	name  string
}

func (n nodeImages) Current(ctx context.Context) ([]api.ContainerImage, error) {
	obj, err := n.store.Get(ctx, api.KindNode, "", n.name)
	if err != nil {
		return nil, fmt.Errorf("read node %s: %w", n.name, err)
	}
	return obj.(*api.Node).Status.Images, nil
}

// Write sets status.images, reading the node again when another writer
// of its status (the Ready condition) came in between.
func (n nodeImages) Write(ctx context.Context, images []api.ContainerImage) error {
	var err error
	for range 3 {
		var obj api.Object
		obj, err = n.store.Get(ctx, api.KindNode, "", n.name)
		if err != nil {
			return fmt.Errorf("read node %s: %w", n.name, err)
		}
		node := obj.(*api.Node)
		node.Status.Images = images
		if _, err = n.store.UpdateStatus(ctx, node); err == nil || !api.IsConflict(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("write node images %s: %w", n.name, err)
	}
	return nil
}
