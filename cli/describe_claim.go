package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

// claim describes a PersistentVolumeClaim as kubectl does, with the node
// holding its data where kubectl shows the volume, and the pods using it.
func (d *describer) claim(c *api.PersistentVolumeClaim) error {
	d.meta(&c.ObjectMeta, true)
	class := "<unset>"
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	d.line(0, "StorageClass", class)
	phase := c.Status.Phase
	if phase == "" {
		phase = api.ClaimPhase(c)
	}
	d.line(0, "Status", phase)
	d.line(0, "Node", printers.OrNone(c.SelectedNode()))
	d.line(0, "Volume", "engine volume "+api.ClaimVolumePrefix(c.Namespace)+c.Name+" on the node")
	size := ""
	if q, ok := c.Spec.Resources.Requests[api.ResourceStorage]; ok {
		size = q.String()
	}
	d.line(0, "Capacity", printers.OrNone(size))
	d.line(0, "Access Modes", printers.OrNone(strings.Join(c.Spec.AccessModes, ",")))
	mode := api.VolumeModeFS
	if c.Spec.VolumeMode != nil {
		mode = *c.Spec.VolumeMode
	}
	d.line(0, "VolumeMode", mode)
	pods, _, err := client.ListAs[api.Pod](d.ctx, d.c, c.Namespace, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing the pods using %s: %w", c.Name, err)
	}
	var users []string
	for _, p := range pods {
		for _, name := range api.PodClaims(&p.Spec) {
			if name == c.Name {
				users = append(users, p.Name)
			}
		}
	}
	sort.Strings(users)
	d.line(0, "Used By", printers.OrNone(strings.Join(users, ", ")))
	return nil
}
