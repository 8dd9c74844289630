package api

import (
	"fmt"
	"reflect"
	"strings"
)

// Kind describes one kind of object: its names, its REST place and how to make one.
type Kind struct {
	Kind       string
	Resource   string // plural, lower case: the REST path segment
	Singular   string
	ShortNames []string
	Group      string // "" for the core group
	Version    string
	Namespaced bool
	// HasStatus: the status is a separate record with its own single writer
	// (the node for pods, the controller for workloads).
	HasStatus bool
	New       func() Object
}

// APIVersion is "v1" for the core group and "group/version" otherwise.
func (k *Kind) APIVersion() string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// ListKind is the kind of a list of these objects.
func (k *Kind) ListKind() string { return k.Kind + "List" }

// CollectionPath is the REST path of the collection in namespace ns ("" for all
// namespaces, or for a cluster-scoped kind).
func (k *Kind) CollectionPath(ns string) string {
	base := "/api/" + k.Version
	if k.Group != "" {
		base = "/apis/" + k.Group + "/" + k.Version
	}
	if k.Namespaced && ns != "" {
		return base + "/namespaces/" + ns + "/" + k.Resource
	}
	return base + "/" + k.Resource
}

// ObjectPath is the REST path of one object.
func (k *Kind) ObjectPath(ns, name string) string {
	return k.CollectionPath(ns) + "/" + name
}

// NewObject makes an empty object with its kind and apiVersion set.
func (k *Kind) NewObject() Object {
	o := k.New()
	tm := o.GetTypeMeta()
	tm.Kind, tm.APIVersion = k.Kind, k.APIVersion()
	return o
}

// Kinds lists every kind shoal stores, in the order `get all` and apply use.
var Kinds = []*Kind{
	{Kind: "Namespace", Resource: "namespaces", Singular: "namespace", ShortNames: []string{"ns"}, Version: "v1", HasStatus: true, New: func() Object { return &Namespace{} }},
	{Kind: "Node", Resource: "nodes", Singular: "node", ShortNames: []string{"no"}, Version: "v1", HasStatus: true, New: func() Object { return &Node{} }},
	{Kind: "PersistentVolume", Resource: "persistentvolumes", Singular: "persistentvolume", ShortNames: []string{"pv"}, Version: "v1", New: func() Object { return &PersistentVolume{} }},
	{Kind: "StorageClass", Resource: "storageclasses", Singular: "storageclass", ShortNames: []string{"sc"}, Group: "storage.k8s.io", Version: "v1", New: func() Object { return &StorageClass{} }},
	{Kind: "ServiceAccount", Resource: "serviceaccounts", Singular: "serviceaccount", ShortNames: []string{"sa"}, Version: "v1", Namespaced: true, New: func() Object { return &ServiceAccount{} }},
	{Kind: "ConfigMap", Resource: "configmaps", Singular: "configmap", ShortNames: []string{"cm"}, Version: "v1", Namespaced: true, New: func() Object { return &ConfigMap{} }},
	{Kind: "PersistentVolumeClaim", Resource: "persistentvolumeclaims", Singular: "persistentvolumeclaim", ShortNames: []string{"pvc"}, Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &PersistentVolumeClaim{} }},
	{Kind: "Secret", Resource: "secrets", Singular: "secret", Version: "v1", Namespaced: true, New: func() Object { return &Secret{} }},
	{Kind: "ClusterRole", Resource: "clusterroles", Singular: "clusterrole", Group: RBACGroup, Version: "v1", New: func() Object { return &ClusterRole{} }},
	{Kind: "ClusterRoleBinding", Resource: "clusterrolebindings", Singular: "clusterrolebinding", Group: RBACGroup, Version: "v1", New: func() Object { return &ClusterRoleBinding{} }},
	{Kind: "Role", Resource: "roles", Singular: "role", Group: RBACGroup, Version: "v1", Namespaced: true, New: func() Object { return &Role{} }},
	{Kind: "RoleBinding", Resource: "rolebindings", Singular: "rolebinding", Group: RBACGroup, Version: "v1", Namespaced: true, New: func() Object { return &RoleBinding{} }},
	{Kind: "Token", Resource: "tokens", Singular: "token", Group: "shoal.io", Version: "v1", New: func() Object { return &Token{} }},
	{Kind: "Deployment", Resource: "deployments", Singular: "deployment", ShortNames: []string{"deploy"}, Group: "apps", Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &Deployment{} }},
	{Kind: "ReplicaSet", Resource: "replicasets", Singular: "replicaset", ShortNames: []string{"rs"}, Group: "apps", Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &ReplicaSet{} }},
	{Kind: "ReplicationController", Resource: "replicationcontrollers", Singular: "replicationcontroller", ShortNames: []string{"rc"}, Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &ReplicationController{} }},
	{Kind: "DaemonSet", Resource: "daemonsets", Singular: "daemonset", ShortNames: []string{"ds"}, Group: "apps", Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &DaemonSet{} }},
	{Kind: "StatefulSet", Resource: "statefulsets", Singular: "statefulset", ShortNames: []string{"sts"}, Group: "apps", Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &StatefulSet{} }},
	{Kind: "ControllerRevision", Resource: "controllerrevisions", Singular: "controllerrevision", Group: "apps", Version: "v1", Namespaced: true, New: func() Object { return &ControllerRevision{} }},
	{Kind: "Job", Resource: "jobs", Singular: "job", Group: "batch", Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &Job{} }},
	{Kind: "CronJob", Resource: "cronjobs", Singular: "cronjob", ShortNames: []string{"cj"}, Group: "batch", Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &CronJob{} }},
	{Kind: "PodDisruptionBudget", Resource: "poddisruptionbudgets", Singular: "poddisruptionbudget", ShortNames: []string{"pdb"}, Group: "policy", Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &PodDisruptionBudget{} }},
	{Kind: "HorizontalPodAutoscaler", Resource: "horizontalpodautoscalers", Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"}, Group: "autoscaling", Version: "v2", Namespaced: true, HasStatus: true, New: func() Object { return &HorizontalPodAutoscaler{} }},
	{Kind: "Pod", Resource: "pods", Singular: "pod", ShortNames: []string{"po"}, Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &Pod{} }},
	{Kind: "Service", Resource: "services", Singular: "service", ShortNames: []string{"svc"}, Version: "v1", Namespaced: true, HasStatus: true, New: func() Object { return &Service{} }},
	{Kind: "Endpoints", Resource: "endpoints", Singular: "endpoints", ShortNames: []string{"ep"}, Version: "v1", Namespaced: true, New: func() Object { return &Endpoints{} }},
	{Kind: "Ingress", Resource: "ingresses", Singular: "ingress", ShortNames: []string{"ing"}, Group: "networking.k8s.io", Version: "v1", Namespaced: true, New: func() Object { return &Ingress{} }},
	{Kind: "Event", Resource: "events", Singular: "event", ShortNames: []string{"ev"}, Version: "v1", Namespaced: true, New: func() Object { return &Event{} }},
}

