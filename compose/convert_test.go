package compose

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
)

// loadString loads a project from one compose file's text, with side
// files, in a directory named after the project.
func loadString(t *testing.T, text string, files map[string]string) *types.Project {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "app")
	files["compose.yaml"] = text
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environment: []string{}})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return p
}

const shopProject = `
services:
  web:
    image: web:1
    entrypoint: ["/bin/web"]
    command: ["--port", "8080"]
    working_dir: /srv
    user: "1000:1000"
    read_only: true
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    stop_grace_period: 1m30s
    hostname: shop
    tmpfs: ["/tmp:size=64m"]
    shm_size: 128m
    ports:
      - "30080:8080"
      - target: 9090
        published: "9090"
        mode: host
    expose: ["8081"]
    networks:
      front:
        aliases: [shop-web, www]
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
    secrets: [api_key, {source: tls, target: /etc/tls/key.pem, mode: 0400}]
    configs: [{source: site, target: /etc/site.conf}]
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.5", memory: 256M}
        reservations: {cpus: "0.25", memory: 128M}
      update_config: {parallelism: 2, delay: 10s, order: start-first}
      rollback_config: {parallelism: 1}
      placement:
        constraints: ["node.labels.zone == east", "node.platform.arch == x86_64", "node.hostname != h3", "node.labels.disk != hdd"]
      labels: {"traefik.http.routers.shop.rule": "Host(` + "`shop`" + `)"}
    labels: {team: shop}
    healthcheck:
      test: ["CMD", "/bin/web", "check"]
      interval: 5s
      timeout: 2s
      retries: 4
      start_period: 20s
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
    volumes: ["db-data:/var/lib/postgresql/data", "./init.sql:/docker-entrypoint-initdb.d/init.sql:ro"]
    healthcheck:
      test: pg_isready
    networks: [back]
    container_name: database
  migrate:
    image: web:1
    command: migrate
    networks: [back]
  agent:
    image: agent:1
    deploy: {mode: global, update_config: {parallelism: 1}}
  batch:
    image: batch:1
    restart: "on-failure:3"
    deploy: {mode: replicated-job, replicas: 4}
networks:
  front: {internal: true}
  back: {internal: true}
volumes:
  db-data: {driver_opts: {type: none}}
  logs: {driver: nfs}
secrets:
  api_key: {file: ./api_key.txt}
  tls: {file: ./tls.key}
  db_password: {environment: DB_PASSWORD}
configs:
  site: {content: "listen 8080"}
`

