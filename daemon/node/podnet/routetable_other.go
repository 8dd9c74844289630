//go:build !linux

package podnet

func openRouteTable(string) (routeTable, error) { return nil, ErrUnsupported }
