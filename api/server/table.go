package server

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/printers"
)

// mediaRange is one choice of an Accept header.
type mediaRange struct {
	typ    string // application/json, */*
	params map[string]string
	q      float64
}

// parseAccept reads an Accept header's choices, the most wanted first:
// by q, then in the order given. Choices that do not parse are left out.
func parseAccept(h string) []mediaRange {
	var out []mediaRange
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		typ, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 0 && v <= 1 {
				q = v
			}
			delete(params, "q")
		}
		if q == 0 {
			continue // "not acceptable"
		}
		out = append(out, mediaRange{typ: typ, params: params, q: q})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].q > out[j].q })
	return out
}

// jsonMedia reports whether a media range admits JSON.
func jsonMedia(typ string) bool {
	return typ == "application/json" || typ == "application/*" || typ == "*/*"
}

// negotiateTable returns the meta.k8s.io version of the Table a request asks
// for, or "" when the objects themselves serve it best. The first choice of
// the Accept header that shoal can give wins, as in Kubernetes: a Table of
// meta.k8s.io v1 or v1beta1, or plain JSON. Choices it cannot give (another
// as=, YAML, protobuf) are passed over; when none is left the answer is
// JSON, as shoal has always answered.
func negotiateTable(r *http.Request) string {
	for _, m := range parseAccept(r.Header.Get("Accept")) {
		if !jsonMedia(m.typ) {
			continue
		}
		as := m.params["as"]
		if as == "" {
			return ""
		}
		v := m.params["v"]
		if as == "Table" && m.params["g"] == api.MetaGroup && (v == api.MetaVersion || v == api.MetaVersionV1beta1) {
			return v
		}
	}
	return ""
}

// tableContentType is the Content-Type of a Table answer.
func tableContentType(version string) string {
	return "application/json;as=Table;v=" + version + ";g=" + api.MetaGroup
}

// tabler turns objects of one kind into the Table a request asked for.
type tabler struct {
	s       *Server
	r       *http.Request
	k       *api.Kind
	version string // meta.k8s.io version of the Table
	include string // None, Metadata or Object
	table   *printers.Table
}

// newTabler returns nil when the request asks for objects, not a Table, and
// an error when its includeObject is not one Kubernetes knows.
func (s *Server) newTabler(r *http.Request, k *api.Kind) (*tabler, error) {
	v := negotiateTable(r)
	if v == "" {
		return nil, nil
	}
	include := r.URL.Query().Get("includeObject")
	switch include {
	case "":
		include = api.IncludeMetadata
	case api.IncludeNone, api.IncludeMetadata, api.IncludeObject:
	default:
		return nil, api.NewBadRequest(fmt.Sprintf("includeObject: unrecognized value %q; use None, Metadata or Object", include))
	}
	return &tabler{s: s, r: r, k: k, version: v, include: include, table: printers.For(k.Kind)}, nil
}

// columns are the Table's column definitions, the -o wide ones at
// priority 1: Kubernetes always sends every column and kubectl hides the
// wide ones unless asked.
func (t *tabler) columns() []api.TableColumnDefinition {
	cols := t.table.Columns(true)
	defs := make([]api.TableColumnDefinition, len(cols))
	for i, c := range cols {
		defs[i] = api.TableColumnDefinition{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority}
	}
	return defs
}

// build makes the Table of objs. Cells are computed now, as Kubernetes
// computes them on the server: an age is text such as "5m". Rows hold every
// column's cell, the wide ones too, so they are computed as -o wide shows
// them (a load balancer's addresses uncut), as Kubernetes does.
func (t *tabler) build(objs []api.Object, meta api.ListMeta, withColumns bool) *api.Table {
	tbl := &api.Table{TypeMeta: api.TypeMeta{Kind: "Table", APIVersion: api.MetaGroup + "/" + t.version},
		ListMeta: meta, Rows: make([]api.TableRow, 0, len(objs))}
	if withColumns {
		tbl.ColumnDefinitions = t.columns()
	}
	opts := &printers.Options{Wide: true}
	if t.k == api.KindNode && len(objs) > 0 {
		opts.Loads = t.s.nodeLoads(t.r)
	}
	cols := t.table.Columns(true)
	now := time.Now()
	if t.s.cfg.Now != nil {
		now = t.s.cfg.Now()
	}
	for _, o := range objs {
		tbl.Rows = append(tbl.Rows, t.row(o, cols, now, opts))
	}
	return tbl
}

func (t *tabler) row(o api.Object, cols []printers.Column, now time.Time, opts *printers.Options) api.TableRow {
	var texts []string
	if t.table.Named() {
		texts = append(texts, o.GetObjectMeta().Name)
	}
	texts = append(texts, t.table.Cells(o, now, opts)...)
	cells := make([]any, len(texts))
	for i, c := range texts {
		cells[i] = c
		// Integer columns carry numbers, as in Kubernetes; kubectl prints
		// them as the same digits.
		if i < len(cols) && cols[i].Type == "integer" {
			if n, err := strconv.ParseInt(c, 10, 64); err == nil {
				cells[i] = n
			}
		}
	}
	row := api.TableRow{Cells: cells}
	switch t.include {
	case api.IncludeObject:
		row.Object = o
	case api.IncludeMetadata:
		row.Object = &api.PartialObjectMetadata{
			TypeMeta:   api.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: api.MetaGroup + "/" + api.MetaVersion},
			ObjectMeta: *o.GetObjectMeta()}
	}
	return row
}

// write answers with the Table of objs.
func (t *tabler) write(w http.ResponseWriter, objs []api.Object, meta api.ListMeta) {
	tbl := t.build(objs, meta, true)
	w.Header().Set("Content-Type", tableContentType(t.version))
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(tbl)
}

// event turns a watch event into the event a Table watch sends: its object a
// Table of one row (none for a bookmark), the column definitions in the
// first event only. Error events keep their Status.
func (t *tabler) event(ev api.WatchEvent, first bool) any {
	if ev.Type == api.Error || ev.Object == nil {
		return ev
	}
	meta := api.ListMeta{ResourceVersion: ev.Object.GetObjectMeta().ResourceVersion}
	var objs []api.Object
	if ev.Type != api.Bookmark {
		objs = []api.Object{ev.Object}
	}
	return struct {
		Type   string     `json:"type"`
		Object *api.Table `json:"object"`
	}{ev.Type, t.build(objs, meta, first)}
}

// nodeLoads sums the requests of the pods bound to each node for the Node
// table's PODS, CPU and MEMORY columns. A caller who may not list every pod
// sees them as <unknown> (nil), as shoal's CLI shows them then: the sums
// tell about pods the caller may not read.
func (s *Server) nodeLoads(r *http.Request) map[string]*printers.NodeLoad {
	if s.check(r, api.AccessRequest{ResourceAttributes: &api.ResourceAttributes{Verb: "list", Resource: api.KindPod.Resource}}) != nil {
		return nil
	}
	objs, _, err := s.cfg.Store.List(r.Context(), api.KindPod, "", nil)
	if err != nil {
		s.log.Warn("listing pods for the node table", "err", err)
		return nil
	}
	pods := make([]*api.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*api.Pod); ok {
			pods = append(pods, p)
		}
	}
	return printers.NodeLoads(pods)
}
