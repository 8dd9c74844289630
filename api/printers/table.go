package printers

import (
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Column is one column of a kind's table, as a Kubernetes Table defines it.
type Column struct {
	// Name is the column's name as Kubernetes writes it ("Ready",
	// "Up-to-date"); tables print it upper-cased.
	Name string
	// Type is the OpenAPI type of the cells: "string" or "integer".
	Type string
	// Format is "name" for the column of the object's name.
	Format      string
	Description string
	// Priority is 0 for the columns shown by default, 1 for those only
	// -o wide shows.
	Priority int32
}

// Header is the column's name as a table prints it.
func (c Column) Header() string {
	return strings.ToUpper(c.Name)
}

// nameColumn is the first column of the named kinds.
var nameColumn = Column{Name: "Name", Type: typeString, Format: "name",
	Description: "Name must be unique within a namespace (metadata.name)."}

// Options shape the cells of a row.
type Options struct {
	// Wide gives the cells as -o wide shows them: the wide columns, and a
	// load balancer's addresses uncut.
	Wide bool
	// Loads are the pods' requests per node, for the Node table; nil when
	// they could not be read, shown as <unknown>.
	Loads map[string]*NodeLoad
}

// Table is the layout of one kind's table.
type Table struct {
	named   bool     // a NAME column comes first
	columns []Column // after NAME: the default columns, then the wide ones
	row     func(o api.Object, now time.Time, opts *Options) []string
	wideRow func(o api.Object) []string
}

// Named reports whether the table's first column is the object's name.
func (t *Table) Named() bool {
	return t.named
}

// Columns are the table's columns, NAME first for named kinds, with the
// wide ones (priority 1) when wide is set.
func (t *Table) Columns(wide bool) []Column {
	var cols []Column
	if t.named {
		cols = append(cols, nameColumn)
	}
	for _, c := range t.columns {
		if c.Priority == 0 || wide {
			cols = append(cols, c)
		}
	}
	return cols
}

// Headers are the names of the columns after NAME, as a table prints them.
func (t *Table) Headers(wide bool) []string {
	var h []string
	for _, c := range t.columns {
		if c.Priority == 0 || wide {
			h = append(h, c.Header())
		}
	}
	return h
}

// Cells are an object's cells of the columns after NAME, the wide ones
// included when opts.Wide is set; computed at now, as ages are.
func (t *Table) Cells(o api.Object, now time.Time, opts *Options) []string {
	if opts == nil {
		opts = &Options{}
	}
	cells := t.row(o, now, opts)
	if opts.Wide && t.wideRow != nil {
		cells = append(cells, t.wideRow(o)...)
	}
	return cells
}
