package api

import (
	"fmt"
	"path/filepath"
	"strings"
)

// MaxConfigSize bounds the data of one ConfigMap or Secret, as Kubernetes does.
const MaxConfigSize = 1 << 20

// Validate checks an object of a registered kind and returns every problem
// with its field path. Objects must be defaulted first.
func Validate(o Object) error {
	k := KindOf(o)
	var e errs
	validateMeta(&e, k, o.GetObjectMeta())
	validateRBAC(&e, o)
	switch obj := o.(type) {
	case *Pod:
		validatePodSpec(&e, &obj.Spec, "spec")
	case *ReplicaSet:
		validateWorkload(&e, obj.Spec.Replicas, obj.Spec.Selector, &obj.Spec.Template, "spec")
		if obj.Spec.MinReadySeconds < 0 {
			e.invalid("spec.minReadySeconds", obj.Spec.MinReadySeconds, "must be greater than or equal to 0")
		}
	case *ReplicationController:
		validateReplicationController(&e, obj)
	case *Deployment:
		validateDeployment(&e, obj)
	case *Job:
		validateJob(&e, obj)
	case *CronJob:
		validateCronJob(&e, obj)
	case *StorageClass:
		validateStorageClass(&e, obj)
	case *PodDisruptionBudget:
		validatePodDisruptionBudget(&e, obj)
	case *HorizontalPodAutoscaler:
		validateHorizontalPodAutoscaler(&e, obj)
	case *PersistentVolume:
		validatePersistentVolume(&e, obj)
	case *DaemonSet:
		validateDaemonSet(&e, obj)
	case *StatefulSet:
		validateStatefulSet(&e, obj)
	case *ControllerRevision:
		validateControllerRevision(&e, obj)
	case *Service:
		validateService(&e, obj)
	case *Ingress:
		validateIngress(&e, obj)
	case *PersistentVolumeClaim:
		validateClaim(&e, obj)
	case *ConfigMap:
		size := 0
		for key, v := range obj.Data {
			validateConfigKey(&e, path("data").key(key), key)
			size += len(v)
		}
		for key, v := range obj.BinaryData {
			validateConfigKey(&e, path("binaryData").key(key), key)
			if _, dup := obj.Data[key]; dup {
				e.duplicate(path("binaryData").key(key), key)
			}
			size += len(v)
		}
		if size > MaxConfigSize {
			e.invalid("data", nil, fmt.Sprintf("the data of a ConfigMap must be at most %d bytes, it is %d", MaxConfigSize, size))
		}
	case *Secret:
		size := 0
		for key, v := range obj.Data {
			validateConfigKey(&e, path("data").key(key), key)
			size += len(v)
		}
		if size > MaxConfigSize {
			e.invalid("data", nil, fmt.Sprintf("the data of a Secret must be at most %d bytes, it is %d", MaxConfigSize, size))
		}
		if obj.Type == SecretTypeTLS {
			validateTLSSecret(&e, obj)
		}
	case *Node:
		for i, t := range obj.Spec.Taints {
			p := path("spec.taints").index(i)
			validateQualifiedKey(&e, p.child("key"), t.Key)
			if t.Effect != TaintNoSchedule && t.Effect != TaintNoExecute && t.Effect != TaintPreferNoSche {
				e.notSupported(p.child("effect"), t.Effect, TaintNoSchedule, TaintPreferNoSche, TaintNoExecute)
			}
		}
		validateNodeImages(&e, obj.Status.Images)
	case *Event:
		if obj.InvolvedObject.Kind == "" || obj.InvolvedObject.Name == "" {
			e.required("involvedObject", "kind and name of the object the event is about")
		}
	}
	if len(e.list) > 0 {
		return e.list
	}
	return nil
}

// NameErrors checks an object's name by the rule of its kind.
func NameErrors(k *Kind, name string) []string {
	switch {
	case k.Kind == "Namespace" || k.Kind == "Service":
		return IsDNS1123Label(name) // they become DNS labels
	case k.Group == RBACGroup:
		return IsValidPathSegmentName(name) // as Kubernetes: "system:node" is a role name
	}
	return IsDNS1123Subdomain(name)
}

func validateMeta(e *errs, k *Kind, m *ObjectMeta) {
	if m.Name == "" {
		e.required("metadata.name", "name or generateName is required")
	} else {
		for _, msg := range NameErrors(k, m.Name) {
			e.invalid("metadata.name", m.Name, msg)
		}
	}
	if k.Namespaced {
		if m.Namespace == "" {
			e.required("metadata.namespace", "a namespaced object needs a namespace")
		} else {
			for _, msg := range IsDNS1123Label(m.Namespace) {
				e.invalid("metadata.namespace", m.Namespace, msg)
			}
		}
	} else if m.Namespace != "" {
		e.forbidden("metadata.namespace", fmt.Sprintf("%s is not namespaced; remove metadata.namespace", k.Kind))
	}
	validateLabels(e, "metadata.labels", m.Labels)
	total := 0
	for key, v := range m.Annotations {
		validateQualifiedKey(e, path("metadata.annotations"), key)
		total += len(key) + len(v)
	}
	if total > 256*1024 {
		e.invalid("metadata.annotations", nil, "annotations may hold at most 256 KiB in total")
	}
	for i, r := range m.OwnerReferences {
		p := path("metadata.ownerReferences").index(i)
		if r.Kind == "" || r.Name == "" || r.UID == "" {
			e.required(p, "an owner reference needs kind, name and uid")
		}
	}
	validateManagedFields(e, m.ManagedFields)
}