func TestConvertShop(t *testing.T) {
	p := loadString(t, shopProject, map[string]string{"api_key.txt": "k3y", "tls.key": "PRIVATE", "init.sql": "select 1;"})
	p.Environment["DB_PASSWORD"] = "pw"
	res, objs := convertAndApply(t, p)
	if res.Namespace != "app" {
		t.Fatalf("namespace %q, want the directory's name", res.Namespace)
	}
	ns := findObject[*api.Namespace](objs, "app")
	if ns == nil || ns.Labels[LabelProject] != "app" || ns.Labels[api.LabelPodSecurityEnforce] != "privileged" {
		t.Errorf("namespace %+v: want the project label and privileged (a bind mount)", ns)
	}

	web := findObject[*api.Deployment](objs, "web")
	if web == nil {
		t.Fatal("no Deployment web")
	}
	if *web.Spec.Replicas != 3 {
		t.Errorf("replicas %d", *web.Spec.Replicas)
	}
	ru := web.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxSurge.IntVal != 2 || ru.MaxUnavailable.IntVal != 0 || web.Spec.MinReadySeconds != 10 {
		t.Errorf("update_config start-first/2/10s: strategy %+v minReady %d", web.Spec.Strategy, web.Spec.MinReadySeconds)
	}
	var deps []dependsOn
	if err := json.Unmarshal([]byte(web.Annotations[AnnotationDependsOn]), &deps); err != nil ||
		!reflect.DeepEqual(deps, []dependsOn{{"db", "service_healthy", true, false}, {"migrate", "service_completed_successfully", true, false}}) {
		t.Errorf("depends_on annotation %q (%v)", web.Annotations[AnnotationDependsOn], err)
	}
	if g := web.Spec.Template.Spec.SchedulingGates; !reflect.DeepEqual(g, []api.PodSchedulingGate{{Name: GateDependsOn}}) {
		t.Errorf("web depends on db and migrate: its pods' scheduling gates %v, want the depends-on gate", g)
	}
	for _, o := range objs {
		if d, ok := o.(*api.Deployment); ok && d.Annotations[AnnotationDependsOn] == "" && len(d.Spec.Template.Spec.SchedulingGates) > 0 {
			t.Errorf("%s has no depends_on and gated pods", d.Name)
		}
	}
	if !strings.Contains(web.Annotations[AnnotationDeployLabels], "Host(`shop`)") || web.Annotations[AnnotationRollbackConfig] == "" {
		t.Errorf("deploy labels or rollback_config lost: %v", web.Annotations)
	}
	pod := web.Spec.Template.Spec
	c := pod.Containers[0]
	if !reflect.DeepEqual(c.Command, []string{"/bin/web"}) || !reflect.DeepEqual(c.Args, []string{"--port", "8080"}) || c.WorkingDir != "/srv" {
		t.Errorf("entrypoint/command/working_dir: %v %v %q", c.Command, c.Args, c.WorkingDir)
	}
	sc := c.SecurityContext
	if sc == nil || *sc.RunAsUser != 1000 || *sc.RunAsGroup != 1000 || !*sc.ReadOnlyRootFilesystem ||
		!reflect.DeepEqual(sc.Capabilities, &api.Capabilities{Add: []string{"NET_BIND_SERVICE"}, Drop: []string{"ALL"}}) {
		t.Errorf("security context %+v", sc)
	}
	if *pod.TerminationGracePeriodSeconds != 90 || pod.Hostname != "shop" {
		t.Errorf("grace %d hostname %q", *pod.TerminationGracePeriodSeconds, pod.Hostname)
	}
	if got := c.Resources.Limits[api.ResourceCPU]; got.MilliValue() != 500 {
		t.Errorf("cpu limit %v", got)
	}
	if got := c.Resources.Requests[api.ResourceMemory]; got.Value() != 128<<20 {
		t.Errorf("memory request %v", got)
	}
	if !reflect.DeepEqual(pod.NodeSelector, map[string]string{"zone": "east", api.LabelArch: "amd64"}) {
		t.Errorf("nodeSelector %v", pod.NodeSelector)
	}
	// != constraints: NotIn node affinity (which, as Swarm's !=, a node
	// without the label satisfies).
	wantAffinity := &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
		NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{
			{Key: api.LabelHostname, Operator: "NotIn", Values: []string{"h3"}},
			{Key: "disk", Operator: "NotIn", Values: []string{"hdd"}},
		}}}}}}
	if !reflect.DeepEqual(pod.Affinity, wantAffinity) {
		t.Errorf("affinity %+v", pod.Affinity)
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil || c.StartupProbe == nil ||
		!reflect.DeepEqual(c.LivenessProbe.Exec.Command, []string{"/bin/web", "check"}) ||
		c.LivenessProbe.PeriodSeconds != 5 || c.LivenessProbe.TimeoutSeconds != 2 || c.LivenessProbe.FailureThreshold != 4 ||
		c.StartupProbe.PeriodSeconds != 5 || c.StartupProbe.FailureThreshold != 8 {
		t.Errorf("probes: liveness %+v startup %+v", c.LivenessProbe, c.StartupProbe)
	}
	mounts := map[string]api.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
	}
	for _, path := range []string{"/run/secrets/api_key", "/etc/tls/key.pem", "/etc/site.conf", "/tmp", "/dev/shm"} {
		if _, ok := mounts[path]; !ok {
			t.Errorf("no mount at %s: %v", path, mounts)
		}
	}
	ports := map[int32]api.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.ContainerPort] = p
	}
	if ports[8080].HostPort != 0 || ports[9090].HostPort != 9090 || ports[8081].ContainerPort != 8081 {
		t.Errorf("container ports %+v", c.Ports)
	}

	published := findObject[*api.Service](objs, "web-published")
	if published == nil || published.Spec.Type != api.ServiceTypeNodePort || published.Spec.Ports[0].NodePort != 30080 ||
		published.Spec.Ports[0].TargetPort.IntVal != 8080 {
		t.Errorf("routing-mesh port 30080: %+v", published)
	}
	for _, n := range []string{"web", "shop-web", "www", "db", "database", "migrate", "agent", "batch"} {
		svc := findObject[*api.Service](objs, n)
		if svc == nil || svc.Spec.ClusterIP != api.ClusterIPNone {
			t.Errorf("name %q does not resolve through a headless Service: %+v", n, svc)
		}
	}

	db := findObject[*api.Deployment](objs, "db")
	var claim, host bool
	for _, v := range db.Spec.Template.Spec.Volumes {
		claim = claim || v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "db-data"
		host = host || v.HostPath != nil && strings.HasSuffix(v.HostPath.Path, "/app/init.sql")
	}
	if !claim || !host {
		t.Errorf("db volumes: named %v bind %v: %+v", claim, host, db.Spec.Template.Spec.Volumes)
	}
	if s := findObject[*api.Secret](objs, "db-password"); s == nil || string(s.Data["db_password"]) != "pw" {
		t.Errorf("secret from environment: %+v", s)
	}
	if cm := findObject[*api.ConfigMap](objs, "site"); cm == nil || cm.Data["site"] != "listen 8080" {
		t.Errorf("config from content: %+v", cm)
	}

	migrate := findObject[*api.Job](objs, "migrate")
	if migrate == nil || migrate.Spec.Template.Spec.RestartPolicy != api.RestartNever || *migrate.Spec.BackoffLimit != 0 {
		t.Errorf("migrate (awaited to complete) must run once as a Job: %+v", migrate)
	}
	if ds := findObject[*api.DaemonSet](objs, "agent"); ds == nil || ds.Spec.UpdateStrategy.RollingUpdate == nil {
		t.Errorf("global service: %+v", ds)
	}
	batch := findObject[*api.Job](objs, "batch")
	if batch == nil || *batch.Spec.Completions != 4 || *batch.Spec.Parallelism != 4 || *batch.Spec.BackoffLimit != 3 ||
		batch.Spec.Template.Spec.RestartPolicy != api.RestartOnFailure {
		t.Errorf("replicated-job: %+v", batch)
	}
	if w := warningsText(res); !strings.Contains(w, "(back, default, front) are one pod network") {
		t.Errorf("no warning that the networks are one: %s", w)
	}
}

