package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

func (w *podWorker) volumeDir(name string) (string, error) {
	pod, err := w.rt.podDir(w.key.uid)
	if err != nil {
		return "", err
	}
	if err := checkPathToken("volume name", name); err != nil {
		return "", err
	}
	return filepath.Join(pod, "volumes", name), nil
}

// subPathDir is where the agent bind-mounts the resolved subPath of one
// volume mount of one container (as the kubelet's volume-subpaths).
func (w *podWorker) subPathDir(volume, container string, index int) (string, error) {
	pod, err := w.rt.podDir(w.key.uid)
	if err != nil {
		return "", err
	}
	if err := checkPathToken("volume name", volume); err != nil {
		return "", err
	}
	if err := checkPathToken("container name", container); err != nil {
		return "", err
	}
	return filepath.Join(pod, "volume-subpaths", volume, container, strconv.Itoa(index)), nil
}

// pvcVolumeName maps a claim to the named engine volume that holds its data;
// it outlives the pods that use it.
func pvcVolumeName(ns, claim string) string { return api.ClaimVolumePrefix(ns) + claim }

// syncVolumes prepares the pod's volumes on the host: scratch directories,
// projected ConfigMap and Secret files (kept up to date on every sync), and
// named volumes for claims.
func (w *podWorker) syncVolumes(ctx context.Context, pod *api.Pod) error {
	for _, v := range pod.Spec.Volumes {
		dir, err := w.volumeDir(v.Name)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		switch {
		case v.EmptyDir != nil:
			if v.EmptyDir.Medium == "Memory" {
				if err := ensureTmpfs(dir); err != nil {
					return fmt.Errorf("volume %s: %w", v.Name, err)
				}
			}
			if err := os.MkdirAll(dir, 0o777); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
			// Shared by containers running as any user.
			if err := os.Chmod(dir, 0o777); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.HostPath != nil:
			if v.HostPath.Type == "DirectoryOrCreate" {
				if err := os.MkdirAll(v.HostPath.Path, 0o755); err != nil {
					return fmt.Errorf("volume %s: hostPath: %w", v.Name, err)
				}
			}
		case v.ConfigMap != nil:
			obj, err := w.rt.store.Get(ctx, api.KindConfigMap, pod.Namespace, v.ConfigMap.Name)
			if err != nil {
				if api.IsNotFound(err) && v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
					continue
				}
				return fmt.Errorf("volume %s: configmap %q: %w", v.Name, v.ConfigMap.Name, err)
			}
			cm := obj.(*api.ConfigMap)
			data := map[string][]byte{}
			for k, s := range cm.Data {
				data[k] = []byte(s)
			}
			for k, b := range cm.BinaryData {
				data[k] = b
			}
			if err := project(dir, data, v.ConfigMap.Items, v.ConfigMap.DefaultMode, podOwner(pod)); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.Secret != nil:
			obj, err := w.rt.store.Get(ctx, api.KindSecret, pod.Namespace, v.Secret.SecretName)
			if err != nil {
				if api.IsNotFound(err) && v.Secret.Optional != nil && *v.Secret.Optional {
					continue
				}
				return fmt.Errorf("volume %s: secret %q: %w", v.Name, v.Secret.SecretName, err)
			}
			if err := ensureTmpfs(dir); err != nil {
				return fmt.Errorf("volume %s: secrets are kept in memory only: %w", v.Name, err)
			}
			if err := project(dir, obj.(*api.Secret).Data, v.Secret.Items, v.Secret.DefaultMode, podOwner(pod)); err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
		case v.PersistentVolumeClaim != nil:
			path, err := w.declaredVolumePath(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
			if err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
			if path != "" {
				if w.declared == nil {
					w.declared = map[string]string{}
				}
				w.declared[v.Name] = path
				continue
			}
			name := pvcVolumeName(pod.Namespace, v.PersistentVolumeClaim.ClaimName)
			if w.rt.present.recent("volume:" + name) {
				continue
			}
			cctx, cancel := w.rt.engineCtx(ctx)
			err = w.rt.eng.EnsureVolume(cctx, name, map[string]string{"io.shoal.pvc": v.PersistentVolumeClaim.ClaimName,
				engine.LabelPodNamespace: pod.Namespace})
			cancel()
			if err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
			w.rt.present.mark("volume:" + name)
		}
	}
	return w.syncServiceAccount(ctx, pod)
}