// MaxFieldManagerLength bounds a field manager's name, as in Kubernetes.
const MaxFieldManagerLength = 128

// validateManagedFields checks the shape of managedFields entries, as
// Kubernetes does (the sets themselves are read by server-side apply,
// which starts afresh from a set it cannot read).
func validateManagedFields(e *errs, entries []ManagedFieldsEntry) {
	for i, f := range entries {
		p := path("metadata.managedFields").index(i)
		if f.Operation != "Apply" && f.Operation != "Update" {
			e.notSupported(p.child("operation"), f.Operation, "Apply", "Update")
		}
		if f.FieldsType != "" && f.FieldsType != "FieldsV1" {
			e.notSupported(p.child("fieldsType"), f.FieldsType, "FieldsV1")
		}
		if len(f.Manager) > MaxFieldManagerLength {
			e.invalid(p.child("manager"), f.Manager, fmt.Sprintf("must be at most %d characters", MaxFieldManagerLength))
		}
		if len(f.Subresource) > 253 {
			e.invalid(p.child("subresource"), f.Subresource, "must be at most 253 characters")
		}
	}
}

func validateLabels(e *errs, p path, labels map[string]string) {
	for k, v := range labels {
		validateQualifiedKey(e, p, k)
		for _, msg := range IsValidLabelValue(v) {
			e.invalid(p.key(k), v, msg)
		}
	}
}

func validateQualifiedKey(e *errs, p path, key string) {
	for _, msg := range IsQualifiedName(key) {
		e.invalid(p, key, msg)
	}
}

func validateConfigKey(e *errs, p path, key string) {
	if len(key) > 253 || !configKeyRE.MatchString(key) {
		e.invalid(p, key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'")
	}
	if key == "." || key == ".." || strings.HasPrefix(key, "..") {
		e.invalid(p, key, "must not be '.' or '..' or start with '..'")
	}
}

func validateSelector(e *errs, p path, sel *LabelSelector) Selector {
	if sel == nil {
		e.required(p, "a selector is required (spec.selector.matchLabels)")
		return nil
	}
	validateLabels(e, p.child("matchLabels"), sel.MatchLabels)
	s, err := sel.AsSelector()
	if err != nil {
		e.invalid(p, nil, err.Error())
		return nil
	}
	if s.Empty() {
		e.invalid(p, nil, "empty selector is invalid for a workload; set matchLabels")
	}
	return s
}

func validateWorkload(e *errs, replicas *int32, sel *LabelSelector, t *PodTemplateSpec, p path) {
	if replicas != nil && *replicas < 0 {
		e.invalid(p.child("replicas"), *replicas, "must be greater than or equal to 0")
	}
	s := validateSelector(e, p.child("selector"), sel)
	tp := p.child("template")
	validateLabels(e, tp.child("metadata.labels"), t.Labels)
	if s != nil && !s.Empty() && !s.Matches(t.Labels) {
		e.invalid(tp.child("metadata.labels"), t.Labels, "`selector` does not match template `labels`")
	}
	validatePodSpec(e, &t.Spec, tp.child("spec"))
	if t.Spec.RestartPolicy != RestartAlways {
		e.notSupported(tp.child("spec.restartPolicy"), t.Spec.RestartPolicy, RestartAlways)
	}
}

func validateDeployment(e *errs, d *Deployment) {
	validateWorkload(e, d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template, "spec")
	sp := path("spec.strategy")
	switch d.Spec.Strategy.Type {
	case RollingUpdateStrategy:
		ru := d.Spec.Strategy.RollingUpdate
		if ru == nil {
			break
		}
		surge := validateIntOrPercent(e, sp.child("rollingUpdate.maxSurge"), ru.MaxSurge)
		unavail := validateIntOrPercent(e, sp.child("rollingUpdate.maxUnavailable"), ru.MaxUnavailable)
		if surge == 0 && unavail == 0 {
			e.invalid(sp.child("rollingUpdate.maxUnavailable"), ru.MaxUnavailable.String(),
				"may not be 0 when `maxSurge` is 0: the rollout could never make progress")
		}
		if ru.MaxUnavailable != nil && ru.MaxUnavailable.IsString && unavail > 100 {
			e.invalid(sp.child("rollingUpdate.maxUnavailable"), ru.MaxUnavailable.String(), "must not be greater than 100%")
		}
	case RecreateStrategy:
		if d.Spec.Strategy.RollingUpdate != nil {
			e.forbidden(sp.child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")
		}
	default:
		e.notSupported(sp.child("type"), d.Spec.Strategy.Type, RecreateStrategy, RollingUpdateStrategy)
	}
	if d.Spec.MinReadySeconds < 0 {
		e.invalid("spec.minReadySeconds", d.Spec.MinReadySeconds, "must be greater than or equal to 0")
	}
	if l := d.Spec.RevisionHistoryLimit; l != nil && *l < 0 {
		e.invalid("spec.revisionHistoryLimit", *l, "must be greater than or equal to 0")
	}
	if pd := d.Spec.ProgressDeadlineSeconds; pd != nil && *pd <= d.Spec.MinReadySeconds {
		e.invalid("spec.progressDeadlineSeconds", *pd, "must be greater than minReadySeconds")
	}
}

// validateIntOrPercent returns the value (absolute or percent number) or -1.
func validateIntOrPercent(e *errs, p path, v *IntOrString) int {
	if v == nil {
		return -1
	}
	if v.IsString {
		n, err := v.ScaledValue(100, false)
		if err != nil {
			e.invalid(p, v.StrVal, "must be an integer or a percentage (e.g '5%')")
			return -1
		}
		if n < 0 {
			e.invalid(p, v.StrVal, "must be greater than or equal to 0")
		}
		return n
	}
	if v.IntVal < 0 {
		e.invalid(p, v.IntVal, "must be greater than or equal to 0")
	}
	return int(v.IntVal)
}

var supportedFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid",
	"metadata.labels['<KEY>']", "metadata.annotations['<KEY>']", "spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.podIP", "status.podIPs"}

// IsSupportedFieldPath reports whether a fieldRef path can be resolved.
func IsSupportedFieldPath(fp string) bool {
	switch fp {
	case "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
		"spec.serviceAccountName", "status.hostIP", "status.podIP", "status.podIPs":
		return true
	}
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if strings.HasPrefix(fp, prefix) && strings.HasSuffix(fp, "']") && len(fp) > len(prefix)+2 {
			return true
		}
	}
	return false
}

