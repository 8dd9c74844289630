package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// configError is a container the agent refuses to start as specified (the
// kubelet's CreateContainerConfigError): the message says why.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// effectiveContext merges the pod's security context into the container's:
// a field set on the container wins.
type effectiveContext struct {
	user, group    *int64
	runAsNonRoot   bool
	privileged     bool
	allowEscalate  bool
	readOnlyRootfs bool
	capAdd         []string
	capDrop        []string
	seccomp        *api.SeccompProfile
	unmaskedProc   bool
}

func effective(pod *api.Pod, c *api.Container) effectiveContext {
	var e effectiveContext
	if psc := pod.Spec.SecurityContext; psc != nil {
		e.user, e.group, e.seccomp = psc.RunAsUser, psc.RunAsGroup, psc.SeccompProfile
		e.runAsNonRoot = psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	}
	sc := c.SecurityContext
	if sc == nil {
		return e
	}
	if sc.RunAsUser != nil {
		e.user = sc.RunAsUser
	}
	if sc.RunAsGroup != nil {
		e.group = sc.RunAsGroup
	}
	if sc.RunAsNonRoot != nil {
		e.runAsNonRoot = *sc.RunAsNonRoot
	}
	if sc.SeccompProfile != nil {
		e.seccomp = sc.SeccompProfile
	}
	e.privileged = sc.Privileged != nil && *sc.Privileged
	e.allowEscalate = sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation
	e.readOnlyRootfs = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	if caps := sc.Capabilities; caps != nil {
		e.capAdd, e.capDrop = caps.Add, caps.Drop
	}
	e.unmaskedProc = sc.ProcMount != nil && *sc.ProcMount == api.ProcMountUnmasked
	return e
}

// applySecurity sets the container's user, groups, capabilities and
// security options. Containers get the engine's default capability set and
// no-new-privileges unless the spec says otherwise; imageUser is the image's
// USER, asked for only when needed (runAsNonRoot, or a group without a user).
func (w *podWorker) applySecurity(ctx context.Context, pod *api.Pod, c *api.Container, spec *engine.ContainerSpec) error {
	e := effective(pod, c)
	imageUser := ""
	if e.runAsNonRoot && e.user == nil || e.group != nil && e.user == nil {
		info, err := w.imageInfo(ctx, c.Image)
		if err != nil {
			return err
		}
		imageUser = info.User
	}
	if e.runAsNonRoot {
		if err := verifyNonRoot(pod, c, e.user, imageUser); err != nil {
			return err
		}
	}
	switch {
	case e.user != nil && e.group != nil:
		spec.User = fmt.Sprintf("%d:%d", *e.user, *e.group)
	case e.user != nil:
		spec.User = strconv.FormatInt(*e.user, 10)
	case e.group != nil:
		// A group alone keeps the image's user, as the kubelet does.
		u, _, _ := strings.Cut(imageUser, ":")
		if u == "" {
			u = "0"
		}
		spec.User = fmt.Sprintf("%s:%d", u, *e.group)
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.FSGroup != nil {
			spec.GroupAdd = append(spec.GroupAdd, strconv.FormatInt(*psc.FSGroup, 10))
		}
		for _, g := range psc.SupplementalGroups {
			spec.GroupAdd = append(spec.GroupAdd, strconv.FormatInt(g, 10))
		}
	}
	spec.Privileged = e.privileged
	spec.ReadOnlyRootfs = e.readOnlyRootfs
	spec.CapAdd = capNames(e.capAdd)
	spec.CapDrop = capNames(e.capDrop)
	if !e.privileged && !e.allowEscalate {
		spec.SecurityOpt = append(spec.SecurityOpt, "no-new-privileges")
	}
	if e.unmaskedProc {
		spec.SecurityOpt = append(spec.SecurityOpt, "systempaths=unconfined")
	}
	if sp := e.seccomp; sp != nil && !e.privileged {
		switch sp.Type {
		case api.SeccompUnconfined:
			spec.SecurityOpt = append(spec.SecurityOpt, "seccomp=unconfined")
		case api.SeccompLocalhost:
			profile, err := w.rt.readSeccompProfile(sp)
			if err != nil {
				return err
			}
			spec.SecurityOpt = append(spec.SecurityOpt, "seccomp="+profile)
		}
		// RuntimeDefault is the engine's default profile: nothing to say.
	}
	return nil
}

// capNames gives the engine capability names without the CAP_ prefix.
func capNames(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, c := range in {
		out[i] = api.CapabilityName(c)
	}
	return out
}

// verifyNonRoot is the kubelet's check of runAsNonRoot, with its messages:
// the user is runAsUser, else the image's USER; root, or a name that cannot
// be verified without the image's /etc/passwd, is refused.
func verifyNonRoot(pod *api.Pod, c *api.Container, user *int64, imageUser string) error {
	if user != nil {
		if *user == 0 {
			return &configError{fmt.Sprintf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", pod.Name, c.Name)}
		}
		return nil
	}
	u, _, _ := strings.Cut(imageUser, ":")
	if u == "" {
		return &configError{fmt.Sprintf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Name, c.Name)}
	}
	uid, err := strconv.ParseInt(u, 10, 64)
	if err != nil {
		return &configError{fmt.Sprintf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)",
			u, pod.Name, c.Name)}
	}
	if uid == 0 {
		return &configError{fmt.Sprintf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Name, c.Name)}
	}
	return nil
}

// maxSeccompProfile bounds a Localhost profile read into a create request.
const maxSeccompProfile = 1 << 20

// readSeccompProfile reads a Localhost profile from <data-dir>/seccomp,
// never following a link out of that directory.
func (r *Runtime) readSeccompProfile(sp *api.SeccompProfile) (string, error) {
	if sp.LocalhostProfile == nil {
		return "", &configError{"seccompProfile type Localhost needs localhostProfile"}
	}
	dir := filepath.Join(r.cfg.DataDir, "seccomp")
	f, err := openBeneath(dir, *sp.LocalhostProfile)
	if err != nil {
		return "", &configError{fmt.Sprintf("seccomp profile %q (under %s): %v", *sp.LocalhostProfile, dir, err)}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxSeccompProfile {
		return "", &configError{fmt.Sprintf("seccomp profile %q (under %s) must be a regular file of at most %d bytes", *sp.LocalhostProfile, dir, maxSeccompProfile)}
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return "", &configError{fmt.Sprintf("seccomp profile %q: %v", *sp.LocalhostProfile, err)}
	}
	return string(b), nil
}
