// Package compose reads Compose projects as Docker Compose does (through the
// reference loader, github.com/compose-spec/compose-go/v2) and maps them onto
// shoal's Kubernetes-shaped objects: a Namespace per project, a Deployment,
// DaemonSet or Job per service, headless Services for the names and aliases,
// ConfigMaps and Secrets for configs and secrets.
//
// Every key of a compose service has a decision in keys.go: mapped by the
// converter, or reported (a warning, or an error that refuses the project),
// so that nothing a user wrote is dropped without a word.
package compose
