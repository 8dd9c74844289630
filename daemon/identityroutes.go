package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/server"
	"github.com/shoal-dev/shoal/daemon/trust/atrest"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
)

// identityRoutes serves the cluster-identity endpoints: the join token,
// the gossip keyring and the CA. They are non-resource paths, which only
// cluster administrators are granted.
func identityRoutes(st *gossip.Store, cl *gossip.Cluster) []server.Route {
	h := &identityAPI{st: st, cl: cl}
	return []server.Route{
		{Method: http.MethodGet, Path: "/shoal/v1/join-token", Handler: h.getJoinToken},
		{Method: http.MethodPost, Path: "/shoal/v1/join-token/rotate", Handler: h.rotateJoinToken},
		{Method: http.MethodGet, Path: "/shoal/v1/keys", Handler: h.listKeys},
		{Method: http.MethodPost, Path: "/shoal/v1/keys", Handler: h.installKey},
		{Method: http.MethodPost, Path: "/shoal/v1/keys/use", Handler: h.useKey},
		{Method: http.MethodPost, Path: "/shoal/v1/keys/remove", Handler: h.removeKey},
		{Method: http.MethodGet, Path: "/shoal/v1/ca", Handler: h.getCA},
		{Method: http.MethodPost, Path: "/shoal/v1/ca/rotate", Handler: h.rotateCA},
		{Method: http.MethodPost, Path: "/shoal/v1/ca/rotate/finish", Handler: h.finishCA},
	}
}

type identityAPI struct {
	st *gossip.Store
	cl *gossip.Cluster
}

func respond(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func respondErr(w http.ResponseWriter, err *api.StatusError) {
	respond(w, err.Code(), err.ErrStatus)
}

// statusOf is the Status an error carries (a full disk's 507, say), or an
// internal error's.
func statusOf(err error) *api.StatusError {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se
	}
	return api.NewInternal(err)
}

func (h *identityAPI) joinToken() (*api.JoinTokenInfo, *api.StatusError) {
	var ca identity.CAState
	var js identity.JoinState
	okCA, err1 := readRecord(h.st, identity.RecordCA, &ca)
	okJS, err2 := readRecord(h.st, identity.RecordJoin, &js)
	if err1 != nil || err2 != nil || !okCA || !okJS {
		return nil, api.NewUnavailable("the cluster's CA or join secret has not reached this agent yet; try again in a moment")
	}
	p, err := ca.Parse()
	if err != nil {
		return nil, api.NewInternal(err)
	}
	tok := identity.JoinTokenFor(p.CA.Cert, js.Secret)
	return &api.JoinTokenInfo{TypeMeta: api.TypeMeta{Kind: "JoinToken", APIVersion: "shoal/v1"}, Token: tok.String(),
		Rotated: api.NewTime(js.Rotated)}, nil
}

func (h *identityAPI) getJoinToken(w http.ResponseWriter, _ *http.Request) {
	t, err := h.joinToken()
	if err != nil {
		respondErr(w, err)
		return
	}
	respond(w, http.StatusOK, t)
}

func (h *identityAPI) rotateJoinToken(w http.ResponseWriter, r *http.Request) {
	js, err := identity.NewJoinSecret(time.Now())
	if err == nil {
		err = writeRecords(r.Context(), h.st, map[string]any{identity.RecordJoin: js})
	}
	if err != nil {
		respondErr(w, statusOf(err))
		return
	}
	h.getJoinToken(w, r)
}

