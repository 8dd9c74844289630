package openapi

// Go doc comments are not in the binary: these short descriptions are what
// `kubectl explain` shows. A kind without one gets a generic sentence.

// kindDescriptions describe each kind, by kind name.
var kindDescriptions = map[string]string{
	"Namespace":               "Namespace groups the objects of one team or application and scopes their names.",
	"Node":                    "Node is one Docker host of the cluster, written by its agent.",
	"ConfigMap":               "ConfigMap holds configuration data for pods to consume as environment variables or files.",
	"PersistentVolumeClaim":   "PersistentVolumeClaim asks for a volume that outlives the pods that use it.",
	"Secret":                  "Secret holds sensitive data, such as passwords, tokens or keys, for pods to consume.",
	"ClusterRole":             "ClusterRole is a set of permissions, granted cluster-wide or in a namespace by a binding.",
	"ClusterRoleBinding":      "ClusterRoleBinding grants the permissions of a ClusterRole to users, groups or service accounts cluster-wide.",
	"Role":                    "Role is a set of permissions within one namespace.",
	"RoleBinding":             "RoleBinding grants the permissions of a Role or ClusterRole within one namespace.",
	"Token":                   "Token is a bearer credential of a user of the cluster (shoal's own kind).",
	"Deployment":              "Deployment runs a number of identical pods and rolls out changes to their template through ReplicaSets.",
	"ReplicaSet":              "ReplicaSet keeps a number of identical pods running.",
	"ReplicationController":   "ReplicationController keeps a number of identical pods running; the older form of ReplicaSet, with a plain map as its selector.",
	"DaemonSet":               "DaemonSet runs one pod on each node that matches its selector.",
	"Job":                     "Job runs pods until a number of them complete successfully.",
	"Pod":                     "Pod is a group of containers that run together on one node, sharing a network namespace.",
	"Service":                 "Service gives a set of pods one stable virtual address and DNS name.",
	"Endpoints":               "Endpoints lists the addresses of the ready pods behind a Service.",
	"Ingress":                 "Ingress routes HTTP requests by host and path to Services.",
	"Event":                   "Event reports something that happened to an object.",
	"SelfSubjectAccessReview": "SelfSubjectAccessReview asks whether the caller may do an action (kubectl auth can-i).",
	"SelfSubjectReview":       "SelfSubjectReview tells the caller who the server takes it to be (kubectl auth whoami).",
}

// typeDescriptions describe the types most fields refer to, by Go type
// name (of package api).
var typeDescriptions = map[string]string{
	"ObjectMeta":               "ObjectMeta is the metadata every stored object has: name, namespace, labels, annotations, and the fields the system sets (uid, resourceVersion, creationTimestamp).",
	"ListMeta":                 "ListMeta is the metadata of a list: the resourceVersion to watch from.",
	"OwnerReference":           "OwnerReference names an object this one belongs to; it is deleted with its owner.",
	"LabelSelector":            "LabelSelector selects objects by their labels: every matchLabels pair and every matchExpressions requirement must hold.",
	"PodTemplateSpec":          "PodTemplateSpec describes the pods a workload creates: their metadata and spec.",
	"PodSpec":                  "PodSpec is the description of a pod: its containers, volumes, and where and how it runs.",
	"Container":                "Container is one container of a pod: its image, command, environment, ports, probes and resources.",
	"ContainerPort":            "ContainerPort is a network port a container listens on.",
	"EnvVar":                   "EnvVar is an environment variable of a container: a value, or a reference to where it comes from.",
	"Volume":                   "Volume is storage a pod's containers may mount: emptyDir, hostPath, configMap, secret or a persistentVolumeClaim.",
	"VolumeMount":              "VolumeMount mounts one of the pod's volumes into a container.",
	"ResourceRequirements":     "ResourceRequirements are the compute resources a container asks for (requests) and may use at most (limits).",
	"Probe":                    "Probe checks a container's health: by a command, an HTTP GET or a TCP connection.",
	"Toleration":               "Toleration lets a pod run on nodes with a matching taint.",
	"Affinity":                 "Affinity constrains where a pod runs, by node labels and by the pods already there.",
	"PodAffinityTerm":          "PodAffinityTerm names pods (labelSelector, in the namespaces listed or selected, else the pod's own) and the node label whose value makes a topology domain (topologyKey).",
	"TopologySpreadConstraint": "TopologySpreadConstraint spreads the pods labelSelector names over the domains of the node label topologyKey, at most maxSkew apart.",
}

// fieldDescriptions describe the fields every object shares, by JSON name.
var fieldDescriptions = map[string]string{
	"apiVersion": "APIVersion defines the versioned schema of this representation of an object, such as v1 or apps/v1.",
	"kind":       "Kind is the type of the object, in CamelCase, such as Pod or Deployment.",
	"metadata":   "Standard object's metadata: name, namespace, labels, annotations.",
	"spec":       "Spec is the desired state of the object.",
	"status":     "Status is the most recently observed state of the object, written by the system. Read-only.",
}
