package compose

import (
	"reflect"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Decision says what the converter does with a compose key.
type Decision int

// The decisions a compose key can have.
const (
	// Mapped keys are turned into fields of the objects by the converter,
	// which reports the values it cannot honour itself.
	Mapped Decision = iota
	// Resolved keys are done with by the loader (extends, env_file,
	// profiles): nothing of them is left for the objects.
	Resolved
	// Command keys steer the compose command itself (build, attach), not
	// the objects.
	Command
	// Warned keys cannot be honoured; a service that sets one runs without
	// it, and the user is told so (an error under --strict).
	Warned
	// Refused keys cannot be honoured and running without them would be
	// wrong; a project that sets one is refused.
	Refused
)

func (d Decision) String() string {
	return [...]string{"mapped", "resolved by the loader", "used by the command", "warning", "refused"}[d]
}

// KeyRule is the decision for one compose service key and why.
type KeyRule struct {
	Decision Decision
	// How says how the key maps, or why it cannot.
	How string
	// Whole: the decision covers every key below this one.
	Whole bool
}

func mapped(how string) KeyRule   { return KeyRule{Decision: Mapped, How: how} }
func resolved(how string) KeyRule { return KeyRule{Decision: Resolved, How: how, Whole: true} }
func warned(why string) KeyRule   { return KeyRule{Decision: Warned, How: why} }
func refused(why string) KeyRule  { return KeyRule{Decision: Refused, How: why, Whole: true} }
func whole(r KeyRule) KeyRule     { r.Whole = true; return r }
func command(how string) KeyRule  { return KeyRule{Decision: Command, How: how} }

// ServiceKeys holds a decision for every key of a compose service (dotted
// paths, as compose-go's types.ServiceConfig has them). A test walks
// ServiceConfig by reflection and fails on any key without one.
var ServiceKeys = map[string]KeyRule{
	"name":       mapped("names the workload, its pods' labels and the Service that resolves it (`_` becomes `-`: object names are DNS labels)"),
	"profiles":   resolved("services of inactive profiles are left out by the loader (`--profile`, `COMPOSE_PROFILES`)"),
	"extends":    resolved("merged by the loader"),
	"env_file":   resolved("read by the loader into `environment`"),
	"label_file": resolved("read by the loader into `labels`"),
	"develop":    whole(warned("`develop` (compose watch) is a tool of one developer's host; not run on a cluster")),
	"provider":   refused("`provider` services delegate to a plugin of the docker CLI; shoal has none"),
	"pre_start":  refused("lifecycle hooks have no field in shoal's pod spec yet"),
	"post_start": refused("lifecycle hooks have no field in shoal's pod spec yet"),
	"pre_stop":   refused("lifecycle hooks have no field in shoal's pod spec yet"),

	"deploy":                                          mapped("see its keys"),
	"deploy.mode":                                     mapped("`replicated` (default): Deployment; `global`: DaemonSet; `replicated-job`: Job with `completions` = `parallelism` = replicas; `global-job`: refused (no run-once-per-node kind)"),
	"deploy.replicas":                                 mapped("`spec.replicas` (Job: completions and parallelism)"),
	"deploy.labels":                                   mapped("the annotation `compose.shoal.io/deploy-labels` of the workload, as JSON (compose labels may hold any text; Kubernetes labels and annotation keys may not)"),
	"deploy.update_config":                            mapped("see its keys; a Job has no update and warns"),
	"deploy.update_config.parallelism":                mapped("`order: stop-first`: `maxUnavailable` = parallelism, `maxSurge` 0; `start-first`: `maxSurge` = parallelism, `maxUnavailable` 0; 0 means all at once (100%)"),
	"deploy.update_config.delay":                      mapped("`minReadySeconds`: a new pod must stay ready that long before the next batch starts"),
	"deploy.update_config.failure_action":             mapped("`pause` (default) is what a stuck rollout does (`Progressing=False`); `rollback` and `continue` warn: no automatic rollback yet"),
	"deploy.update_config.monitor":                    warned("no failure monitoring window after each batch"),
	"deploy.update_config.max_failure_ratio":          warned("no failure ratio during a rollout"),
	"deploy.update_config.order":                      mapped("see `parallelism`; `start-first` is a surge, `stop-first` an unavailability"),
	"deploy.rollback_config":                          whole(mapped("kept in the annotation `compose.shoal.io/rollback-config` for `shoal compose rollback`")),
	"deploy.resources":                                mapped("see its keys"),
	"deploy.resources.limits":                         mapped("`resources.limits`"),
	"deploy.resources.limits.cpus":                    mapped("`limits.cpu`"),
	"deploy.resources.limits.memory":                  mapped("`limits.memory`"),
	"deploy.resources.limits.pids":                    warned("no pids limit in shoal's container spec"),
	"deploy.resources.limits.devices":                 refused("device requests (GPUs) are not passed to the engine"),
	"deploy.resources.limits.generic_resources":       whole(warned("no generic resources in shoal's scheduler")),
	"deploy.resources.reservations":                   mapped("`resources.requests`, used by the scheduler"),
	"deploy.resources.reservations.cpus":              mapped("`requests.cpu`"),
	"deploy.resources.reservations.memory":            mapped("`requests.memory`"),
	"deploy.resources.reservations.pids":              warned("no pids reservation in shoal's scheduler"),
	"deploy.resources.reservations.devices":           refused("device requests (GPUs) are not passed to the engine"),
	"deploy.resources.reservations.generic_resources": whole(warned("no generic resources in shoal's scheduler")),
	"deploy.restart_policy":                           mapped("see its keys; it overrides `restart`, as in docker compose"),
	"deploy.restart_policy.condition":                 mapped("`any`: restartPolicy Always (Deployment, DaemonSet); `on-failure`: a Job with OnFailure; `none`: a Job with Never"),
	"deploy.restart_policy.delay":                     warned("shoal's restart back-off is fixed (10 s doubling to 5 minutes)"),
	"deploy.restart_policy.max_attempts":              mapped("a Job's `backoffLimit`; warns for a service that always restarts"),
	"deploy.restart_policy.window":                    warned("shoal's back-off resets after 10 minutes of running"),
	"deploy.placement":                                mapped("see its keys"),
	"deploy.placement.constraints":                    mapped("`==` on `node.hostname`, `node.labels.K`, `node.platform.os`, `node.platform.arch`: `nodeSelector`; `!=` on those: required node affinity `NotIn` (a node without the label holds, as under Swarm); `node.role` holds on every shoal node (each is both manager and worker): `== manager`/`== worker` are dropped with a warning, `!=` refused; `node.id`, `engine.labels.*` refused"),
	"deploy.placement.preferences":                    whole(mapped("each `spread: node.labels.K` (or `node.hostname`) is a topology spread constraint over that label, `maxSkew: 1`, `whenUnsatisfiable: ScheduleAnyway`, counting the service's pods: the scheduler prefers the value with fewest of them (Swarm treats nodes without the label as one more value; shoal's spread fills them last); `engine.labels.*` refused")),
	"deploy.placement.max_replicas_per_node":          mapped("a hard cap, as under Swarm: a topology spread constraint on `kubernetes.io/hostname`, `maxSkew: N`, `whenUnsatisfiable: DoNotSchedule` and `minDomains` above any cluster's size, so the least count is taken as 0 and no node takes more than N of the service's pods (old and new during an update); replicas beyond the cap wait Pending, saying why"),
	"deploy.endpoint_mode":                            mapped("`dnsrr` (and the default): a headless Service, the name resolves to the ready pods' addresses, every port reachable as under compose; `vip`: a ClusterIP Service over the `expose`d and published ports"),

	"restart":        mapped("`always`, `unless-stopped` (and unset): restartPolicy Always; `on-failure[:N]`: a Job with OnFailure and `backoffLimit` N; `no`: a one-shot Job with Never"),
	"scale":          mapped("`spec.replicas`, before `deploy.replicas` as in docker compose"),
	"attach":         KeyRule{Decision: Command, How: "`up` shows no service's logs (use `shoal compose logs -f`)", Whole: true},
	"container_name": mapped("one more name the pods resolve by (a headless Service); refused with more than one replica, as docker compose does"),
	"external_links": warned("containers outside the project are not reachable by a link name"),
	"links":          mapped("`SERVICE:ALIAS` makes ALIAS resolve to SERVICE (a headless Service); plain links need nothing: every service resolves"),
	"net":            refused("`net` (compose v1) is not supported; use `network_mode`"),

	"annotations":                     mapped("pod annotations"),
	"blkio_config":                    whole(warned("no block-IO weights or limits in shoal's container spec")),
	"cap_add":                         mapped("`securityContext.capabilities.add` (needs Pod Security `privileged` beyond baseline's set)"),
	"cap_drop":                        mapped("`securityContext.capabilities.drop`"),
	"cgroup_parent":                   warned("the engine's default cgroup parent is used"),
	"cgroup":                          warned("the engine's default cgroup namespace mode is used"),
	"cpu_count":                       warned("Windows only"),
	"cpu_percent":                     warned("Windows only"),
	"cpu_period":                      warned("CPU limits are set from `cpus` with the default period"),
	"cpu_quota":                       warned("use `cpus` (or `deploy.resources.limits.cpus`)"),
	"cpu_rt_period":                   warned("no real-time scheduling in shoal's container spec"),
	"cpu_rt_runtime":                  warned("no real-time scheduling in shoal's container spec"),
	"cpus":                            mapped("`limits.cpu`, unless `deploy.resources.limits.cpus` is set"),
	"cpuset":                          warned("no CPU pinning in shoal's container spec"),
	"cpu_shares":                      warned("CPU weights come from `requests.cpu`; use `deploy.resources.reservations.cpus`"),
	"command":                         mapped("container `args` (the image's entrypoint stays unless `entrypoint` is set)"),
	"configs":                         mapped("a ConfigMap per top-level config, its key mounted (`subPath`) at `target` (default `/<name>`)"),
	"configs.source":                  mapped("the ConfigMap"),
	"configs.target":                  mapped("the mount path"),
	"configs.uid":                     warned("files of ConfigMaps belong to the pod's user (`fsGroup`), not to a given uid"),
	"configs.gid":                     warned("files of ConfigMaps belong to the pod's user (`fsGroup`), not to a given gid"),
	"configs.mode":                    mapped("the item's `mode`"),
	"credential_spec":                 refused("Windows only"),
	"device_cgroup_rules":             refused("device access is not passed to the engine"),
	"devices":                         refused("devices are not passed to the engine"),
	"dns":                             warned("pods use the cluster DNS, which forwards other names to the agent's upstream resolvers"),
	"dns_opt":                         warned("pods get the cluster's resolver options"),
	"dns_search":                      warned("pods get the cluster's search path"),
	"domainname":                      warned("no domain name in shoal's pod spec"),
	"entrypoint":                      mapped("container `command`"),
	"environment":                     mapped("container `env`; a variable without a value that the loader could not resolve is left unset, as by docker compose; `$(` is escaped as `$$(` so that it stays literal"),
	"extra_hosts":                     warned("no host aliases in shoal's pod spec yet"),
	"group_add":                       mapped("numeric groups: `securityContext.supplementalGroups`; group names warn"),
	"gpus":                            refused("device requests (GPUs) are not passed to the engine"),
	"hostname":                        mapped("pod `hostname` (a DNS label, else a warning)"),
	"image":                           mapped("container `image`; without one, `<project>-<service>` (the name `build` gives it)"),
	"init":                            warned("no init process option in shoal's container spec yet"),
	"ipc":                             mapped("`host`: `hostIPC`; `shareable`, `private`: the pod's own IPC namespace; `service:`/`container:` refused"),
	"isolation":                       warned("Windows only"),
	"labels":                          mapped("the annotation `compose.shoal.io/labels` of the pods, as JSON (not yet set on the engine's containers)"),
	"logging":                         whole(warned("containers log with the engine's default driver")),
	"log_driver":                      warned("containers log with the engine's default driver"),
	"log_opt":                         warned("containers log with the engine's default driver"),
	"mem_limit":                       mapped("`limits.memory`, unless `deploy.resources.limits.memory` is set"),
	"mem_reservation":                 mapped("`requests.memory`, unless `deploy.resources.reservations.memory` is set"),
	"memswap_limit":                   warned("no swap limit in shoal's container spec"),
	"mem_swappiness":                  warned("no swappiness in shoal's container spec"),
	"mac_address":                     warned("pods get their addresses from the node's pod subnet"),
	"models":                          refused("models need Docker Model Runner"),
	"network_mode":                    mapped("`host`: `hostNetwork`; `bridge` and unset: the pod network; `none`, `service:`, `container:` refused"),
	"networks":                        mapped("every pod of a project is on the one pod network: services on different compose networks can reach each other (a warning when the project has several)"),
	"networks.aliases":                mapped("each alias resolves to the service (a headless Service)"),
	"networks.driver_opts":            warned("there is one pod network; its options are the cluster's"),
	"networks.gw_priority":            warned("a pod has one network"),
	"networks.interface_name":         warned("a pod has one network interface"),
	"networks.ipv4_address":           warned("pods get their addresses from the node's pod subnet"),
	"networks.ipv6_address":           warned("pods get their addresses from the node's pod subnet"),
	"networks.link_local_ips":         warned("pods get their addresses from the node's pod subnet"),
	"networks.mac_address":            warned("pods get their addresses from the node's pod subnet"),
	"networks.priority":               warned("a pod has one network"),
	"networks.use_service_name_alias": mapped("`false`: the service's own name does not resolve"),
	"oom_kill_disable":                warned("no OOM-killer option in shoal's container spec"),
	"oom_score_adj":                   warned("no OOM score in shoal's container spec"),
	"pid":                             mapped("`host`: `hostPID`; `service:`/`container:` refused"),
	"pids_limit":                      warned("no pids limit in shoal's container spec"),
	"platform":                        mapped("`linux/ARCH`: `nodeSelector` on `kubernetes.io/os` and `kubernetes.io/arch`; another OS refused"),
	"privileged":                      mapped("`securityContext.privileged` (needs Pod Security `privileged`)"),
	"pull_policy":                     mapped("`always`: Always; `never`: Never; `missing`, `if_not_present`: IfNotPresent; `build`: IfNotPresent (`up` builds it every time, as docker compose does); `refresh`/`daily`/`every_*` warn and use IfNotPresent"),
	"pull_refresh_after":              warned("no periodic re-pull"),
	"read_only":                       mapped("`securityContext.readOnlyRootFilesystem`"),
	"runtime":                         refused("the engine's default runtime runs every container; an image made for another runtime (wasm, gVisor) would not run"),
	"secrets":                         mapped("a Secret per top-level secret, mounted (`subPath`) at `/run/secrets/<target or name>`"),
	"secrets.source":                  mapped("the Secret"),
	"secrets.target":                  mapped("the file name under `/run/secrets`, or an absolute path"),
	"secrets.uid":                     warned("files of Secrets belong to the pod's user (`fsGroup`), not to a given uid"),
	"secrets.gid":                     warned("files of Secrets belong to the pod's user (`fsGroup`), not to a given gid"),
	"secrets.mode":                    mapped("the item's `mode` (default 0444 as compose, which shoal's 0400 default would tighten)"),
	"security_opt":                    mapped("`no-new-privileges[:true]`: `allowPrivilegeEscalation: false`; `seccomp:unconfined`: `seccompProfile: Unconfined`; `seccomp=FILE`, `apparmor`, `label` warn"),
	"shm_size":                        mapped("a memory-backed emptyDir at `/dev/shm` with that `sizeLimit`"),
	"stop_grace_period":               mapped("`terminationGracePeriodSeconds`"),
	"stop_signal":                     mapped("SIGTERM is what shoal sends; any other signal warns (no stop signal in shoal's container spec yet)"),
	"storage_opt":                     warned("no storage options in shoal's container spec"),
	"sysctls":                         mapped("pod `securityContext.sysctls` for namespaced ones; others warn"),
	"tmpfs":                           mapped("a memory-backed emptyDir at each path (`size=` is its `sizeLimit`; other options warn)"),
	"ulimits":                         whole(warned("no ulimits in shoal's container spec yet")),
	"umask":                           warned("no umask in shoal's container spec"),
	"use_api_socket":                  refused("would hand the engine's socket and credentials to the container"),
	"user":                            mapped("`runAsUser`/`runAsGroup` when numeric; a user name warns (the image's user is used)"),
	"userns_mode":                     warned("the engine's user namespace setting is used"),
	"uts":                             mapped("`host` refused (no host UTS namespace in shoal's pod spec); unset is the pod's own"),
	"volume_driver":                   warned("named volumes are the engine's local volumes"),
	"volumes":                         mapped("see its keys"),
	"volumes.type":                    mapped("`volume`: a named volume (`persistentVolumeClaim`, the engine volume `shoal-pvc-<project>-<name>` on the pod's host) or, without a name, an emptyDir; `bind`: `hostPath` (needs Pod Security `privileged`); `tmpfs`: a memory-backed emptyDir; `npipe`, `cluster`, `image` refused"),
	"volumes.source":                  mapped("the volume's name or the host path"),
	"volumes.target":                  mapped("the mount path"),
	"volumes.read_only":               mapped("the mount's `readOnly`"),
	"volumes.consistency":             warned("a macOS file-sharing hint"),
	"volumes.bind":                    mapped("see its keys"),
	"volumes.bind.selinux":            warned("no SELinux relabelling of host paths"),
	"volumes.bind.propagation":        warned("mounts use the engine's default propagation"),
	"volumes.bind.create_host_path":   mapped("a hostPath without a type: a file or a directory as the host has it; a missing path is left to the engine"),
	"volumes.bind.recursive":          warned("mounts use the engine's default recursion"),
	"volumes.volume":                  mapped("see its keys"),
	"volumes.volume.labels":           warned("no labels on the engine's volumes"),
	"volumes.volume.nocopy":           warned("the engine's default copy of the image's files into a new volume applies"),
	"volumes.volume.subpath":          mapped("the mount's `subPath`"),
	"volumes.tmpfs":                   mapped("see its keys"),
	"volumes.tmpfs.size":              mapped("the emptyDir's `sizeLimit`"),
	"volumes.tmpfs.mode":              warned("an emptyDir's mode is the engine's"),
	"volumes.image":                   refused("image volumes are not supported"),
	"volumes_from":                    refused("pods cannot mount another service's volumes; name a volume in both services"),
	"working_dir":                     mapped("container `workingDir`"),

	"build":                      command("built by `shoal compose build` and `up` through the engine of the command's agent, tagged `image:` or `<project>-<service>`; the pods pull it `IfNotPresent`"),
	"build.context":              command("a directory inside the project directory, tarred without what its `.dockerignore` excludes; a remote (git, URL) context or one outside the project is refused"),
	"build.dockerfile":           command("the Dockerfile's path, which must be inside the context"),
	"build.dockerfile_inline":    command("sent as a file of the context"),
	"build.args":                 command("the build's `ARG` values"),
	"build.target":               command("the stage built"),
	"build.labels":               command("labels of the image"),
	"build.no_cache":             command("builds without the engine's cache"),
	"build.pull":                 command("pulls the base images first"),
	"build.entitlements":         warned("builds run with the engine's defaults, without entitlements"),
	"build.provenance":           warned("the engine's classic builder makes no attestations"),
	"build.sbom":                 warned("the engine's classic builder makes no attestations"),
	"build.ssh":                  whole(warned("no SSH agent is forwarded to a build on the cluster")),
	"build.cache_from":           warned("the engine's local cache is used"),
	"build.cache_to":             warned("the engine's local cache is used"),
	"build.no_cache_filter":      warned("the engine's classic builder caches every stage alike"),
	"build.additional_contexts":  warned("one context per build"),
	"build.extra_hosts":          warned("build steps use the engine's resolver"),
	"build.isolation":            warned("Windows only"),
	"build.network":              warned("build steps use the engine's default network (a build may not take the host's)"),
	"build.secrets":              whole(warned("no build secrets are passed to a build on the cluster")),
	"build.shm_size":             warned("build steps get the engine's default /dev/shm"),
	"build.tags":                 warned("the image is tagged `image:` or `<project>-<service>` only"),
	"build.ulimits":              whole(warned("build steps get the engine's default limits")),
	"build.platforms":            warned("the image is built for the platform of the command's host"),
	"build.privileged":           refused("a privileged build step would own the agent's host"),
	"dockerfile":                 KeyRule{Decision: Command, How: "part of `build`"},
	"depends_on":                 mapped("the scheduling gate `compose.shoal.io/depends-on` on the service's pods, removed by the leader once every dependency holds; the dependencies in the workload's annotation of that name (JSON: service, condition, required, restart); a global service's pods wait unbound, pinned to their node, until released"),
	"depends_on.condition":       mapped("`service_started`: the dependency's pods running (a one-shot one: started or completed); `service_healthy`: its pods ready (healthcheck); `service_completed_successfully`: its Job complete"),
	"depends_on.restart":         mapped("`true`: an `up` that changes the dependency restarts this service's pods (they wait again until it holds)"),
	"depends_on.required":        mapped("`false`: a dependency absent from the project (a disabled profile) or failed does not hold the service, as docker compose goes on with a warning"),
	"expose":                     mapped("container ports; the ports of a `vip` Service"),
	"healthcheck":                mapped("see its keys: the same check is the liveness probe (an unhealthy container restarts, as under Swarm) and the readiness probe (an unhealthy pod leaves the Service)"),
	"healthcheck.test":           mapped("`CMD`: an exec probe; `CMD-SHELL` and a plain string: `/bin/sh -c`; `NONE`: no probe"),
	"healthcheck.timeout":        mapped("`timeoutSeconds` (rounded up; default 30)"),
	"healthcheck.interval":       mapped("`periodSeconds` (rounded up; default 30)"),
	"healthcheck.retries":        mapped("`failureThreshold` (default 3)"),
	"healthcheck.start_period":   mapped("a startup probe: checks every `start_interval` for that long before the liveness probe counts"),
	"healthcheck.start_interval": mapped("the startup probe's `periodSeconds` (default 5)"),
	"healthcheck.disable":        mapped("no probes"),
	"ports":                      mapped("see its keys"),
	"ports.name":                 mapped("the port's name"),
	"ports.mode":                 mapped("`ingress` (default): on every host, as Swarm's routing mesh, through a NodePort Service when the published port is in 30000-32767; outside that range the port is published on the hosts running the service's pods (`hostPort`) with a warning; `host`: `hostPort` on the pod's host"),
	"ports.host_ip":              mapped("the `hostIP` of a `hostPort`; warns for an `ingress` port on every host"),
	"ports.target":               mapped("the container port"),
	"ports.published":            mapped("the node port or host port; a range is refused; unset is the container port only"),
	"ports.protocol":             mapped("`tcp`, `udp` (and `sctp`)"),
	"ports.app_protocol":         warned("no application protocol on shoal's Service ports"),
	"stdin_open":                 mapped("container `stdin`"),
	"tty":                        mapped("container `tty`"),
}

// ServiceKeyPaths lists every key of a compose service that needs a
// decision, in the order of compose-go's types.
func ServiceKeyPaths() []string {
	var out []string
	keyPaths(reflect.TypeOf(types.ServiceConfig{}), "", func(p string) bool {
		r, ok := ServiceKeys[p]
		return ok && r.Whole
	}, &out)
	return out
}

// unhonoured reports every warned or refused key set in a service.
func unhonoured(svc *types.ServiceConfig, report func(key string, r KeyRule)) {
	v := reflect.ValueOf(svc).Elem()
	keys := make([]string, 0, len(ServiceKeys))
	for k := range ServiceKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := ServiceKeys[k]
		if r.Decision != Warned && r.Decision != Refused {
			continue
		}
		if len(valuesAt(v, strings.Split(k, "."))) > 0 {
			report(k, r)
		}
	}
}
