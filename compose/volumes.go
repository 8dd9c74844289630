package compose

import (
	"fmt"
	"strings"

	units "github.com/docker/go-units"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
)

// claims makes a PersistentVolumeClaim of each named volume of the project
// that is not external: the claim is bound to the host of the first pod
// that mounts it, and the pods that mount it later run on that host, so a
// service finds its data again wherever it was rescheduled from. External
// volumes get no claim: each host's engine volume of that name is used,
// whichever host the pod runs on. Nor do volumes a global service mounts:
// its pods run on every host, each with that host's volume.
func (c *converter) claims() {
	global := map[string][]string{} // volume -> the global services mounting it
	type mount struct{ service, volume string }
	var others []mount
	for _, n := range sortedKeys(c.p.Services) {
		s := c.p.Services[n]
		for _, m := range s.Volumes {
			if m.Type != types.VolumeTypeVolume || m.Source == "" {
				continue
			}
			if s.Deploy != nil && s.Deploy.Mode == "global" {
				global[m.Source] = append(global[m.Source], n)
			} else {
				others = append(others, mount{n, m.Source})
			}
		}
	}
	for _, o := range others {
		if g := global[o.volume]; len(g) > 0 {
			c.warn(o.service, "volumes", "volume %q is also mounted by the global service %s: it stays a volume on each host, and %s's pods are not kept on the host of their data",
				o.volume, strings.Join(g, ", "), o.service)
		}
	}
	for _, name := range sortedKeys(c.p.Volumes) {
		v := c.p.Volumes[name]
		if bool(v.External) || len(global[name]) > 0 {
			continue
		}
		claim := objectName(volumeName(name, v))
		if len(api.IsDNS1123Subdomain(claim)) > 0 {
			continue // the services mounting it are refused, naming it
		}
		c.objects = append(c.objects, &api.PersistentVolumeClaim{ObjectMeta: c.meta(claim, ""),
			Spec: api.PersistentVolumeClaimSpec{AccessModes: []string{api.ReadWriteOnce}}})
	}
}

// volumes maps compose mounts onto pod volumes: named volumes onto claims
// (the engine volume shoal-pvc-<project>-<name> on the pod's host; a
// volume declared at the top level has a PersistentVolumeClaim object
// that keeps its pods on one host, see claims), bind
// mounts onto hostPath, tmpfs and shm_size onto memory-backed emptyDirs,
// anonymous volumes onto emptyDirs.
func (c *converter) volumes(s *types.ServiceConfig, spec *api.PodSpec, ctr *api.Container) {
	add := func(v api.Volume, m api.VolumeMount) {
		v.Name = fmt.Sprintf("v%d", len(spec.Volumes))
		m.Name = v.Name
		spec.Volumes = append(spec.Volumes, v)
		ctr.VolumeMounts = append(ctr.VolumeMounts, m)
	}
	for i, v := range s.Volumes {
		key := fmt.Sprintf("volumes[%d]", i)
		if v.Target == "" {
			c.refuse(s.Name, key, "a mount needs a target path")
			continue
		}
		m := api.VolumeMount{MountPath: mountPath(v.Target), ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Volume != nil && v.Volume.Subpath != "" {
				m.SubPath = v.Volume.Subpath
			}
			if v.Source == "" {
				add(api.Volume{EmptyDir: &api.EmptyDirVolumeSource{}}, m)
				continue
			}
			claim := v.Source
			if top, ok := c.p.Volumes[v.Source]; ok {
				claim = volumeName(v.Source, top)
			}
			claim = objectName(claim)
			if errs := api.IsDNS1123Subdomain(claim); len(errs) > 0 {
				c.refuse(s.Name, key, "volume %q cannot name a claim: %s", v.Source, strings.Join(errs, "; "))
				continue
			}
			add(api.Volume{PersistentVolumeClaim: &api.PersistentVolumeClaimSource{ClaimName: claim, ReadOnly: v.ReadOnly}}, m)
		case types.VolumeTypeBind:
			// No type: a file or a directory, as the engine finds it.
			add(api.Volume{HostPath: &api.HostPathVolumeSource{Path: v.Source}}, m)
			c.needsPrivileged(s.Name, "bind mount "+v.Source)
		case types.VolumeTypeTmpfs:
			ed := &api.EmptyDirVolumeSource{Medium: "Memory"}
			if v.Tmpfs != nil && v.Tmpfs.Size > 0 {
				q := api.NewBytesQuantity(int64(v.Tmpfs.Size))
				ed.SizeLimit = &q
			}
			add(api.Volume{EmptyDir: ed}, m)
		default:
			c.refuse(s.Name, key+".type", "%q volumes are not supported", v.Type)
		}
	}
	for _, t := range s.Tmpfs {
		p, opts, _ := strings.Cut(t, ":")
		ed := &api.EmptyDirVolumeSource{Medium: "Memory"}
		for _, o := range strings.Split(opts, ",") {
			switch k, val, _ := strings.Cut(o, "="); k {
			case "", "rw":
			case "size":
				if n, err := units.RAMInBytes(val); err == nil {
					q := api.NewBytesQuantity(n)
					ed.SizeLimit = &q
				} else {
					c.warn(s.Name, "tmpfs", "%s: size %q not understood", p, val)
				}
			default:
				c.warn(s.Name, "tmpfs", "%s: option %q not honoured", p, o)
			}
		}
		add(api.Volume{EmptyDir: ed}, api.VolumeMount{MountPath: mountPath(p)})
	}
	if s.ShmSize > 0 {
		q := api.NewBytesQuantity(int64(s.ShmSize))
		add(api.Volume{EmptyDir: &api.EmptyDirVolumeSource{Medium: "Memory", SizeLimit: &q}}, api.VolumeMount{MountPath: "/dev/shm"})
	}
}