func validatePodSpec(e *errs, s *PodSpec, p path) {
	volumes := map[string]*Volume{}
	for i := range s.Volumes {
		v := &s.Volumes[i]
		vp := p.child("volumes").index(i)
		validateVolume(e, v, vp)
		if _, dup := volumes[v.Name]; dup {
			e.duplicate(vp.child("name"), v.Name)
		}
		volumes[v.Name] = v
	}
	if len(s.Containers) == 0 {
		e.required(p.child("containers"), "a pod needs at least one container")
	}
	names := map[string]bool{}
	for i := range s.InitContainers {
		validateContainer(e, &s.InitContainers[i], p.child("initContainers").index(i), volumes, names, true)
	}
	for i := range s.Containers {
		validateContainer(e, &s.Containers[i], p.child("containers").index(i), volumes, names, false)
	}
	switch s.RestartPolicy {
	case RestartAlways, RestartOnFailure, RestartNever:
	default:
		e.notSupported(p.child("restartPolicy"), s.RestartPolicy, RestartAlways, RestartOnFailure, RestartNever)
	}
	if g := s.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		e.invalid(p.child("terminationGracePeriodSeconds"), *g, "must be greater than or equal to 0")
	}
	if d := s.ActiveDeadlineSeconds; d != nil && *d <= 0 {
		e.invalid(p.child("activeDeadlineSeconds"), *d, "must be greater than 0")
	}
	validatePodSecurityContext(e, s, p)
	if s.HostNetwork {
		for _, list := range []struct {
			name string
			cs   []Container
		}{{"initContainers", s.InitContainers}, {"containers", s.Containers}} {
			for i, c := range list.cs {
				for j, port := range c.Ports {
					if port.HostPort != 0 && port.HostPort != port.ContainerPort {
						e.invalid(p.child(list.name).index(i).child("ports").index(j).child("hostPort"), port.HostPort,
							"must match `containerPort` when `hostNetwork` is true")
					}
				}
			}
		}
	}
	validateLabels(e, p.child("nodeSelector"), s.NodeSelector)
	if s.NodeName != "" {
		for _, msg := range IsDNS1123Subdomain(s.NodeName) {
			e.invalid(p.child("nodeName"), s.NodeName, msg)
		}
	}
	validateSchedulingGates(e, s, p)
	validateAffinity(e, s.Affinity, p.child("affinity"))
	validateTopologySpread(e, s.TopologySpreadConstraints, p.child("topologySpreadConstraints"))
	for i, t := range s.Tolerations {
		tp := p.child("tolerations").index(i)
		switch t.Operator {
		case "", "Equal":
		case "Exists":
			if t.Value != "" {
				e.invalid(tp.child("value"), t.Value, "must be empty when `operator` is 'Exists'")
			}
		default:
			e.notSupported(tp.child("operator"), t.Operator, "Equal", "Exists")
		}
		if t.Key == "" && t.Operator != "Exists" {
			e.invalid(tp.child("operator"), t.Operator, "an empty key needs operator 'Exists'")
		}
	}
}