func TestConvertRefusesWhatItCannotHonour(t *testing.T) {
	cases := map[string]struct{ service, key string }{
		"services: {a: {image: x, devices: ['/dev/fuse:/dev/fuse']}}":                                                    {"a", "devices"},
		"services: {a: {image: x, network_mode: 'service:b'}, b: {image: x}}":                                            {"a", "network_mode"},
		"services: {a: {image: x, deploy: {placement: {constraints: ['node.labels.z != .east']}}}}":                      {"a", "deploy.placement.constraints"},
		"services: {a: {image: x, deploy: {mode: global-job}}}":                                                          {"a", "deploy.mode"},
		"services: {a: {image: x, volumes_from: [b]}, b: {image: x}}":                                                    {"a", "volumes_from"},
		"services: {a: {image: x, ports: ['8000-8010:80']}}":                                                             {"a", "ports[0]"},
		"services: {a: {image: x, deploy: {endpoint_mode: anycast}}}":                                                    {"a", "deploy.endpoint_mode"},
		"services: {a: {image: x, runtime: runsc}}":                                                                      {"a", "runtime"},
		"services: {a_b: {image: x}, a-b: {image: x}}":                                                                   {"a_b", "name"},
		"services: {a: {image: x, deploy: {placement: {constraints: ['node.hostname == h1', 'node.role != manager']}}}}": {"a", "deploy.placement.constraints"},
	}
	for text, want := range cases {
		p := loadString(t, text, map[string]string{})
		_, err := Convert(p, Options{})
		var refused *RefusedError
		if !errors.As(err, &refused) {
			t.Errorf("%s: accepted (%v)", text, err)
			continue
		}
		found := false
		for _, i := range refused.Issues {
			found = found || i.Service == want.service && i.Key == want.key
		}
		if !found || !strings.Contains(err.Error(), want.key) {
			t.Errorf("%s: refusal does not name service %q key %q: %v", text, want.service, want.key, err)
		}
	}
}

