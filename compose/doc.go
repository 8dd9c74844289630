// Package compose reads Compose projects as Docker Compose does (through the
// reference loader, github.com/compose-spec/compose-go/v2) and maps them onto
// shoal's Kubernetes-shaped objects: a Namespace per project, a Deployment,
// DaemonSet or Job per service, headless Services for the names and aliases,
// ConfigMaps and Secrets for configs and secrets.
//
// Every key of a compose service has a decision in keys.go: mapped by the
// converter, or reported (a warning, or an error that refuses the project),
// so that nothing a user wrote is dropped without a word.
//
// revision.go keeps a project's history as Helm keeps a release's: each
// revision (the objects a change left the project with, and the compose
// model they came from) is a compressed record in a Secret of the
// project's namespace, which `shoal compose history` lists and `rollback`
// applies.
package compose
