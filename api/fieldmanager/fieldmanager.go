package fieldmanager

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/openapi"
)

// Subresource names the part of an object a request writes: "" for the
// object, "status" for its status subresource.
type Subresource string

// The subresources whose managed fields are kept apart.
const (
	Main   Subresource = ""
	Status Subresource = "status"
	// Scale is a write of the scale subresource: of spec.replicas alone.
	Scale Subresource = "scale"
)

// MaxManagerLength bounds a fieldManager name, as Kubernetes does.
const MaxManagerLength = 128

// Manager merges applied configurations and tracks managed fields for
// every kind of the registry. It is safe for concurrent use; its type
// converter is built on first use (tens of milliseconds), not with it.
type Manager struct {
	converter func() (managedfields.TypeConverter, error)

	mu       sync.Mutex
	managers map[key]*managedfields.FieldManager
}

type key struct {
	kind *api.Kind
	sub  Subresource
}

// New returns a Manager for the kinds.
func New(kinds []*api.Kind) *Manager {
	return &Manager{
		converter: sync.OnceValues(func() (managedfields.TypeConverter, error) {
			return typeConverter(kinds)
		}),
		managers: map[key]*managedfields.FieldManager{},
	}
}

// typeConverter builds the structured-merge-diff types of the kinds from
// their OpenAPI schemas.
func typeConverter(kinds []*api.Kind) (managedfields.TypeConverter, error) {
	resources := make([]openapi.Resource, 0, len(kinds))
	for _, k := range kinds {
		resources = append(resources, openapi.Resource{Group: k.Group, Version: k.Version, Kind: k.Kind,
			Resource: k.Resource, Namespaced: k.Namespaced, Object: k.New(), Registered: k})
	}
	models, err := openapi.Models(resources)
	if err != nil {
		return nil, err
	}
	tc, err := managedfields.NewTypeConverter(models, false)
	if err != nil {
		return nil, fmt.Errorf("server-side apply types: %w", err)
	}
	return tc, nil
}

// fieldManager returns the library's field manager of a kind and
// subresource, made once.
func (m *Manager) fieldManager(k *api.Kind, sub Subresource) (*managedfields.FieldManager, error) {
	tc, err := m.converter()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if fm, ok := m.managers[key{k, sub}]; ok {
		return fm, nil
	}
	gvk := schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
	fm, err := managedfields.NewDefaultFieldManager(tc, convertor{}, defaulter{}, creater{}, gvk,
		gvk.GroupVersion(), string(sub), resetFields(k, sub))
	if err != nil {
		return nil, fmt.Errorf("field manager of %s: %w", k.Kind, err)
	}
	m.managers[key{k, sub}] = fm
	return fm, nil
}

// resetFields are the fields a write of one part of an object does not
// own, because the registry keeps them from the stored object: the status
// in a write of the object (its own record, with its own writer), all but
// the status in a write of the status subresource, all but spec.replicas
// in a write of the scale subresource.
func resetFields(k *api.Kind, sub Subresource) map[fieldpath.APIVersion]fieldpath.Filter {
	v := fieldpath.APIVersion(k.APIVersion())
	if sub == Scale {
		return map[fieldpath.APIVersion]fieldpath.Filter{
			v: fieldpath.NewIncludeMatcherFilter(fieldpath.MakePrefixMatcherOrDie("spec", "replicas")),
		}
	}
	if !k.HasStatus {
		return nil
	}
	status := fieldpath.MakePathOrDie("status")
	if sub == Status {
		return map[fieldpath.APIVersion]fieldpath.Filter{
			v: fieldpath.NewIncludeMatcherFilter(fieldpath.MakePrefixMatcherOrDie("status")),
		}
	}
	return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(status))}
}

