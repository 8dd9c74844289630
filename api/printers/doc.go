// Package printers defines the table of each kind: its columns, which of
// them only -o wide shows, and the cell of each column for an object, as
// kubectl prints them. The CLI's `get` and the API server's Table answers
// (Accept: application/json;as=Table;v=v1;g=meta.k8s.io) both print from
// here, so shoal's CLI and the real kubectl show the same columns with the
// same values.
package printers
