// Package cli holds the shoal command line: cobra commands in the habits of
// kubectl, one file per verb, and the printers they share. It talks to an
// agent through the api/client package; port-forward alone uses client-go's
// forwarder, for the SPDY streams kubectl speaks to the same endpoint.
package cli
