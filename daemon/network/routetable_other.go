//go:build !linux

package network

func openRouteTable(string) (routeTable, error) { return nil, ErrUnsupported }