func TestConvertWarnsWhatItDrops(t *testing.T) {
	p := loadString(t, `
services:
  a:
    image: x
    ulimits: {nofile: 1024}
    extra_hosts: ["db:10.0.0.1"]
    init: true
    user: www-data
    stop_signal: SIGINT
    ports: ["8080:80"]
`, map[string]string{})
	res, err := Convert(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := warningsText(res)
	for _, key := range []string{`service "a": ulimits`, `service "a": extra_hosts`, `service "a": init`, `service "a": user`, `service "a": stop_signal`, `service "a": ports[0]`} {
		if !strings.Contains(w, key) {
			t.Errorf("no warning naming %s in:\n%s", key, w)
		}
	}
}

// What Pod Security's baseline refuses is found, so that the namespace is
// labelled for it: the objects pass the registry's admission only then.
func TestPodSecurityNeedsAreFound(t *testing.T) {
	for _, svc := range []string{
		"{image: x, sysctls: {net.core.somaxconn: 1024}}",
		"{image: x, security_opt: ['seccomp:unconfined']}",
		"{image: x, cap_add: [SYS_ADMIN]}",
		"{image: x, privileged: true}",
		"{image: x, network_mode: host}",
		"{image: x, pid: host}",
		"{image: x, ipc: host}",
		"{image: x, ports: [{target: 80, published: '80', mode: host}]}",
		"{image: x, volumes: ['/srv:/srv']}",
	} {
		p := loadString(t, "services: {a: "+svc+"}", map[string]string{})
		res, err := Convert(p, Options{})
		if err != nil {
			t.Fatalf("%s: %v", svc, err)
		}
		if len(res.NeedsPrivileged) == 0 {
			t.Errorf("%s: not found to need Pod Security privileged", svc)
		}
		convertAndApply(t, p)
	}
	p := loadString(t, "services: {a: {image: x, sysctls: {net.ipv4.tcp_syncookies: 1}, cap_add: [CHOWN]}}", map[string]string{})
	if res, _ := convertAndApply(t, p); len(res.NeedsPrivileged) != 0 {
		t.Errorf("baseline allows these; needs %v", res.NeedsPrivileged)
	}
}

func TestReservedNamespacesAreRefused(t *testing.T) {
	for _, name := range []string{"default", "shoal-system"} {
		p := loadString(t, "services: {a: {image: x}}", map[string]string{})
		p.Name = name
		if _, err := Convert(p, Options{}); err == nil || !strings.Contains(err.Error(), "-p") {
			t.Errorf("project %q: %v", name, err)
		}
	}
}

func TestVIPEndpointModeIsAClusterIP(t *testing.T) {
	p := loadString(t, `
services:
  api:
    image: x
    expose: ["8080", "9000/udp"]
    ports: ["30090:9090"]
    deploy: {endpoint_mode: vip, mode: global, replicas: 2}
`, map[string]string{})
	res, objs := convertAndApply(t, p)
	svc := findObject[*api.Service](objs, "api")
	if svc == nil || svc.Spec.ClusterIP == api.ClusterIPNone || len(svc.Spec.Ports) != 3 {
		t.Fatalf("vip Service: %+v", svc)
	}
	if findObject[*api.DaemonSet](objs, "api") == nil || !strings.Contains(warningsText(res), `service "api": deploy.replicas`) {
		t.Errorf("a global service with replicas: a DaemonSet and a warning, got:\n%s", warningsText(res))
	}
}

// Swarm's placement preferences and max_replicas_per_node become topology
// spread constraints over the service's own pods, which the API accepts.
func TestPlacementPreferencesAndCapSpreadTheServicesPods(t *testing.T) {
	p := loadString(t, `
services:
  api:
    image: x
    deploy:
      replicas: 7
      placement:
        max_replicas_per_node: 2
        preferences: [{spread: node.labels.zone}, {spread: node.hostname}]
`, map[string]string{})
	res, objs := convertAndApply(t, p)
	if w := warningsText(res); strings.Contains(w, "placement") {
		t.Errorf("placement warned, want it honoured: %s", w)
	}
	d := findObject[*api.Deployment](objs, "api")
	if d == nil {
		t.Fatal("no Deployment api")
	}
	own := &api.LabelSelector{MatchLabels: map[string]string{LabelProject: res.Namespace, LabelService: "api"}}
	want := []api.TopologySpreadConstraint{
		{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: api.ScheduleAnyway, LabelSelector: own},
		{MaxSkew: 1, TopologyKey: api.LabelHostname, WhenUnsatisfiable: api.ScheduleAnyway, LabelSelector: own},
		{MaxSkew: 2, TopologyKey: api.LabelHostname, WhenUnsatisfiable: api.DoNotSchedule, MinDomains: api.Int32(spreadEverywhere), LabelSelector: own},
	}
	if got := d.Spec.Template.Spec.TopologySpreadConstraints; !reflect.DeepEqual(got, want) {
		t.Errorf("spread constraints:\n got %+v\nwant %+v", got, want)
	}

	for text, key := range map[string]string{
		"services: {a: {image: x, deploy: {placement: {preferences: [{spread: engine.labels.rack}]}}}}":    "deploy.placement.preferences",
		"services: {a: {image: x, deploy: {placement: {preferences: [{spread: 'node.labels.bad key'}]}}}}": "deploy.placement.preferences",
	} {
		_, err := Convert(loadString(t, text, map[string]string{}), Options{})
		var refused *RefusedError
		if !errors.As(err, &refused) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: want a refusal naming %s, got %v", text, key, err)
		}
	}
}