// Apply merges applied, an apply configuration's JSON, into live, the
// stored object's JSON (nil when there is none: the apply creates it), for
// manager. Fields live holds that another manager owns and applied sets
// to another value are a conflict (a 409 naming them and their managers)
// unless force takes them over; fields the manager applied before and
// applies no more are removed when no other manager owns them. The result
// is the object to store, with its managedFields.
func (m *Manager) Apply(k *api.Kind, sub Subresource, live, applied []byte, manager string, force bool) ([]byte, error) {
	fm, err := m.fieldManager(k, sub)
	if err != nil {
		return nil, api.NewInternal(err)
	}
	liveObj, err := objectOf(k, live)
	if err != nil {
		return nil, api.NewInternal(fmt.Errorf("stored %s: %w", k.Kind, err))
	}
	appliedObj, err := objectOf(k, applied)
	if err != nil {
		return nil, api.NewBadRequest("the apply configuration: " + err.Error())
	}
	out, err := fm.Apply(liveObj, appliedObj, manager, force)
	if err != nil {
		return nil, applyError(err)
	}
	return json.Marshal(out)
}

// Update records in updated (an object that an update, create or patch
// will store in place of live; live is nil for a create) that manager set
// the fields it changed, as an Update entry of managedFields. A failure to
// track them keeps live's managedFields and is no failure of the write.
func (m *Manager) Update(k *api.Kind, sub Subresource, live, updated []byte, manager string) ([]byte, error) {
	fm, err := m.fieldManager(k, sub)
	if err != nil {
		return nil, api.NewInternal(err)
	}
	liveObj, err := objectOf(k, live)
	if err != nil {
		return nil, api.NewInternal(fmt.Errorf("stored %s: %w", k.Kind, err))
	}
	newObj, err := objectOf(k, updated)
	if err != nil {
		return nil, api.NewInternal(fmt.Errorf("updated %s: %w", k.Kind, err))
	}
	return json.Marshal(fm.UpdateNoErrors(liveObj, newObj, manager))
}

// objectOf decodes an object's JSON for the library; nil is an empty
// object of the kind.
func objectOf(k *api.Kind, doc []byte) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	if doc != nil {
		// Numbers as int64 where they are integers, as the library expects.
		if err := utiljson.Unmarshal(doc, &u.Object); err != nil {
			return nil, err
		}
		if u.Object == nil {
			return nil, errors.New("not a JSON object")
		}
	}
	u.SetAPIVersion(k.APIVersion())
	u.SetKind(k.Kind)
	return u, nil
}

// applyError turns the library's errors into Status errors: a conflict
// keeps Kubernetes' shape (kubectl prints its message and causes); any
// other failure of an apply comes from the configuration sent (a value of
// the wrong type, a list item without its key).
func applyError(err error) error {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		st := se.ErrStatus
		if st.Code == 409 && st.Details != nil {
			causes := make([]api.StatusCause, 0, len(st.Details.Causes))
			for _, c := range st.Details.Causes {
				causes = append(causes, api.StatusCause{Type: string(c.Type), Message: c.Message, Field: c.Field})
			}
			return api.NewApplyConflict(causes, st.Message)
		}
		return api.NewStatusError(int(st.Code), string(st.Reason), st.Message)
	}
	return api.NewBadRequest("server-side apply: " + err.Error())
}

// The library converts objects between versions of a kind, defaults them
// and makes empty ones; shoal serves one version of each kind, defaults
// in its registry, and hands the library unstructured objects.

type convertor struct{}

func (convertor) Convert(in, out, _ any) error {
	u, ok1 := in.(*unstructured.Unstructured)
	o, ok2 := out.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return fmt.Errorf("cannot convert %T to %T", in, out)
	}
	o.Object = runtime.DeepCopyJSON(u.Object)
	return nil
}

func (convertor) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	kind := in.GetObjectKind().GroupVersionKind()
	if target, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{kind}); !ok || target != kind {
		return nil, fmt.Errorf("%s is served in %s only", kind.Kind, kind.GroupVersion())
	}
	return in, nil
}

func (convertor) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return "", "", fmt.Errorf("field label %q of %s is not converted", label, gvk.Kind)
}

type defaulter struct{}

func (defaulter) Default(runtime.Object) {}

type creater struct{}

func (creater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}