// Well-known kinds, for code that names one directly.
var (
	KindNamespace             = MustKind("Namespace")
	KindNode                  = MustKind("Node")
	KindConfigMap             = MustKind("ConfigMap")
	KindSecret                = MustKind("Secret")
	KindServiceAccount        = MustKind("ServiceAccount")
	KindStorageClass          = MustKind("StorageClass")
	KindPersistentVolume      = MustKind("PersistentVolume")
	KindClaim                 = MustKind("PersistentVolumeClaim")
	KindDeployment            = MustKind("Deployment")
	KindReplicaSet            = MustKind("ReplicaSet")
	KindReplicationController = MustKind("ReplicationController")
	KindPod                   = MustKind("Pod")
	KindJob                   = MustKind("Job")
	KindCronJob               = MustKind("CronJob")
	KindPodDisruptionBudget   = MustKind("PodDisruptionBudget")
	KindDaemonSet             = MustKind("DaemonSet")
	KindHPA                   = MustKind("HorizontalPodAutoscaler")
	KindStatefulSet           = MustKind("StatefulSet")
	KindRevision              = MustKind("ControllerRevision")
	KindService               = MustKind("Service")
	KindEndpoints             = MustKind("Endpoints")
	KindIngress               = MustKind("Ingress")
	KindEvent                 = MustKind("Event")
)

// MustKind returns the kind named exactly, or panics; for package variables.
func MustKind(name string) *Kind {
	for _, k := range Kinds {
		if k.Kind == name {
			return k
		}
	}
	panic("api: unknown kind " + name)
}

// LookupKind finds a kind by any of the names a user types: kind, plural,
// singular or short name, in any case ("deploy", "Deployments", "pod").
func LookupKind(name string) (*Kind, bool) {
	n := strings.ToLower(name)
	if i := strings.IndexByte(n, '.'); i > 0 { // "deployments.apps"
		n = n[:i]
	}
	for _, k := range Kinds {
		if n == strings.ToLower(k.Kind) || n == k.Resource || n == k.Singular {
			return k, true
		}
		for _, s := range k.ShortNames {
			if n == s {
				return k, true
			}
		}
	}
	return nil, false
}

// KindByResource finds a kind by its API group and plural resource.
func KindByResource(group, resource string) (*Kind, bool) {
	for _, k := range Kinds {
		if k.Group == group && k.Resource == resource {
			return k, true
		}
	}
	return nil, false
}

// KindFor finds the kind of an object from its apiVersion and kind fields.
func KindFor(apiVersion, kind string) (*Kind, error) {
	if kind == "" {
		return nil, FieldErrors{{Field: "kind", Type: ErrTypeRequired, Detail: "every object needs a kind, such as Deployment or Pod"}}
	}
	for _, k := range Kinds {
		if k.Kind != kind {
			continue
		}
		if apiVersion != k.APIVersion() {
			return nil, FieldErrors{{Field: "apiVersion", Value: apiVersion, Type: ErrTypeNotSupported,
				Detail: fmt.Sprintf("kind %s is served as apiVersion %q", kind, k.APIVersion())}}
		}
		return k, nil
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = k.Kind
	}
	return nil, &UnknownKindError{Kind: kind, APIVersion: apiVersion, Known: names}
}

// UnknownKindError is returned for a kind shoal does not serve.
type UnknownKindError struct {
	Kind, APIVersion string
	Known            []string
}

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("kind: unknown kind %q (apiVersion %q); shoal serves %s", e.Kind, e.APIVersion, strings.Join(e.Known, ", "))
}

var kindsByType = func() map[reflect.Type]*Kind {
	m := make(map[reflect.Type]*Kind, len(Kinds))
	for _, k := range Kinds {
		m[reflect.TypeOf(k.New())] = k
	}
	return m
}()

// KindOf returns the registered kind of an object by its Go type.
func KindOf(o Object) *Kind {
	if k, ok := kindsByType[reflect.TypeOf(o)]; ok {
		return k
	}
	panic(fmt.Sprintf("api: %T is not a registered kind", o))
}