// declaredVolumePath is the host path of the declared PersistentVolume a
// claim is bound to, "" when the claim is one of shoal's own local volumes
// (no object, or no declared volume). A hostPath directory is made when
// missing (type "" or DirectoryOrCreate), as the engine's bind of a
// missing source would; a local volume's path must be there already.
func (w *podWorker) declaredVolumePath(ctx context.Context, ns, claim string) (string, error) {
	obj, err := w.rt.store.Get(ctx, api.KindClaim, ns, claim)
	if api.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("claim %q: %w", claim, err)
	}
	c := obj.(*api.PersistentVolumeClaim)
	name := c.BoundVolume()
	if name == "" {
		if c.Spec.VolumeName != "" || c.Annotations[api.AnnotationWaitsForVolume] != "" {
			return "", fmt.Errorf("claim %q is not bound to its persistentvolume yet", claim)
		}
		return "", nil
	}
	obj, err = w.rt.store.Get(ctx, api.KindPersistentVolume, "", name)
	if err != nil {
		return "", fmt.Errorf("claim %q: persistentvolume %q: %w", claim, name, err)
	}
	pv := obj.(*api.PersistentVolume)
	if r := pv.Spec.ClaimRef; r == nil || r.UID != c.UID {
		return "", fmt.Errorf("claim %q: persistentvolume %q is not bound to it", claim, name)
	}
	switch {
	case pv.Spec.HostPath != nil:
		if t := pv.Spec.HostPath.Type; t == "" || t == "DirectoryOrCreate" {
			if err := os.MkdirAll(pv.Spec.HostPath.Path, 0o755); err != nil {
				return "", fmt.Errorf("persistentvolume %q: hostPath: %w", name, err)
			}
		}
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		if _, err := os.Stat(pv.Spec.Local.Path); err != nil {
			return "", fmt.Errorf("persistentvolume %q: local path: %w", name, err)
		}
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %q: only hostPath and local volumes are mounted by shoal (nfs is not)", name)
}

// ServiceAccountDir is where pods find their service-account token, the
// cluster's CA and their namespace, as in Kubernetes.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// syncServiceAccount writes the pod's service-account files (token,
// ca.crt, namespace) on a tmpfs of its own, and the token again when a
// fifth of its life is left. Pods that opt out (the pod's or its service
// account's automountServiceAccountToken: false) get none.
func (w *podWorker) syncServiceAccount(ctx context.Context, pod *api.Pod) error {
	if w.rt.cfg.Tokens == nil || !w.automountToken(ctx, pod) {
		w.saDir = ""
		return nil
	}
	now := time.Now()
	if w.saDir != "" && now.Before(w.saRenew) {
		return nil
	}
	poddir, err := w.rt.podDir(w.key.uid)
	if err != nil {
		return err
	}
	dir := filepath.Join(poddir, "serviceaccount")
	if err := ensureTmpfs(dir); err != nil {
		return fmt.Errorf("service account token: kept in memory only: %w", err)
	}
	tok, exp, err := w.rt.cfg.Tokens.Token(pod, now)
	if err != nil {
		return fmt.Errorf("service account token: %w", err)
	}
	files := map[string][]byte{"token": []byte(tok), "ca.crt": w.rt.cfg.Tokens.CA(), "namespace": []byte(pod.Namespace)}
	if err := project(dir, files, nil, nil, podOwner(pod)); err != nil {
		return fmt.Errorf("service account token: %w", err)
	}
	w.saDir, w.saRenew = dir, now.Add(exp.Sub(now)*4/5)
	return nil
}

// automountToken is the pod's automountServiceAccountToken, else its
// service account's, else true.
func (w *podWorker) automountToken(ctx context.Context, pod *api.Pod) bool {
	if a := pod.Spec.AutomountServiceAccountToken; a != nil {
		return *a
	}
	name := pod.Spec.ServiceAccountName
	if name == "" {
		name = api.DefaultServiceAccount
	}
	if obj, err := w.rt.store.Get(ctx, api.KindServiceAccount, pod.Namespace, name); err == nil {
		if a := obj.(*api.ServiceAccount).AutomountServiceAccountToken; a != nil {
			return *a
		}
	}
	return true
}

// chown gives a projected file to the pod's user; a variable so that tests
// can make it fail.
var chown = os.Chown

// project writes the selected keys as files, replacing each changed file
// atomically, and removes files no longer projected.
func project(dir string, data map[string][]byte, items []api.KeyToPath, defaultMode *int32, owner fileOwner) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	want := map[string]struct {
		data []byte
		mode os.FileMode
	}{}
	if len(items) == 0 {
		for k, b := range data {
			want[k] = struct {
				data []byte
				mode os.FileMode
			}{b, mode}
		}
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("key %q not found", it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		want[filepath.Clean(it.Path)] = struct {
			data []byte
			mode os.FileMode
		}{b, m}
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := want[p]
		full := filepath.Join(dir, p)
		if rel, err := filepath.Rel(dir, full); err != nil || rel == ".." || len(rel) > 2 && rel[:3] == "../" {
			return fmt.Errorf("path %q escapes the volume", p)
		}
		if old, err := os.ReadFile(full); err == nil && bytes.Equal(old, f.data) {
			if st, err := os.Stat(full); err == nil && st.Mode().Perm() == f.mode {
				continue
			}
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		tmp := full + ".tmp"
		if err := os.WriteFile(tmp, f.data, f.mode); err != nil {
			return err
		}
		// WriteFile's mode passes through the umask; the file must have
		// exactly the mode asked for, and belong to the pod's user, or a
		// non-root container cannot read its secret (mode 0400).
		if err := os.Chmod(tmp, f.mode); err != nil {
			return fmt.Errorf("file %s: %w", p, err)
		}
		if owner.uid >= 0 || owner.gid >= 0 {
			if err := chown(tmp, owner.uid, owner.gid); err != nil {
				return fmt.Errorf("file %s: give it to the pod's user (uid %d, gid %d): %w", p, owner.uid, owner.gid, err)
			}
		}
		if err := os.Rename(tmp, full); err != nil {
			return err
		}
	}
	// Remove keys that disappeared.
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("remove files no longer projected: %w", err)
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if _, ok := want[rel]; !ok {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove file %s no longer projected: %w", rel, err)
			}
		}
		return nil
	})
}

