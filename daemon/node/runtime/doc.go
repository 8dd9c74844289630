// Package runtime is the pod runner of one node: it runs the pods bound to
// this node on the local engine. Each pod has one worker goroutine, the only
// owner of that pod's containers and the only writer of its status. A pod of
// several containers runs in a sandbox that its containers join; a pod of
// one container is that container alone, started through the network gate
// (solo.go).
package runtime
