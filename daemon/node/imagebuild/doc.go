// Package imagebuild serves the agent's image build endpoint
// (api.BuildPath): it takes the tar stream of a build context and the
// build's options, checks both (size, paths that stay inside the context,
// entry types, the options' syntax), builds with the engine of this
// agent's host and streams the build's output back as api.BuildMessage
// lines.
//
// Who may build: a caller allowed to create pods in the namespace the
// build names. A build runs the Dockerfile's RUN steps in containers of
// the engine, unprivileged, with the engine's default capabilities and
// network; that is what a pod of that namespace could do. The options
// that would give a step more (host network, privileged, extra hosts,
// ulimits, secrets) are not taken. docs/security.md has the decision.
package imagebuild