func validateVolume(e *errs, v *Volume, p path) {
	for _, msg := range IsDNS1123Label(v.Name) {
		e.invalid(p.child("name"), v.Name, msg)
	}
	sources := 0
	if v.EmptyDir != nil {
		sources++
		if m := v.EmptyDir.Medium; m != "" && m != "Memory" {
			e.notSupported(p.child("emptyDir.medium"), m, "", "Memory")
		}
	}
	if v.HostPath != nil {
		sources++
		if !filepath.IsAbs(v.HostPath.Path) {
			e.invalid(p.child("hostPath.path"), v.HostPath.Path, "must be an absolute path")
		}
	}
	if v.ConfigMap != nil {
		sources++
		if v.ConfigMap.Name == "" {
			e.required(p.child("configMap.name"), "the ConfigMap to project")
		}
		validateProjection(e, p.child("configMap"), v.ConfigMap.Items, v.ConfigMap.DefaultMode)
	}
	if v.Secret != nil {
		sources++
		if v.Secret.SecretName == "" {
			e.required(p.child("secret.secretName"), "the Secret to project")
		}
		validateProjection(e, p.child("secret"), v.Secret.Items, v.Secret.DefaultMode)
	}
	if v.PersistentVolumeClaim != nil {
		sources++
		for _, msg := range IsDNS1123Subdomain(v.PersistentVolumeClaim.ClaimName) {
			e.invalid(p.child("persistentVolumeClaim.claimName"), v.PersistentVolumeClaim.ClaimName, msg)
		}
	}
	switch {
	case sources == 0:
		e.required(p, "must specify one volume type: emptyDir, hostPath, configMap, secret or persistentVolumeClaim")
	case sources > 1:
		e.forbidden(p, "may not specify more than one volume type")
	}
}

func validateProjection(e *errs, p path, items []KeyToPath, mode *int32) {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		e.invalid(p.child("defaultMode"), *mode, "must be a number between 0 and 0777 (octal), both inclusive")
	}
	for i, it := range items {
		ip := p.child("items").index(i)
		if it.Key == "" {
			e.required(ip.child("key"), "")
		}
		validateLocalPath(e, ip.child("path"), it.Path)
		validateLocalPath(e, ip.child("key"), it.Key)
		if it.Mode != nil && (*it.Mode < 0 || *it.Mode > 0o777) {
			e.invalid(ip.child("mode"), *it.Mode, "must be a number between 0 and 0777 (octal), both inclusive")
		}
	}
}

// validateLocalPath rejects paths that would escape the volume's directory.
func validateLocalPath(e *errs, p path, s string) {
	if s == "" {
		e.required(p, "")
		return
	}
	if filepath.IsAbs(s) || strings.HasPrefix(s, "/") {
		e.invalid(p, s, "must be a relative path")
	}
	for _, part := range strings.Split(s, "/") {
		if part == ".." {
			e.invalid(p, s, "must not contain '..'")
			break
		}
	}
}

