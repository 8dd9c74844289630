package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func TestEveryNamespaceGetsItsDefaultServiceAccountBack(t *testing.T) {
	store := newTestStore(t)
	startManager(t, store, fastOptions())
	ctx := context.Background()
	if _, err := store.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	has := func(ns string) error {
		if _, err := store.Get(ctx, api.KindServiceAccount, ns, "default"); err != nil {
			return fmt.Errorf("%s: %v", ns, err)
		}
		return nil
	}
	for _, ns := range []string{"default", "shop"} {
		poll.Until(t, 10*time.Second, "the default service account of "+ns, func() error { return has(ns) })
	}
	if _, err := store.Delete(ctx, api.KindServiceAccount, "shop", "default", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the default service account back", func() error { return has("shop") })
}
