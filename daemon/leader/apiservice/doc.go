// Package apiservice keeps the Service named `kubernetes` in the `default`
// namespace, as Kubernetes' API server does for itself: its cluster IP is
// the first address of the service range, its port 443 (named https) leads
// to the API of every live agent, and its Endpoints list those agents. Pods
// so reach the API as https://kubernetes.default.svc.
//
// The leader runs the Reconciler. The agents' addresses come from gossip
// membership (each agent's own API URL, which only it announces), never from
// objects a user could edit. Agents whose API listens on a loopback address
// are left out: no pod could reach them.
package apiservice