func validateContainer(e *errs, c *Container, p path, volumes map[string]*Volume, names map[string]bool, init bool) {
	for _, msg := range IsDNS1123Label(c.Name) {
		e.invalid(p.child("name"), c.Name, msg)
	}
	if names[c.Name] {
		e.duplicate(p.child("name"), c.Name)
	}
	names[c.Name] = true
	if strings.TrimSpace(c.Image) == "" {
		e.required(p.child("image"), "every container needs an image")
	}
	switch c.ImagePullPolicy {
	case PullAlways, PullIfNotPresent, PullNever:
	default:
		e.notSupported(p.child("imagePullPolicy"), c.ImagePullPolicy, PullAlways, PullIfNotPresent, PullNever)
	}
	portNames := map[string]bool{}
	for i, port := range c.Ports {
		pp := p.child("ports").index(i)
		if port.ContainerPort < 1 || port.ContainerPort > 65535 {
			e.invalid(pp.child("containerPort"), port.ContainerPort, "must be between 1 and 65535, inclusive")
		}
		if port.HostPort < 0 || port.HostPort > 65535 {
			e.invalid(pp.child("hostPort"), port.HostPort, "must be between 0 and 65535, inclusive")
		}
		switch port.Protocol {
		case "TCP", "UDP", "SCTP":
		default:
			e.notSupported(pp.child("protocol"), port.Protocol, "TCP", "UDP", "SCTP")
		}
		if port.Name != "" {
			if len(port.Name) > 15 || len(IsDNS1123Label(port.Name)) > 0 {
				e.invalid(pp.child("name"), port.Name, "must be a DNS label of at most 15 characters (lower case letters, digits, '-')")
			}
			if portNames[port.Name] {
				e.duplicate(pp.child("name"), port.Name)
			}
			portNames[port.Name] = true
		}
	}
	for i, env := range c.Env {
		ep := p.child("env").index(i)
		if !envVarNameRE.MatchString(env.Name) {
			e.invalid(ep.child("name"), env.Name, "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit")
		}
		if env.ValueFrom == nil {
			continue
		}
		if env.Value != "" {
			e.invalid(ep.child("valueFrom"), nil, "may not be specified when `value` is not empty")
		}
		vf, vp := env.ValueFrom, ep.child("valueFrom")
		n := 0
		if vf.FieldRef != nil {
			n++
			if !IsSupportedFieldPath(vf.FieldRef.FieldPath) {
				e.notSupported(vp.child("fieldRef.fieldPath"), vf.FieldRef.FieldPath, supportedFieldPaths...)
			}
		}
		if vf.ConfigMapKeyRef != nil {
			n++
			validateKeyRef(e, vp.child("configMapKeyRef"), vf.ConfigMapKeyRef)
		}
		if vf.SecretKeyRef != nil {
			n++
			validateKeyRef(e, vp.child("secretKeyRef"), vf.SecretKeyRef)
		}
		if n != 1 {
			e.invalid(vp, nil, "must specify exactly one of: `fieldRef`, `configMapKeyRef` or `secretKeyRef`")
		}
	}
	for i, ef := range c.EnvFrom {
		ep := p.child("envFrom").index(i)
		if (ef.ConfigMapRef == nil) == (ef.SecretRef == nil) {
			e.invalid(ep, nil, "must specify exactly one of: `configMapRef` or `secretRef`")
		}
		if ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == "" {
			e.required(ep.child("configMapRef.name"), "")
		}
		if ef.SecretRef != nil && ef.SecretRef.Name == "" {
			e.required(ep.child("secretRef.name"), "")
		}
	}
	validateResources(e, p.child("resources"), &c.Resources)
	validateContainerSecurityContext(e, c, p)
	mounts := map[string]bool{}
	for i, m := range c.VolumeMounts {
		mp := p.child("volumeMounts").index(i)
		if _, ok := volumes[m.Name]; !ok {
			e.invalid(mp.child("name"), m.Name, "not found in spec.volumes; add a volume of that name")
		}
		if !strings.HasPrefix(m.MountPath, "/") {
			e.invalid(mp.child("mountPath"), m.MountPath, "must be an absolute path")
		}
		if mounts[m.MountPath] {
			e.invalid(mp.child("mountPath"), m.MountPath, "must be unique")
		}
		mounts[m.MountPath] = true
		if m.SubPath != "" {
			validateLocalPath(e, mp.child("subPath"), m.SubPath)
		}
	}
	probes := []struct {
		name string
		p    *Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}}
	for _, pr := range probes {
		if pr.p == nil {
			continue
		}
		if init {
			e.forbidden(p.child(pr.name), "may not be set for init containers")
			continue
		}
		validateProbe(e, p.child(pr.name), pr.p, pr.name != "readinessProbe")
	}
}

func validateKeyRef(e *errs, p path, r *KeySelector) {
	if r.Name == "" {
		e.required(p.child("name"), "")
	}
	if r.Key == "" {
		e.required(p.child("key"), "")
	} else {
		validateConfigKey(e, p.child("key"), r.Key)
	}
}

func validateResources(e *errs, p path, r *ResourceRequirements) {
	for name, q := range r.Requests {
		if lim, ok := r.Limits[name]; ok && q.MilliValue() > lim.MilliValue() {
			e.invalid(p.child("requests").key(name), q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String()))
		}
	}
	for _, list := range []struct {
		name string
		l    ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for name := range list.l {
			if name != ResourceCPU && name != ResourceMemory && !strings.Contains(name, "/") && name != "ephemeral-storage" {
				e.notSupported(p.child(list.name).key(name), name, ResourceCPU, ResourceMemory)
			}
		}
	}
}

