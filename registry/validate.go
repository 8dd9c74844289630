package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// RecordValidators returns the validators of the records Registry keeps,
// under "o/" (spec) and "s/" (status). The agent adds the prefixes of its
// own records and passes the map's Validate to the cluster, so that any
// other prefix is refused.
func (o *Registry) RecordValidators() gossip.RecordValidators {
	return gossip.RecordValidators{specPrefix: o.ValidateRecord, statusPrefix: o.ValidateRecord}
}

// ValidateRecord checks an object record received from elsewhere as an API
// write is checked, so that nothing replicated can hold what the API would
// refuse (a pod named ../../x, a uid that is a path):
//
//   - the key is o/<resource>/<namespace>/<name> or s/<resource>/..., of a
//     known resource, with a namespace exactly when the kind is namespaced,
//     and names that are DNS-1123 (a label for namespaces);
//   - a spec record decodes as that kind, names the kind and the key's
//     namespace and name in its metadata, has a UUID as its uid, and passes
//     the defaulting and validation of an API write;
//   - a status record is of a kind with a status, carries a UUID and a
//     status that decodes as the kind's;
//   - a tombstone needs only a valid key.
//
// Admission (Service IP allocation, and the like) is not replayed: it
// depends on the state of the agent that took the write, and the writer
// already applied it. The errors name fields and rules, never values.
func (o *Registry) ValidateRecord(r *gossip.Record) error {
	k, ns, name, err := parseObjectKey(r.Key)
	if err != nil {
		return err
	}
	if r.Deleted {
		return nil
	}
	if strings.HasPrefix(r.Key, statusPrefix) {
		return validateStatusRecord(k, r)
	}
	obj := k.NewObject()
	if err := json.Unmarshal(r.Value, obj); err != nil {
		return fmt.Errorf("%w: the value is not a %s: %s", gossip.ErrInvalidRecord, k.Kind, jsonProblem(err))
	}
	tm, m := obj.GetTypeMeta(), obj.GetObjectMeta()
	switch {
	case tm.Kind != k.Kind || tm.APIVersion != k.APIVersion():
		return fmt.Errorf("%w: the value is of kind %q %q, the key of %s %s", gossip.ErrInvalidRecord, clip(tm.APIVersion), clip(tm.Kind), k.APIVersion(), k.Kind)
	case m.Name != name || m.Namespace != ns:
		return fmt.Errorf("%w: metadata.namespace and metadata.name differ from the key's", gossip.ErrInvalidRecord)
	case !isUID(m.UID):
		return fmt.Errorf("%w: metadata.uid is not a UUID", gossip.ErrInvalidRecord)
	}
	api.Default(obj)
	api.DefaultIdentity(obj)
	if err := api.Validate(obj); err != nil {
		return fmt.Errorf("%w: %s", gossip.ErrInvalidRecord, withoutValues(err))
	}
	return nil
}

// parseObjectKey splits o/<resource>/<namespace>/<name> (or s/...) and
// checks every part.
func parseObjectKey(key string) (k *api.Kind, ns, name string, err error) {
	parts := strings.Split(key, "/")
	if len(parts) != 4 || parts[0]+"/" != specPrefix && parts[0]+"/" != statusPrefix {
		return nil, "", "", fmt.Errorf("%w: the key is not o/<resource>/<namespace>/<name> nor s/...", gossip.ErrInvalidRecord)
	}
	k = kindOfResource(parts[1])
	if k == nil {
		return nil, "", "", fmt.Errorf("%w: %q is not a resource this agent knows", gossip.ErrInvalidRecord, parts[1])
	}
	ns, name = parts[2], parts[3]
	switch {
	case k.Namespaced && ns == "":
		return nil, "", "", fmt.Errorf("%w: %s are namespaced; the key has no namespace", gossip.ErrInvalidRecord, k.Resource)
	case !k.Namespaced && ns != "":
		return nil, "", "", fmt.Errorf("%w: %s are not namespaced; the key has a namespace", gossip.ErrInvalidRecord, k.Resource)
	case ns != "" && len(api.IsDNS1123Label(ns)) > 0:
		return nil, "", "", fmt.Errorf("%w: the key's namespace is not a DNS-1123 label", gossip.ErrInvalidRecord)
	}
	if name == "" || len(api.NameErrors(k, name)) > 0 {
		return nil, "", "", fmt.Errorf("%w: the key's name is not a valid %s name", gossip.ErrInvalidRecord, k.Kind)
	}
	return k, ns, name, nil
}

func kindOfResource(resource string) *api.Kind {
	for _, k := range api.Kinds {
		if k.Resource == resource {
			return k
		}
	}
	return nil
}

func validateStatusRecord(k *api.Kind, r *gossip.Record) error {
	if !k.HasStatus {
		return fmt.Errorf("%w: %s have no status", gossip.ErrInvalidRecord, k.Resource)
	}
	var env statusEnvelope
	if err := json.Unmarshal(r.Value, &env); err != nil {
		return fmt.Errorf("%w: the value is not a status: %s", gossip.ErrInvalidRecord, jsonProblem(err))
	}
	if !isUID(env.UID) {
		return fmt.Errorf("%w: the status's uid is not a UUID", gossip.ErrInvalidRecord)
	}
	sv, _ := statusField(k.NewObject())
	if len(env.Status) > 0 {
		if err := json.Unmarshal(env.Status, sv.Addr().Interface()); err != nil {
			return fmt.Errorf("%w: the status is not a %s status: %s", gossip.ErrInvalidRecord, k.Kind, jsonProblem(err))
		}
	}
	return nil
}

// isUID reports a UUID in its textual form (8-4-4-4-12 hexadecimal
// digits), as every uid this registry gives (newUID) and Kubernetes' are.
func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// withoutValues renders validation errors by field and rule, leaving out
// the offending values (a record's content is never logged).
func withoutValues(err error) string {
	var fe api.FieldErrors
	if !errors.As(err, &fe) {
		return "invalid"
	}
	parts := make([]string, len(fe))
	for i, f := range fe {
		parts[i] = f.Field + ": " + f.Type
		if f.Detail != "" {
			parts[i] += " (" + f.Detail + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// jsonProblem says where JSON failed without quoting the input.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %s: a JSON %s where %s is expected", te.Field, te.Value, te.Type)
	}
	return "cannot decode"
}

// clip shortens what an error quotes of received input.
func clip(s string) string {
	const limit = 256
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