// The same project converts to the same bytes every time, so that a later
// `up` can tell what changed.
func TestConvertIsDeterministic(t *testing.T) {
	p := loadString(t, shopProject, map[string]string{"api_key.txt": "k3y", "tls.key": "PRIVATE", "init.sql": "select 1;"})
	p.Environment["DB_PASSWORD"] = "pw"
	var first []byte
	for i := range 20 {
		res, err := Convert(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		y, err := WriteYAML(res.Objects)
		if err != nil {
			t.Fatal(err)
		}
		y = append(y, warningsText(res)...)
		if i == 0 {
			first = y
		} else if string(y) != string(first) {
			t.Fatalf("conversion %d differs from the first", i)
		}
	}
}

// Each named volume that is not external becomes a PersistentVolumeClaim
// of the project, which the scheduler binds to the host of its first pod:
// the service returns to its data. An external volume gets none (each
// host's engine volume of that name serves).
func TestNamedVolumesBecomeClaims(t *testing.T) {
	p := loadString(t, `
services:
  db:
    image: db:1
    volumes: ["db_data:/var/lib/db", "shared:/shared", "/scratch"]
volumes:
  db_data: {}
  unused: {}
  shared: {external: true}
`, map[string]string{})
	res, objs := convertAndApply(t, p)
	for _, name := range []string{"db-data", "unused"} {
		c := findObject[*api.PersistentVolumeClaim](objs, name)
		if c == nil {
			t.Fatalf("no PersistentVolumeClaim %s among %d objects", name, len(objs))
		}
		if c.Namespace != res.Namespace || c.Labels[LabelProject] != res.Namespace ||
			strings.Join(c.Spec.AccessModes, ",") != api.ReadWriteOnce || c.Status.Phase != api.ClaimPending {
			t.Errorf("claim %s: %+v", name, c)
		}
	}
	if c := findObject[*api.PersistentVolumeClaim](objs, "shared"); c != nil {
		t.Errorf("an external volume got a claim: %+v", c)
	}
	db := findObject[*api.Deployment](objs, "db")
	var claims []string
	for _, v := range db.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims = append(claims, v.PersistentVolumeClaim.ClaimName)
		}
	}
	if strings.Join(claims, ",") != "db-data,shared" {
		t.Errorf("db mounts the claims %v, want db-data and shared", claims)
	}

	// A volume a global service mounts stays a volume on each host (no
	// claim object, which would keep the service on one host), with a
	// warning for a replicated service that mounts it too.
	p = loadString(t, `
services:
  agent:
    image: agent:1
    deploy: {mode: global}
    volumes: ["buffer:/buffer"]
  web:
    image: web:1
    volumes: ["buffer:/cache"]
volumes:
  buffer: {}
`, map[string]string{})
	res, objs = convertAndApply(t, p)
	if c := findObject[*api.PersistentVolumeClaim](objs, "buffer"); c != nil {
		t.Errorf("a volume of a global service got a claim: %+v", c)
	}
	if w := warningsText(res); !strings.Contains(w, `volume "buffer" is also mounted by the global service agent`) {
		t.Errorf("no warning for web's mount of the global service's volume: %s", w)
	}
}