func validateProbe(e *errs, p path, pr *Probe, mustSucceedOnce bool) {
	n := 0
	if pr.Exec != nil {
		n++
		if len(pr.Exec.Command) == 0 {
			e.required(p.child("exec.command"), "")
		}
	}
	if pr.HTTPGet != nil {
		n++
		validateProbePort(e, p.child("httpGet.port"), pr.HTTPGet.Port)
		if s := pr.HTTPGet.Scheme; s != "HTTP" && s != "HTTPS" {
			e.notSupported(p.child("httpGet.scheme"), s, "HTTP", "HTTPS")
		}
	}
	if pr.TCPSocket != nil {
		n++
		validateProbePort(e, p.child("tcpSocket.port"), pr.TCPSocket.Port)
	}
	switch {
	case n == 0:
		e.required(p, "must specify a handler type: exec, httpGet or tcpSocket")
	case n > 1:
		e.forbidden(p, "may not specify more than one handler type")
	}
	for _, f := range []struct {
		name string
		v    int32
		min  int32
	}{{"initialDelaySeconds", pr.InitialDelaySeconds, 0}, {"timeoutSeconds", pr.TimeoutSeconds, 1},
		{"periodSeconds", pr.PeriodSeconds, 1}, {"successThreshold", pr.SuccessThreshold, 1}, {"failureThreshold", pr.FailureThreshold, 1}} {
		if f.v < f.min {
			e.invalid(p.child(f.name), f.v, fmt.Sprintf("must be greater than or equal to %d", f.min))
		}
	}
	if mustSucceedOnce && pr.SuccessThreshold != 1 {
		e.invalid(p.child("successThreshold"), pr.SuccessThreshold, "must be 1 for liveness and startup probes")
	}
}

func validateProbePort(e *errs, p path, port IntOrString) {
	if port.IsString {
		if len(port.StrVal) > 15 || len(IsDNS1123Label(port.StrVal)) > 0 {
			e.invalid(p, port.StrVal, "must be a port number or the name of a container port")
		}
		return
	}
	if port.IntVal < 1 || port.IntVal > 65535 {
		e.invalid(p, port.IntVal, "must be between 1 and 65535, inclusive")
	}
}

func validateJob(e *errs, j *Job) {
	p := path("spec")
	for _, f := range []struct {
		name string
		v    *int32
	}{{"parallelism", j.Spec.Parallelism}, {"completions", j.Spec.Completions}, {"backoffLimit", j.Spec.BackoffLimit},
		{"ttlSecondsAfterFinished", j.Spec.TTLSecondsAfterFinished}} {
		if f.v != nil && *f.v < 0 {
			e.invalid(p.child(f.name), *f.v, "must be greater than or equal to 0")
		}
	}
	if d := j.Spec.ActiveDeadlineSeconds; d != nil && *d <= 0 {
		e.invalid(p.child("activeDeadlineSeconds"), *d, "must be greater than 0")
	}
	if m := j.Spec.CompletionMode; m != CompletionModeNonIndexed {
		e.notSupported(p.child("completionMode"), m, CompletionModeNonIndexed)
	}
	tp := p.child("template")
	validateLabels(e, tp.child("metadata.labels"), j.Spec.Template.Labels)
	if j.Spec.Selector != nil {
		s := validateSelector(e, p.child("selector"), j.Spec.Selector)
		// Before creation the generated labels are not there yet; a manual
		// selector must match the template.
		if s != nil && !s.Empty() && j.UID != "" && !s.Matches(j.Spec.Template.Labels) {
			e.invalid(tp.child("metadata.labels"), j.Spec.Template.Labels, "`selector` does not match template `labels`")
		}
	} else if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		e.required(p.child("selector"), "manualSelector is true, so a selector is required")
	}
	validatePodSpec(e, &j.Spec.Template.Spec, tp.child("spec"))
	if rp := j.Spec.Template.Spec.RestartPolicy; rp != RestartOnFailure && rp != RestartNever {
		e.notSupported(tp.child("spec.restartPolicy"), rp, RestartOnFailure, RestartNever)
	}
}

func validateDaemonSet(e *errs, d *DaemonSet) {
	validateWorkload(e, nil, d.Spec.Selector, &d.Spec.Template, "spec")
	sp := path("spec.updateStrategy")
	switch d.Spec.UpdateStrategy.Type {
	case RollingUpdateStrategy:
		if ru := d.Spec.UpdateStrategy.RollingUpdate; ru != nil {
			surge := validateIntOrPercent(e, sp.child("rollingUpdate.maxSurge"), ru.MaxSurge)
			unavail := validateIntOrPercent(e, sp.child("rollingUpdate.maxUnavailable"), ru.MaxUnavailable)
			if surge == 0 && unavail == 0 {
				e.invalid(sp.child("rollingUpdate.maxUnavailable"), ru.MaxUnavailable.String(), "may not be 0 when `maxSurge` is 0")
			}
		}
	case OnDeleteDaemonSetStrategy:
	default:
		e.notSupported(sp.child("type"), d.Spec.UpdateStrategy.Type, OnDeleteDaemonSetStrategy, RollingUpdateStrategy)
	}
	if d.Spec.MinReadySeconds < 0 {
		e.invalid("spec.minReadySeconds", d.Spec.MinReadySeconds, "must be greater than or equal to 0")
	}
}

