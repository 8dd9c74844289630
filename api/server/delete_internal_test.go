package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// The answer code of a delete follows Kubernetes' handler: 202 only for an
// object not removed at once when orphanDependents: false was sent.
func TestDeleteStatusAsKubernetesAnswers(t *testing.T) {
	now := api.NewTime(time.Unix(1_800_000_000, 0))
	zero, four := int64(0), int64(4)
	f, tr := false, true
	marked := func(finalizers []string, grace *int64) api.Object {
		return &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c", DeletionTimestamp: &now, Finalizers: finalizers, DeletionGracePeriodSeconds: grace}}
	}
	for _, c := range []struct {
		name string
		obj  api.Object
		opts api.DeleteOptions
		want int
	}{
		{"removed", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "c"}}, api.DeleteOptions{OrphanDependents: &f}, http.StatusOK},
		{"marked, orphanDependents false", marked([]string{"x"}, &zero), api.DeleteOptions{OrphanDependents: &f}, http.StatusAccepted},
		{"terminating pod, orphanDependents false", marked(nil, &four), api.DeleteOptions{OrphanDependents: &f}, http.StatusAccepted},
		{"marked, Foreground", marked([]string{api.FinalizerForeground}, &zero), api.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}, http.StatusOK},
		{"marked, orphanDependents true", marked([]string{"x"}, &zero), api.DeleteOptions{OrphanDependents: &tr}, http.StatusOK},
		{"finished by this delete", marked(nil, &zero), api.DeleteOptions{OrphanDependents: &f}, http.StatusOK},
	} {
		if got := deleteStatus(c.obj, c.opts); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
