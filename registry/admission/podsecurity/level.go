package podsecurity

import (
	"fmt"
	"regexp"

	"github.com/shoal-dev/shoal/api"
)

// Level is a Pod Security Standards level; a higher level is stricter.
type Level int

// The levels, from open to strict.
const (
	Privileged Level = iota
	Baseline
	Restricted
)

func (l Level) String() string {
	switch l {
	case Privileged:
		return api.PodSecurityPrivileged
	case Baseline:
		return api.PodSecurityBaseline
	case Restricted:
		return api.PodSecurityRestricted
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel reads a level name as the namespace labels and the agent flag
// give it.
func ParseLevel(s string) (Level, error) {
	switch s {
	case api.PodSecurityPrivileged:
		return Privileged, nil
	case api.PodSecurityBaseline:
		return Baseline, nil
	case api.PodSecurityRestricted:
		return Restricted, nil
	}
	return 0, fmt.Errorf("%q is not a Pod Security level: give privileged, baseline or restricted", s)
}

// ExemptNamespace holds shoal's own system pods: it is always privileged,
// whatever its labels say.
const ExemptNamespace = "shoal-system"

// policy is what one namespace asks for.
type policy struct {
	enforce     Level
	fromDefault bool // no enforce label: the cluster default applies
	warn        *Level
	audit       *Level
}

// policyFor reads a namespace's labels; ns may be nil (not found), which
// gets the default. Invalid label values (refused on the Namespace's own
// writes, but one may come from an older agent) count as restricted, the
// safe reading, as Kubernetes does.
func policyFor(ns *api.Namespace, def Level) policy {
	p := policy{enforce: def, fromDefault: true}
	if ns == nil {
		return p
	}
	if ns.Name == ExemptNamespace {
		return policy{enforce: Privileged}
	}
	read := func(key string) *Level {
		v, ok := ns.Labels[key]
		if !ok {
			return nil
		}
		l, err := ParseLevel(v)
		if err != nil {
			l = Restricted
		}
		return &l
	}
	if l := read(api.LabelPodSecurityEnforce); l != nil {
		p.enforce, p.fromDefault = *l, false
	}
	p.warn = read(api.LabelPodSecurityWarn)
	p.audit = read(api.LabelPodSecurityAudit)
	return p
}

// versionRE matches the versions Kubernetes accepts in the *-version
// labels. shoal implements one version of the standards, the latest, so the
// label is accepted and read as "latest".
var versionRE = regexp.MustCompile(`^(latest|v1\.(0|[1-9][0-9]*))$`)

// validateLabels checks the Pod Security labels of a namespace.
func validateLabels(labels map[string]string) api.FieldErrors {
	var errs api.FieldErrors
	for _, key := range []string{api.LabelPodSecurityEnforce, api.LabelPodSecurityWarn, api.LabelPodSecurityAudit} {
		if v, ok := labels[key]; ok {
			if _, err := ParseLevel(v); err != nil {
				errs = append(errs, api.FieldError{Field: "metadata.labels[" + key + "]", Value: v, Type: api.ErrTypeNotSupported,
					Detail: "must be privileged, baseline or restricted"})
			}
		}
	}
	for _, key := range []string{api.LabelPodSecurityEnforceVersion, api.LabelPodSecurityWarnVersion, api.LabelPodSecurityAuditVersion} {
		if v, ok := labels[key]; ok && !versionRE.MatchString(v) {
			errs = append(errs, api.FieldError{Field: "metadata.labels[" + key + "]", Value: v, Type: api.ErrTypeInvalid,
				Detail: "must be latest or a Kubernetes version such as v1.30"})
		}
	}
	return errs
}
