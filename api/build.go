package api

import "net/url"

// BuildPath is the agent's image build endpoint: POST a tar of the build
// context (Content-Type application/x-tar) with BuildOptions as query
// parameters; the answer is a stream of BuildMessage, one JSON object a
// line. The image is built by the engine of the agent that answers.
const BuildPath = "/shoal/v1/build"

// MaxBuildContextBytes bounds the build context an agent takes.
const MaxBuildContextBytes = 512 << 20

// BuildOptions say what to build from a context. On the wire they are
// query parameters of BuildPath: namespace, tag (repeatable), dockerfile,
// target, buildArg (repeatable, KEY=VALUE or KEY for one without a value),
// label (repeatable, KEY=VALUE), noCache, pull.
type BuildOptions struct {
	// Namespace is the namespace whose pods will run the image: the caller
	// must be allowed to create pods there.
	Namespace string
	// Tags name the image, such as "shop-web" or "registry/app:1.2".
	Tags []string
	// Dockerfile is the Dockerfile's path inside the context (default
	// "Dockerfile"); it may not leave the context.
	Dockerfile string
	// Target is the stage of a multi-stage Dockerfile to build.
	Target string
	// BuildArgs are the ARG values; a nil value is an argument without one.
	BuildArgs map[string]*string
	// Labels are set on the image.
	Labels  map[string]string
	NoCache bool
	Pull    bool
	// IfMissing builds only when the engine lacks one of the tags: an
	// agent that has them all answers with the image at once, before the
	// context is sent (BuildMessage.Existing).
	IfMissing bool
}

// BuildMessage is one line of a build's answer: a line of the build's
// output, or at the end the built image's id, or an error.
type BuildMessage struct {
	Stream  string `json:"stream,omitempty"`
	ImageID string `json:"imageID,omitempty"`
	Error   string `json:"error,omitempty"`
	// Existing: the image was there and nothing was built (IfMissing).
	Existing bool `json:"existing,omitempty"`
}

// Query writes the options as the query of a build request.
func (o BuildOptions) Query() url.Values {
	q := url.Values{}
	q.Set("namespace", o.Namespace)
	for _, t := range o.Tags {
		q.Add("tag", t)
	}
	if o.Dockerfile != "" {
		q.Set("dockerfile", o.Dockerfile)
	}
	if o.Target != "" {
		q.Set("target", o.Target)
	}
	for k, v := range o.BuildArgs {
		if v == nil {
			q.Add("buildArg", k)
		} else {
			q.Add("buildArg", k+"="+*v)
		}
	}
	for k, v := range o.Labels {
		q.Add("label", k+"="+v)
	}
	if o.NoCache {
		q.Set("noCache", "true")
	}
	if o.Pull {
		q.Set("pull", "true")
	}
	if o.IfMissing {
		q.Set("ifMissing", "true")
	}
	return q
}
