package daemon

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/daemon/node/enginehealth"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// The node's own Ready condition follows its engine: False with the
// kubelet's reason and a message naming the failure while the engine does
// not answer, True again (and the runner told) once it does.
func TestNodeReadyFollowsTheEngine(t *testing.T) {
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	objs := registry.New(st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng := enginetest.New()
	info, _ := eng.Info(ctx)
	if err := registerNode(ctx, objs, nodeObject(Config{Name: "n1"}, info, "10.0.0.1")); err != nil {
		t.Fatal(err)
	}
	chk := enginehealth.New(eng, enginehealth.Config{Interval: 20 * time.Millisecond, Timeout: 50 * time.Millisecond}, slog.New(slog.DiscardHandler))
	var recovered atomic.Int32
	done := make(chan struct{})
	go chk.Run(ctx)
	go func() {
		reportEngineHealth(ctx, objs, "n1", chk, func() { recovered.Add(1) }, slog.New(slog.DiscardHandler))
		close(done)
	}()
	ready := func() *api.Condition {
		o, err := objs.Get(ctx, api.KindNode, "", "n1")
		if err != nil {
			t.Fatal(err)
		}
		return api.FindCondition(o.(*api.Node).Status.Conditions, api.NodeReady)
	}
	eng.SetUnavailable(true)
	poll.Until(t, 10*time.Second, "Ready False", func() error {
		if c := ready(); c.Status != api.ConditionFalse || c.Reason != reasonKubeletNotReady ||
			!strings.HasPrefix(c.Message, "container runtime is down: ") || !strings.Contains(c.Message, engine.ErrUnavailable.Error()) {
			return errors.New(c.Status + " " + c.Reason + " " + c.Message)
		}
		return nil
	})
	if recovered.Load() != 0 {
		t.Fatal("told of a recovery while the engine is down")
	}
	eng.SetUnavailable(false)
	poll.Until(t, 10*time.Second, "Ready True and the runner told", func() error {
		if c := ready(); c.Status != api.ConditionTrue || recovered.Load() != 1 {
			return errors.New(c.Status + " " + c.Reason)
		}
		return nil
	})
	cancel()
	<-done
}

func TestNodeCarriesKubeletsLabelsOldAndNew(t *testing.T) {
	info, _ := enginetest.New().Info(context.Background())
	n := nodeObject(Config{Name: "n1", NodeLabels: map[string]string{"zone": "a"}}, info, "10.0.0.1")
	for k, v := range map[string]string{api.LabelHostname: "n1", api.LabelOS: "linux", api.LabelBetaOS: "linux",
		api.LabelArch: runtime.GOARCH, api.LabelBetaArch: runtime.GOARCH, "zone": "a"} {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
		}
	}
}
