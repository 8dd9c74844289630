// Package cli holds the shoal command line: cobra commands in the habits of
// kubectl, one file per verb, and the printers they share. It talks to an
// agent only through the api/client package.
package cli