func validateService(e *errs, s *Service) {
	p := path("spec")
	switch s.Spec.Type {
	case ServiceTypeClusterIP, ServiceTypeNodePort, ServiceTypeLoadBalancer:
	case ServiceTypeExternalName:
		// As Kubernetes: a DNS-1123 subdomain, a trailing dot allowed. The
		// name becomes a CNAME target in the cluster DNS.
		if errs := IsDNS1123Subdomain(strings.TrimSuffix(s.Spec.ExternalName, ".")); len(errs) > 0 {
			e.invalid(p.child("externalName"), s.Spec.ExternalName,
				"an ExternalName service needs the lower-case DNS name it aliases, such as 'db.example.com': "+errs[0])
		}
		return
	default:
		e.notSupported(p.child("type"), s.Spec.Type, ServiceTypeClusterIP, ServiceTypeNodePort, ServiceTypeLoadBalancer, ServiceTypeExternalName)
	}
	switch s.Spec.SessionAffinity {
	case AffinityNone, AffinityClientIP:
	default:
		e.notSupported(p.child("sessionAffinity"), s.Spec.SessionAffinity, AffinityNone, AffinityClientIP)
	}
	if s.IsHeadless() && s.Spec.Type != ServiceTypeClusterIP {
		e.invalid(p.child("clusterIP"), ClusterIPNone, "a headless service (clusterIP None) must be of type ClusterIP")
	}
	if ip := s.Spec.ClusterIP; ip != "" && ip != ClusterIPNone && !isIPv4(ip) {
		e.invalid(p.child("clusterIP"), ip, "must be a valid IPv4 address or None")
	}
	if len(s.Spec.Ports) == 0 && !s.IsHeadless() {
		e.required(p.child("ports"), "a service needs at least one port")
	}
	validateLabels(e, p.child("selector"), s.Spec.Selector)
	names := map[string]bool{}
	seen := map[string]bool{}
	for i, port := range s.Spec.Ports {
		pp := p.child("ports").index(i)
		if port.Name != "" {
			if len(port.Name) > 63 || len(IsDNS1123Label(port.Name)) > 0 {
				e.invalid(pp.child("name"), port.Name, "a port name must be a DNS label: lower case letters, digits and '-' (e.g. 'http')")
			}
			if names[port.Name] {
				e.duplicate(pp.child("name"), port.Name)
			}
			names[port.Name] = true
		} else if len(s.Spec.Ports) > 1 {
			e.required(pp.child("name"), "every port of a multi-port service needs a name")
		}
		if port.Port < 1 || port.Port > 65535 {
			e.invalid(pp.child("port"), port.Port, "must be between 1 and 65535, inclusive")
		}
		switch port.Protocol {
		case "TCP", "UDP", "SCTP":
		default:
			e.notSupported(pp.child("protocol"), port.Protocol, "TCP", "UDP", "SCTP")
		}
		key := fmt.Sprintf("%d/%s", port.Port, port.Protocol)
		if seen[key] {
			e.duplicate(pp, key)
		}
		seen[key] = true
		if tp := port.TargetPort; tp.IsString {
			if len(tp.StrVal) > 15 || len(IsDNS1123Label(tp.StrVal)) > 0 {
				e.invalid(pp.child("targetPort"), tp.StrVal, "must be a port number or the name of a container port (at most 15 characters)")
			}
		} else if tp.IntVal < 1 || tp.IntVal > 65535 {
			e.invalid(pp.child("targetPort"), tp.IntVal, "must be between 1 and 65535, inclusive")
		}
		if port.NodePort != 0 {
			if s.Spec.Type == ServiceTypeClusterIP {
				e.forbidden(pp.child("nodePort"), "may not be used when `type` is 'ClusterIP'")
			} else if port.NodePort < NodePortMin || port.NodePort > NodePortMax {
				e.invalid(pp.child("nodePort"), port.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", NodePortMin, NodePortMax))
			}
		}
	}
}

func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
			n = n*10 + int(c-'0')
		}
		if n > 255 {
			return false
		}
	}
	return true
}

// validateTLSSecret checks that a kubernetes.io/tls Secret holds a
// certificate and its key; Kubernetes checks only that both are there.
// The errors never hold the data.
func validateTLSSecret(e *errs, s *Secret) {
	if _, err := TLSKeyPair(s.Data); err != nil {
		if fe, ok := err.(*FieldError); ok {
			e.list = append(e.list, *fe)
		}
	}
}

