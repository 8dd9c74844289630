package api

// The meta.k8s.io group of Table and PartialObjectMetadata, and its versions
// a client may ask a Table in.
const (
	MetaGroup          = "meta.k8s.io"
	MetaVersion        = "v1"
	MetaVersionV1beta1 = "v1beta1"
)

// Table is a meta.k8s.io Table: a list or an object as rows of printed
// cells, what kubectl get asks for (Accept:
// application/json;as=Table;v=v1;g=meta.k8s.io) and prints as it comes.
type Table struct {
	TypeMeta `json:",inline"`
	ListMeta ListMeta `json:"metadata"`
	// ColumnDefinitions is null in the watch events after the first, as
	// Kubernetes sends them: the columns do not change.
	ColumnDefinitions []TableColumnDefinition `json:"columnDefinitions"`
	Rows              []TableRow              `json:"rows"`
}

// TableColumnDefinition describes one column of a Table.
type TableColumnDefinition struct {
	Name string `json:"name"`
	// Type is the OpenAPI type of the cells: string, integer.
	Type string `json:"type"`
	// Format is "name" for the column of the object's name.
	Format      string `json:"format"`
	Description string `json:"description"`
	// Priority 0 columns are shown by default, higher ones with -o wide.
	Priority int32 `json:"priority"`
}

// TableRow is one object's cells, in the order of the columns, and the
// object itself as the request's includeObject asks: its metadata (a
// PartialObjectMetadata), all of it, or nothing.
type TableRow struct {
	Cells []any `json:"cells"`
	// Object is nil, a *PartialObjectMetadata or the Object; it is
	// encoded in place, once, with the Table.
	Object any `json:"object,omitempty"`
}

// PartialObjectMetadata is an object's kind, version and metadata only.
type PartialObjectMetadata struct {
	TypeMeta   `json:",inline"`
	ObjectMeta ObjectMeta `json:"metadata"`
}

// includeObject values of a Table request.
const (
	IncludeNone     = "None"
	IncludeMetadata = "Metadata"
	IncludeObject   = "Object"
)
