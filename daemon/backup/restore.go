package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// Reasons a record of a backup is not restored (RestoreResult.Skipped).
const (
	SkipStatus      = "status: observed state, which the new cluster observes again"
	SkipNotObject   = "cluster identity and internal records: the new cluster has its own"
	SkipNodes       = "nodes: the new cluster's hosts join it"
	SkipEndpoints   = "endpoints: derived from Services and ready pods"
	SkipEvents      = "events: history of the old cluster"
	SkipTokens      = "tokens: the new cluster has new credentials; issue tokens again"
	SkipOwnedPods   = "pods owned by a controller: the controller makes them again"
	SkipDeleting    = "objects being deleted"
	SkipAPIService  = "the kubernetes Service: each cluster keeps its own"
	SkipBootstrap   = "already made by the new cluster's agent (namespaces, service accounts, roles)"
	SkipUnknownKind = "resources this build does not know"
)

// notRestored are the resources left out, with the reason.
var notRestored = map[string]string{
	"nodes":     SkipNodes,
	"endpoints": SkipEndpoints,
	"events":    SkipEvents,
	"tokens":    SkipTokens,
}

// bootstrap are the resources an agent creates when it founds a cluster
// (the default namespaces, service accounts and roles): an object the new
// cluster already holds is kept as it is, since it is the new release's.
var bootstrap = map[string]bool{
	"namespaces": true, "serviceaccounts": true, "clusterroles": true, "clusterrolebindings": true,
	"roles": true, "rolebindings": true,
}

// ErrNotEmpty is returned when the cluster restored into already holds
// objects of its own that the backup would overwrite.
var ErrNotEmpty = errors.New("restore: the cluster is not new")

// Target is the store a restore writes into.
type Target interface {
	Update(ctx context.Context, fn func(*gossip.Txn) error) ([]*gossip.Record, error)
}

// objectMeta is what a restore reads of an object.
type objectMeta struct {
	Metadata struct {
		Name              string  `json:"name"`
		Namespace         string  `json:"namespace"`
		DeletionTimestamp *string `json:"deletionTimestamp"`
		OwnerReferences   []struct {
			Controller *bool `json:"controller"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
}

// Plan chooses the records of a backup that a new cluster restores, and
// prepares them: a pod that no controller owns loses its node, so that the
// scheduler places it on one of the new cluster's hosts.
func Plan(recs []*gossip.Record) ([]*gossip.Record, *api.RestoreResult, error) {
	res := &api.RestoreResult{TypeMeta: api.TypeMeta{Kind: "RestoreResult", APIVersion: "shoal/v1"},
		Restored: map[string]int{}, Skipped: map[string]int{}}
	var out []*gossip.Record
	for _, r := range recs {
		if r.Deleted {
			continue
		}
		if strings.HasPrefix(r.Key, "s/") {
			res.Skipped[SkipStatus]++
			continue
		}
		resource, ok := specResource(r.Key)
		if !ok {
			res.Skipped[SkipNotObject]++
			continue
		}
		if why, ok := notRestored[resource]; ok {
			res.Skipped[why]++
			continue
		}
		if !knownResource(resource) {
			res.Skipped[SkipUnknownKind]++
			continue
		}
		var m objectMeta
		if err := json.Unmarshal(r.Value, &m); err != nil {
			return nil, nil, fmt.Errorf("%w: %s does not decode: %v", ErrFile, r.Key, err)
		}
		switch {
		case m.Metadata.DeletionTimestamp != nil:
			res.Skipped[SkipDeleting]++
			continue
		case resource == "services" && m.Metadata.Namespace == "default" && m.Metadata.Name == "kubernetes":
			res.Skipped[SkipAPIService]++
			continue
		case resource == "pods" && controlled(m):
			res.Skipped[SkipOwnedPods]++
			continue
		}
		value := r.Value
		if resource == "pods" {
			v, err := unbind(r.Value)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %s: %v", ErrFile, r.Key, err)
			}
			value = v
		}
		out = append(out, &gossip.Record{Key: r.Key, Value: value})
	}
	// Namespaces first, then by key: the order a reader of the file sees.
	sort.Slice(out, func(i, j int) bool {
		ni, nj := strings.HasPrefix(out[i].Key, "o/namespaces/"), strings.HasPrefix(out[j].Key, "o/namespaces/")
		if ni != nj {
			return ni
		}
		return out[i].Key < out[j].Key
	})
	return out, res, nil
}

func knownResource(res string) bool {
	for _, k := range api.Kinds {
		if k.Resource == res {
			return true
		}
	}
	return false
}

func controlled(m objectMeta) bool {
	for _, o := range m.Metadata.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

// unbind removes a pod's spec.nodeName: the old cluster's nodes are gone.
func unbind(v []byte) ([]byte, error) {
	var obj map[string]any
	if err := json.Unmarshal(v, &obj); err != nil {
		return nil, err
	}
	if spec, ok := obj["spec"].(map[string]any); ok {
		delete(spec, "nodeName")
	}
	return json.Marshal(obj)
}

// Restore writes the planned records into st in one transaction: every
// record passes validate (the check of a record received from another
// agent) first, and if the cluster already holds an object of its own the
// backup would overwrite, nothing is written (ErrNotEmpty). Bootstrap
// objects the cluster already holds are kept. The records get new versions
// of this cluster's clock; sensitive values are sealed with this agent's
// keys as they reach its disk.
func Restore(ctx context.Context, st Target, recs []*gossip.Record, res *api.RestoreResult, validate func(*gossip.Record) error) error {
	if validate != nil {
		for _, r := range recs {
			if err := validate(r); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrFile, r.Key, err)
			}
		}
	}
	var write []*gossip.Record
	// The check and the writes are one transaction: no write of the
	// cluster's slips in between.
	_, err := st.Update(ctx, func(t *gossip.Txn) error {
		var held []string
		for _, r := range recs {
			if cur := t.Get(r.Key); cur != nil && !cur.Deleted {
				if res, _ := specResource(r.Key); !bootstrap[res] {
					held = append(held, strings.TrimPrefix(r.Key, "o/"))
				}
				continue
			}
			write = append(write, r)
		}
		if len(held) > 0 {
			more := ""
			if len(held) > 5 {
				held, more = held[:5], fmt.Sprintf(" and %d more", len(held)-5)
			}
			return fmt.Errorf("%w: it already holds %s%s, which the backup would overwrite. A restore seeds a new cluster: "+
				"start a new agent with an empty --data-dir and restore into it", ErrNotEmpty, strings.Join(held, ", "), more)
		}
		for _, r := range write {
			t.Put(r.Key, r.Value)
		}
		return nil
	})
	if errors.Is(err, ErrNotEmpty) {
		return err
	}
	if err != nil {
		return fmt.Errorf("restore: writing %d objects: %w", len(write), err)
	}
	res.Skipped[SkipBootstrap] += len(recs) - len(write)
	if res.Skipped[SkipBootstrap] == 0 {
		delete(res.Skipped, SkipBootstrap)
	}
	for _, r := range write {
		name, _ := specResource(r.Key)
		res.Restored[name]++
	}
	return nil
}
