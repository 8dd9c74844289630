package compose

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
)

// fileObjects makes a ConfigMap per top-level config and a Secret per
// top-level secret that a service uses, from `file`, `content` or
// `environment`; external ones must already exist under their name.
func (c *converter) fileObjects() {
	used := map[string]bool{}
	for _, s := range c.p.Services {
		for _, r := range s.Configs {
			used["c/"+r.Source] = true
		}
		for _, r := range s.Secrets {
			used["s/"+r.Source] = true
		}
	}
	names := func(m map[string]types.FileObjectConfig) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	configs := map[string]types.FileObjectConfig{}
	for k, v := range c.p.Configs {
		configs[k] = types.FileObjectConfig(v)
	}
	secrets := map[string]types.FileObjectConfig{}
	for k, v := range c.p.Secrets {
		secrets[k] = types.FileObjectConfig(v)
	}
	for _, name := range names(configs) {
		if !used["c/"+name] {
			continue
		}
		data, ok := c.fileContent("configs", name, configs[name])
		if !ok {
			continue
		}
		cm := &api.ConfigMap{ObjectMeta: c.meta(fileObjectName(name), "")}
		if utf8.Valid(data) {
			cm.Data = map[string]string{fileKey(name): string(data)}
		} else {
			cm.BinaryData = map[string][]byte{fileKey(name): data}
		}
		c.objects = append(c.objects, cm)
	}
	for _, name := range names(secrets) {
		if !used["s/"+name] {
			continue
		}
		data, ok := c.fileContent("secrets", name, secrets[name])
		if !ok {
			continue
		}
		c.objects = append(c.objects, &api.Secret{ObjectMeta: c.meta(fileObjectName(name), ""), Type: "Opaque",
			Data: map[string][]byte{fileKey(name): data}})
	}
}

// fileContent reads a config's or secret's content; false for an external
// one (not made by the project) or an error (reported).
func (c *converter) fileContent(kind, name string, f types.FileObjectConfig) ([]byte, bool) {
	key := kind + "." + name
	switch {
	case bool(f.External):
		return nil, false
	case f.Driver != "" || f.TemplateDriver != "":
		c.refuse("", key, "drivers are not supported: give `file`, `content` or `environment`")
	case f.Content != "":
		return []byte(f.Content), true
	case f.Environment != "":
		v, ok := c.p.Environment[f.Environment]
		if !ok {
			c.refuse("", key+".environment", "the variable %s is not set", f.Environment)
			return nil, false
		}
		return []byte(v), true
	case f.File != "":
		b, err := os.ReadFile(f.File)
		if err != nil {
			c.refuse("", key+".file", "%v", err)
			return nil, false
		}
		return b, true
	default:
		c.refuse("", key, "needs `file`, `content`, `environment` or `external`")
	}
	return nil, false
}

// fileObjectName is the object of a config or secret: its compose name,
// or, for an external one, its `name:`.
func fileObjectName(name string) string { return objectName(name) }

// fileKey is the one key of a config's or secret's object.
func fileKey(name string) string {
	k := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
	return k
}

// mountFiles mounts a service's configs and secrets, each one file
// (`subPath`) at compose's path.
func (c *converter) mountFiles(s *types.ServiceConfig, spec *api.PodSpec, ctr *api.Container) {
	mount := func(kind string, i int, r types.FileReferenceConfig, external bool, extName string) {
		key := fmt.Sprintf("%s[%d]", kind, i)
		obj, k := fileObjectName(r.Source), fileKey(r.Source)
		if external {
			if extName != "" {
				obj = objectName(extName)
			}
			if errs := api.IsDNS1123Subdomain(obj); len(errs) > 0 {
				c.refuse(s.Name, key, "external %s %q cannot name an object: %s", strings.TrimSuffix(kind, "s"), obj, strings.Join(errs, "; "))
				return
			}
			c.warn(s.Name, key, "external %s: the %s %q must exist in namespace %s with the key %q", strings.TrimSuffix(kind, "s"), map[string]string{"configs": "ConfigMap", "secrets": "Secret"}[kind], obj, c.ns, k)
		}
		target := r.Target
		var mode *int32
		if r.Mode != nil {
			mode = api.Int32(int32(*r.Mode & 0o777))
		}
		v := api.Volume{Name: fmt.Sprintf("%s%d", kind[:len(kind)-1], i)}
		items := []api.KeyToPath{{Key: k, Path: k, Mode: mode}}
		if kind == "secrets" {
			if target == "" {
				target = r.Source
			}
			if !path.IsAbs(target) {
				target = path.Join("/run/secrets", target)
			}
			if mode == nil {
				mode = api.Int32(0o444) // compose's default mode for secret files
				items[0].Mode = mode
			}
			v.Secret = &api.SecretVolumeSource{SecretName: obj, Items: items}
		} else {
			if target == "" {
				target = "/" + r.Source
			}
			v.ConfigMap = &api.ConfigMapVolumeSource{Name: obj, Items: items}
		}
		spec.Volumes = append(spec.Volumes, v)
		ctr.VolumeMounts = append(ctr.VolumeMounts, api.VolumeMount{Name: v.Name, MountPath: mountPath(target), SubPath: k, ReadOnly: true})
	}
	for i, r := range s.Configs {
		top, ok := c.p.Configs[r.Source]
		if !ok {
			c.refuse(s.Name, fmt.Sprintf("configs[%d]", i), "config %q is not defined at the top level", r.Source)
			continue
		}
		mount("configs", i, types.FileReferenceConfig(r), bool(top.External), top.Name)
	}
	for i, r := range s.Secrets {
		top, ok := c.p.Secrets[r.Source]
		if !ok {
			c.refuse(s.Name, fmt.Sprintf("secrets[%d]", i), "secret %q is not defined at the top level", r.Source)
			continue
		}
		mount("secrets", i, types.FileReferenceConfig(r), bool(top.External), top.Name)
	}
}