func validateIngress(e *errs, in *Ingress) {
	p := path("spec")
	for i, t := range in.Spec.TLS {
		tp := p.child("tls").index(i)
		for j, h := range t.Hosts {
			if errs := IsDNS1123Subdomain(strings.TrimPrefix(h, "*.")); len(errs) > 0 {
				e.invalid(tp.child("hosts").index(j), h, errs[0])
			}
		}
		if t.SecretName != "" {
			for _, msg := range IsDNS1123Subdomain(t.SecretName) {
				e.invalid(tp.child("secretName"), t.SecretName, "must be the name of a Secret in the Ingress's namespace: "+msg)
			}
		}
	}
	if b := in.Spec.DefaultBackend; b != nil {
		validateIngressBackend(e, p.child("defaultBackend"), b)
	}
	if len(in.Spec.Rules) == 0 && in.Spec.DefaultBackend == nil {
		e.required(p.child("rules"), "an ingress needs rules or a defaultBackend")
	}
	for i, r := range in.Spec.Rules {
		rp := p.child("rules").index(i)
		if r.Host != "" {
			host := strings.TrimPrefix(r.Host, "*.")
			if errs := IsDNS1123Subdomain(host); len(errs) > 0 {
				e.invalid(rp.child("host"), r.Host, errs[0])
			}
		}
		if r.HTTP == nil {
			e.required(rp.child("http"), "a rule needs http paths")
			continue
		}
		for j, hp := range r.HTTP.Paths {
			pp := rp.child("http.paths").index(j)
			switch hp.PathType {
			case PathTypePrefix, PathTypeExact, PathTypeImplementationSpecific:
			case "":
				e.required(pp.child("pathType"), "pathType must be Prefix, Exact or ImplementationSpecific")
			default:
				e.notSupported(pp.child("pathType"), hp.PathType, PathTypeExact, PathTypePrefix, PathTypeImplementationSpecific)
			}
			if !strings.HasPrefix(hp.Path, "/") {
				e.invalid(pp.child("path"), hp.Path, "must be an absolute path")
			}
			validateIngressBackend(e, pp.child("backend"), &hp.Backend)
		}
	}
}

func validateIngressBackend(e *errs, p path, b *IngressBackend) {
	if b.Service == nil {
		e.required(p.child("service"), "the backend must name a service")
		return
	}
	if errs := IsDNS1123Label(b.Service.Name); len(errs) > 0 {
		e.invalid(p.child("service.name"), b.Service.Name, errs[0])
	}
	if (b.Service.Port.Name == "") == (b.Service.Port.Number == 0) {
		e.invalid(p.child("service.port"), nil, "must give exactly one of name or number")
	}
}

// validateSchedulingGates checks gate names as Kubernetes does: qualified
// names, each once, and none on a pod already given a node.
func validateSchedulingGates(e *errs, s *PodSpec, p path) {
	seen := map[string]bool{}
	for i, g := range s.SchedulingGates {
		gp := p.child("schedulingGates").index(i).child("name")
		if g.Name == "" {
			e.required(gp, "a scheduling gate needs a name")
			continue
		}
		for _, msg := range IsQualifiedName(g.Name) {
			e.invalid(gp, g.Name, msg)
		}
		if seen[g.Name] {
			e.duplicate(gp, g.Name)
		}
		seen[g.Name] = true
	}
	if len(s.SchedulingGates) > 0 && s.NodeName != "" {
		e.forbidden(p.child("nodeName"), "cannot be set until all schedulingGates have been cleared")
	}
}

// ValidateUpdate checks what may change from old to obj (both of one kind,
// obj defaulted and valid on its own): a pod's scheduling gates may only
// be removed, as in Kubernetes.
func ValidateUpdate(old, obj Object) error {
	var e errs
	if o, ok := old.(*Pod); ok {
		if p, ok := obj.(*Pod); ok {
			had := map[string]bool{}
			for _, g := range o.Spec.SchedulingGates {
				had[g.Name] = true
			}
			for i, g := range p.Spec.SchedulingGates {
				if !had[g.Name] {
					e.forbidden(path("spec.schedulingGates").index(i), fmt.Sprintf("only deletion is allowed, but found new scheduling gate %q", g.Name))
				}
			}
		}
	}
	if len(e.list) > 0 {
		return e.list
	}
	return nil
}

// Bounds of one entry of a Node's status.images.
const (
	maxImageNames   = 32
	maxImageNameLen = 512
)

// validateNodeImages bounds what a node reports of its images: other
// agents fetch images by these names (docs/images.md).
func validateNodeImages(e *errs, images []ContainerImage) {
	if len(images) > MaxNodeImages {
		e.invalid(path("status.images"), len(images), fmt.Sprintf("a node lists at most %d images (the largest ones)", MaxNodeImages))
		return
	}
	for i, img := range images {
		p := path("status.images").index(i)
		if len(img.Names) == 0 || len(img.Names) > maxImageNames {
			e.invalid(p.child("names"), len(img.Names), fmt.Sprintf("an image has 1 to %d names", maxImageNames))
		}
		for j, n := range img.Names {
			if n == "" || len(n) > maxImageNameLen || strings.ContainsAny(n, " \t\r\n") {
				e.invalid(p.child("names").index(j), n, fmt.Sprintf("an image name is 1 to %d characters without spaces", maxImageNameLen))
			}
		}
		if img.SizeBytes < 0 {
			e.invalid(p.child("sizeBytes"), img.SizeBytes, "must not be negative")
		}
	}
}