// mounts maps a container's volumeMounts to engine mounts. A subPath is
// resolved inside its volume without following links out of it, and the
// engine gets a bind mount of what was found, which cannot be swapped.
func (w *podWorker) mounts(pod *api.Pod, c *api.Container) ([]engine.Mount, error) {
	vols := map[string]*api.Volume{}
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	var out []engine.Mount
	for i, vm := range c.VolumeMounts {
		v := vols[vm.Name]
		if v == nil {
			return nil, fmt.Errorf("volumeMount %q: no such volume", vm.Name)
		}
		m := engine.Mount{Type: "bind", Target: vm.MountPath, ReadOnly: vm.ReadOnly}
		var err error
		switch {
		case v.EmptyDir != nil:
			m.Source, err = w.volumeDir(v.Name)
		case v.HostPath != nil:
			m.Source = v.HostPath.Path
		case v.ConfigMap != nil, v.Secret != nil:
			m.Source, err = w.volumeDir(v.Name)
			m.ReadOnly = true
		case v.PersistentVolumeClaim != nil:
			if vm.SubPath != "" {
				return nil, fmt.Errorf("volumeMount %q: subPath is not supported for persistentVolumeClaim volumes", vm.Name)
			}
			m.Type = "volume"
			m.Source = pvcVolumeName(pod.Namespace, v.PersistentVolumeClaim.ClaimName)
			if path, ok := w.declared[v.Name]; ok {
				m.Type, m.Source = "bind", path
			}
			m.ReadOnly = vm.ReadOnly || v.PersistentVolumeClaim.ReadOnly
		}
		if err != nil {
			return nil, fmt.Errorf("volumeMount %q: %w", vm.Name, err)
		}
		if vm.SubPath != "" {
			staged, err := w.subPathDir(v.Name, c.Name, i)
			if err != nil {
				return nil, fmt.Errorf("volumeMount %q: %w", vm.Name, err)
			}
			// Missing directories are made in writable volumes, as the
			// kubelet does; projected volumes are the agent's own.
			create := v.EmptyDir != nil || v.HostPath != nil
			if err := stageSubPath(m.Source, vm.SubPath, create, staged); err != nil {
				return nil, &configError{fmt.Sprintf("failed to prepare subPath for volumeMount %q of container %q: %v", vm.Name, c.Name, err)}
			}
			m.Source = staged
		}
		out = append(out, m)
	}
	// The service-account files, unless the container mounts something
	// of its own there.
	if w.saDir != "" && !slices.ContainsFunc(c.VolumeMounts, func(vm api.VolumeMount) bool {
		return path.Clean(vm.MountPath) == ServiceAccountDir
	}) {
		out = append(out, engine.Mount{Type: "bind", Source: w.saDir, Target: ServiceAccountDir, ReadOnly: true})
	}
	return out, nil
}

// removeVolumes removes the pod's files: every mount under its directory
// (tmpfs volumes, staged subPaths) is detached first, and nothing is
// removed while a mount is left, so that removal never reaches through a
// mount into a volume's source.
func (w *podWorker) removeVolumes() error {
	if w.key.uid == "" {
		return nil
	}
	dir, err := w.rt.podDir(w.key.uid)
	if err != nil {
		return err
	}
	if err := unmountAll(dir); err != nil {
		return fmt.Errorf("pod directory %s kept: %w", dir, err)
	}
	return os.RemoveAll(dir)
}

// fileOwner is who projected files belong to; -1 leaves a field as it is.
type fileOwner struct{ uid, gid int }

// podOwner gives projected files to the user the pod's containers run as
// (and to its fsGroup), so that the default mode 0400 of secret files still
// lets a non-root pod read them.
func podOwner(pod *api.Pod) fileOwner {
	o := fileOwner{uid: -1, gid: -1}
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.FSGroup != nil {
			o.gid = int(*sc.FSGroup)
		}
		if sc.RunAsUser != nil {
			o.uid = int(*sc.RunAsUser)
		}
	}
	// A user set on every container alike counts too.
	var common *int64
	for i := range pod.Spec.Containers {
		u, _ := runAs(pod, &pod.Spec.Containers[i])
		if u == nil || common != nil && *common != *u {
			common = nil
			break
		}
		common = u
	}
	if common != nil {
		o.uid = int(*common)
	}
	return o
}
