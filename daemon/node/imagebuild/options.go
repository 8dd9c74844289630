package imagebuild

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/distribution/reference"

	"github.com/shoal-dev/shoal/api"
)

// Bounds of one request's options.
const (
	maxTags      = 16
	maxArgs      = 256
	maxLabels    = 256
	maxValueSize = 64 << 10
)

var targetRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ParseQuery reads and checks the options of a build request. Each error
// names the parameter and what it must be.
func ParseQuery(q url.Values) (api.BuildOptions, error) {
	for k := range q {
		switch k {
		case "namespace", "tag", "dockerfile", "target", "buildArg", "label", "noCache", "pull", "ifMissing":
		default:
			return api.BuildOptions{}, fmt.Errorf("build: unknown parameter %q (known: namespace, tag, dockerfile, target, buildArg, label, noCache, pull, ifMissing)", k)
		}
	}
	o := api.BuildOptions{Namespace: q.Get("namespace"), Tags: q["tag"], Dockerfile: q.Get("dockerfile"), Target: q.Get("target")}
	if errs := api.IsDNS1123Label(o.Namespace); o.Namespace == "" || len(errs) > 0 {
		return o, fmt.Errorf("build: namespace %q: give the namespace whose pods run the image (a DNS label)", o.Namespace)
	}
	if len(o.Tags) == 0 || len(o.Tags) > maxTags {
		return o, fmt.Errorf("build: tag: give 1 to %d image names, such as shop-web or shop-web:1.0", maxTags)
	}
	for _, t := range o.Tags {
		if _, err := reference.ParseNormalizedNamed(t); err != nil || strings.Contains(t, "@") {
			return o, fmt.Errorf("build: tag %q is not an image name (such as shop-web or shop-web:1.0): %v", t, err)
		}
	}
	df, err := DockerfilePath(o.Dockerfile)
	if err != nil {
		return o, err
	}
	o.Dockerfile = df
	if o.Target != "" && !targetRe.MatchString(o.Target) {
		return o, fmt.Errorf("build: target %q is not a stage name (letters, digits, '.', '_', '-')", o.Target)
	}
	if len(q["buildArg"]) > maxArgs || len(q["label"]) > maxLabels {
		return o, fmt.Errorf("build: at most %d build arguments and %d labels", maxArgs, maxLabels)
	}
	for _, a := range q["buildArg"] {
		k, v, hasValue := strings.Cut(a, "=")
		if k == "" || len(a) > maxValueSize || strings.ContainsAny(k, " \t\n") {
			return o, fmt.Errorf("build: buildArg %q: give NAME=VALUE or NAME", trim(a))
		}
		if o.BuildArgs == nil {
			o.BuildArgs = map[string]*string{}
		}
		if hasValue {
			o.BuildArgs[k] = &v
		} else {
			o.BuildArgs[k] = nil
		}
	}
	for _, l := range q["label"] {
		k, v, ok := strings.Cut(l, "=")
		if k == "" || !ok || len(l) > maxValueSize {
			return o, fmt.Errorf("build: label %q: give KEY=VALUE", trim(l))
		}
		if o.Labels == nil {
			o.Labels = map[string]string{}
		}
		o.Labels[k] = v
	}
	for _, b := range []struct {
		name string
		to   *bool
	}{{"noCache", &o.NoCache}, {"pull", &o.Pull}, {"ifMissing", &o.IfMissing}} {
		if s := q.Get(b.name); s != "" {
			v, err := strconv.ParseBool(s)
			if err != nil {
				return o, fmt.Errorf("build: %s %q: give true or false", b.name, s)
			}
			*b.to = v
		}
	}
	return o, nil
}

// DockerfilePath checks that a Dockerfile path stays inside the context
// and returns it cleaned ("Dockerfile" when empty).
func DockerfilePath(p string) (string, error) {
	if p == "" {
		return "Dockerfile", nil
	}
	c := path.Clean(strings.ReplaceAll(p, `\`, "/"))
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") || c == "." {
		return "", fmt.Errorf("build: dockerfile %q is not a file inside the build context: give a path relative to the context, without '..'", p)
	}
	return c, nil
}

func trim(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