// liveMembers returns the live members, sorted by name.
func (h *identityAPI) liveMembers() []gossip.Member {
	var out []gossip.Member
	for _, m := range h.cl.Members() {
		if m.State == gossip.StateAlive {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (h *identityAPI) keyring() (*identity.Keyring, *api.StatusError) {
	var kr identity.Keyring
	ok, err := readRecord(h.st, identity.RecordKeyring, &kr)
	if err != nil || !ok {
		return nil, api.NewUnavailable("the gossip keyring has not reached this agent yet")
	}
	return &kr, nil
}

func (h *identityAPI) keyList() (*api.GossipKeyList, *api.StatusError) {
	kr, serr := h.keyring()
	if serr != nil {
		return nil, serr
	}
	out := &api.GossipKeyList{TypeMeta: api.TypeMeta{Kind: "GossipKeyList", APIVersion: "shoal/v1"}}
	members := h.liveMembers()
	for _, m := range members {
		out.Members = append(out.Members, m.Name)
	}
	ids := map[string]*api.GossipKey{}
	add := func(id string) *api.GossipKey {
		if k := ids[id]; k != nil {
			return k
		}
		k := &api.GossipKey{ID: id, InstalledOn: []string{}, PrimaryOn: []string{}}
		ids[id] = k
		return k
	}
	for _, s := range kr.Keys {
		k := add(KeyIDOf(s))
		k.Primary = s == kr.Primary
	}
	for _, m := range members {
		for i, id := range m.Meta.Keys {
			k := add(id)
			k.InstalledOn = append(k.InstalledOn, m.Name)
			if i == 0 {
				k.PrimaryOn = append(k.PrimaryOn, m.Name)
			}
		}
	}
	for _, k := range ids {
		out.Items = append(out.Items, *k)
	}
	sort.Slice(out.Items, func(i, j int) bool {
		if out.Items[i].Primary != out.Items[j].Primary {
			return out.Items[i].Primary
		}
		return out.Items[i].ID < out.Items[j].ID
	})
	return out, nil
}

func (h *identityAPI) listKeys(w http.ResponseWriter, _ *http.Request) {
	l, err := h.keyList()
	if err != nil {
		respondErr(w, err)
		return
	}
	respond(w, http.StatusOK, l)
}

func readKeyRequest(r *http.Request) (*api.GossipKeyRequest, *api.StatusError) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err != nil {
		return nil, api.NewBadRequest("reading the request: " + err.Error())
	}
	var req api.GossipKeyRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, api.NewBadRequest(`the body must be {"key": "<base64>"} or {"id": "<fingerprint>"}: ` + err.Error())
	}
	return &req, nil
}

// find returns the installed key a request names, by key or fingerprint.
func find(kr *identity.Keyring, req *api.GossipKeyRequest) (string, *api.StatusError) {
	for _, s := range kr.Keys {
		if req.Key != "" && s == req.Key || req.ID != "" && KeyIDOf(s) == req.ID {
			return s, nil
		}
	}
	return "", api.NewStatusError(http.StatusNotFound, api.ReasonNotFound,
		"no such key in the cluster's keyring; `shoal keys list` shows the installed keys")
}

func (h *identityAPI) installKey(w http.ResponseWriter, r *http.Request) {
	req, serr := readKeyRequest(r)
	if serr == nil {
		if _, err := identity.DecodeGossipKey(req.Key); err != nil {
			serr = api.NewBadRequest("key: " + err.Error())
		}
	}
	kr, serr2 := h.keyring()
	if serr == nil {
		serr = serr2
	}
	if serr != nil {
		respondErr(w, serr)
		return
	}
	if !slices.Contains(kr.Keys, req.Key) {
		if len(kr.Keys) >= 16 {
			respondErr(w, api.NewBadRequest("the keyring holds 16 keys already; remove unused ones first"))
			return
		}
		kr.Keys = append(kr.Keys, req.Key)
		if err := writeRecords(r.Context(), h.st, map[string]any{identity.RecordKeyring: kr}); err != nil {
			respondErr(w, statusOf(err))
			return
		}
	}
	h.listKeys(w, r)
}

// useKey makes a key primary, once every live member has it installed:
// switching earlier would make the others drop this agent's gossip.
func (h *identityAPI) useKey(w http.ResponseWriter, r *http.Request) {
	req, serr := readKeyRequest(r)
	var kr *identity.Keyring
	if serr == nil {
		kr, serr = h.keyring()
	}
	var key string
	if serr == nil {
		key, serr = find(kr, req)
	}
	if serr != nil {
		respondErr(w, serr)
		return
	}
	id := KeyIDOf(key)
	var missing []string
	for _, m := range h.liveMembers() {
		if !slices.Contains(m.Meta.Keys, id) {
			missing = append(missing, m.Name)
		}
	}
	if len(missing) > 0 {
		respondErr(w, api.NewStatusError(http.StatusConflict, api.ReasonConflict, fmt.Sprintf(
			"key %s is not installed on %s yet; wait until `shoal keys list` shows it on every member, then retry", id, strings.Join(missing, ", "))))
		return
	}
	if kr.Primary != key {
		kr.Primary = key
		if err := writeRecords(r.Context(), h.st, map[string]any{identity.RecordKeyring: kr}); err != nil {
			respondErr(w, statusOf(err))
			return
		}
	}
	h.listKeys(w, r)
}

// removeKey removes a key no live member encrypts with any more.
func (h *identityAPI) removeKey(w http.ResponseWriter, r *http.Request) {
	req, serr := readKeyRequest(r)
	var kr *identity.Keyring
	if serr == nil {
		kr, serr = h.keyring()
	}
	var key string
	if serr == nil {
		key, serr = find(kr, req)
	}
	if serr != nil {
		respondErr(w, serr)
		return
	}
	id := KeyIDOf(key)
	if key == kr.Primary {
		respondErr(w, api.NewStatusError(http.StatusConflict, api.ReasonConflict, fmt.Sprintf(
			"key %s is the primary key; make another key primary first (`shoal keys use`)", id)))
		return
	}
	var using []string
	for _, m := range h.liveMembers() {
		if len(m.Meta.Keys) > 0 && m.Meta.Keys[0] == id {
			using = append(using, m.Name)
		}
	}
	if len(using) > 0 {
		respondErr(w, api.NewStatusError(http.StatusConflict, api.ReasonConflict, fmt.Sprintf(
			"%s still encrypt with key %s; wait until `shoal keys list` shows every member on the new primary, then retry", strings.Join(using, ", "), id)))
		return
	}
	kr.Keys = slices.DeleteFunc(kr.Keys, func(s string) bool { return s == key })
	if err := writeRecords(r.Context(), h.st, map[string]any{identity.RecordKeyring: kr}); err != nil {
		respondErr(w, statusOf(err))
		return
	}
	h.listKeys(w, r)
}

func (h *identityAPI) caState() (*identity.CAState, *identity.Parsed, *api.StatusError) {
	var st identity.CAState
	ok, err := readRecord(h.st, identity.RecordCA, &st)
	if err != nil || !ok {
		return nil, nil, api.NewUnavailable("the cluster CA has not reached this agent yet")
	}
	p, err := st.Parse()
	if err != nil {
		return nil, nil, api.NewInternal(err)
	}
	return &st, p, nil
}

func (h *identityAPI) caStatus() (*api.CAStatus, *api.StatusError) {
	st, p, serr := h.caState()
	if serr != nil {
		return nil, serr
	}
	cur := identity.ShortFingerprint(p.CA.Cert)
	out := &api.CAStatus{TypeMeta: api.TypeMeta{Kind: "CAStatus", APIVersion: "shoal/v1"}, Generation: st.Generation,
		Current: cur, Rotating: len(p.Trusted) > 1}
	for _, t := range p.Trusted {
		out.Trusted = append(out.Trusted, identity.ShortFingerprint(t))
	}
	for _, m := range h.liveMembers() {
		out.Members = append(out.Members, api.MemberCA{Name: m.Name, CA: m.Meta.CA})
		if m.Meta.CA != cur {
			out.Rotating = true
		}
	}
	return out, nil
}

func (h *identityAPI) getCA(w http.ResponseWriter, _ *http.Request) {
	s, err := h.caStatus()
	if err != nil {
		respondErr(w, err)
		return
	}
	respond(w, http.StatusOK, s)
}

// rotateCA starts a CA rotation: a new CA signs from now on, its
// certificate cross-signed by the old one, and both are trusted; every
// agent reissues its own certificate from it as the record reaches it.
func (h *identityAPI) rotateCA(w http.ResponseWriter, r *http.Request) {
	st, p, serr := h.caState()
	if serr != nil {
		respondErr(w, serr)
		return
	}
	if len(p.Trusted) > 1 {
		respondErr(w, api.NewStatusError(http.StatusConflict, api.ReasonConflict,
			"a CA rotation is under way; finish it first (`shoal ca rotate --finish`)"))
		return
	}
	now := time.Now()
	next, err := identity.NewCA(now)
	if err != nil {
		respondErr(w, api.NewInternal(err))
		return
	}
	cross, err := p.CA.CrossSign(next, now)
	if err != nil {
		respondErr(w, api.NewInternal(err))
		return
	}
	ns, err := identity.NewCAState(next)
	if err != nil {
		respondErr(w, api.NewInternal(err))
		return
	}
	ns.Generation = st.Generation + 1
	ns.CrossSigned = identity.EncodeCerts(cross)
	ns.Trusted = identity.EncodeCerts(next.Cert, p.CA.Cert)
	if err := writeRecords(r.Context(), h.st, map[string]any{identity.RecordCA: ns}); err != nil {
		respondErr(w, statusOf(err))
		return
	}
	h.getCA(w, r)
}

// finishCA ends a rotation once every live member has a certificate of the
// new CA: the old CA is no longer trusted.
func (h *identityAPI) finishCA(w http.ResponseWriter, r *http.Request) {
	st, p, serr := h.caState()
	if serr != nil {
		respondErr(w, serr)
		return
	}
	cur := identity.ShortFingerprint(p.CA.Cert)
	var behind []string
	for _, m := range h.liveMembers() {
		if m.Meta.CA != cur {
			behind = append(behind, m.Name)
		}
	}
	if len(behind) > 0 && r.URL.Query().Get("force") != "true" {
		respondErr(w, api.NewStatusError(http.StatusConflict, api.ReasonConflict, fmt.Sprintf(
			"%s still use a certificate of the previous CA; wait for them (or finish with --force: they would have to rejoin)", strings.Join(behind, ", "))))
		return
	}
	if len(p.Trusted) > 1 {
		st.Trusted = identity.EncodeCerts(p.CA.Cert)
		if err := writeRecords(r.Context(), h.st, map[string]any{identity.RecordCA: st}); err != nil {
			respondErr(w, statusOf(err))
			return
		}
	}
	h.getCA(w, r)
}

// storageRoutes serve this agent's encryption at rest: which key seals
// its sensitive records, and its rotation.
func storageRoutes(node string, st *gossip.Store, k *atrest.Keyring) []server.Route {
	status := func(rewritten int) api.StorageEncryption {
		id, created := k.Current()
		return api.StorageEncryption{TypeMeta: api.TypeMeta{Kind: "StorageEncryption", APIVersion: "shoal/v1"},
			Node: node, Key: id, Created: api.NewTime(created), Rewritten: rewritten}
	}
	return []server.Route{
		{Method: http.MethodGet, Path: "/shoal/v1/storage", Handler: func(w http.ResponseWriter, _ *http.Request) {
			respond(w, http.StatusOK, status(0))
		}},
		{Method: http.MethodPost, Path: "/shoal/v1/storage/rotate-key", Handler: func(w http.ResponseWriter, r *http.Request) {
			if _, err := k.Rotate(); err != nil {
				respondErr(w, api.NewInternal(err))
				return
			}
			n, err := st.Reseal(r.Context())
			if err != nil {
				// The old keys stay: what is sealed with them still opens.
				respondErr(w, api.NewInternal(fmt.Errorf("rewriting the sealed records: %w", err)))
				return
			}
			if err := k.DropOld(); err != nil {
				respondErr(w, api.NewInternal(err))
				return
			}
			respond(w, http.StatusOK, status(n))
		}},
	}
}
