package api

import (
	"fmt"
	"net/http"
)

// DecodeLimits bounds the work and memory that decoding user input may cost.
// Every bound is checked before or while decoding, never after the cost is
// paid: a document over a limit is refused without being expanded.
type DecodeLimits struct {
	// MaxDocumentBytes bounds one YAML or JSON document, both as sent and
	// as it becomes once YAML aliases are expanded.
	MaxDocumentBytes int
	// MaxObjects bounds the objects of one stream: its documents plus the
	// items of its List documents.
	MaxObjects int
	// MaxDepth bounds how deep objects and arrays nest.
	MaxDepth int
	// MaxAliasNodes bounds the nodes that YAML aliases may add to a
	// document by expansion.
	MaxAliasNodes int
}

// Default decoding limits. An object of Kubernetes nests about 15 levels at
// most; 1,000 objects is a large manifest directory; anchors and aliases in
// real manifests (shared env lists, compose-style defaults) add hundreds of
// nodes, not tens of thousands.
const (
	DefaultMaxDocumentBytes = 3 << 20
	DefaultMaxObjects       = 1000
	DefaultMaxDepth         = 100
	DefaultMaxAliasNodes    = 10000
)

// DefaultDecodeLimits are the limits of the API server and the CLI.
var DefaultDecodeLimits = DecodeLimits{
	MaxDocumentBytes: DefaultMaxDocumentBytes,
	MaxObjects:       DefaultMaxObjects,
	MaxDepth:         DefaultMaxDepth,
	MaxAliasNodes:    DefaultMaxAliasNodes,
}

// withDefaults fills zero fields with the defaults.
func (l DecodeLimits) withDefaults() DecodeLimits {
	if l.MaxDocumentBytes <= 0 {
		l.MaxDocumentBytes = DefaultMaxDocumentBytes
	}
	if l.MaxObjects <= 0 {
		l.MaxObjects = DefaultMaxObjects
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAliasNodes <= 0 {
		l.MaxAliasNodes = DefaultMaxAliasNodes
	}
	return l
}

func tooManyObjects(limit int) *StatusError {
	return newStatusError(http.StatusRequestEntityTooLarge, ReasonTooLarge,
		fmt.Sprintf("the input holds more than %d objects; apply at most %d objects at a time (split the files)", limit, limit), nil)
}

func documentTooLarge(size, limit int) *StatusError {
	return newStatusError(http.StatusRequestEntityTooLarge, ReasonTooLarge,
		fmt.Sprintf("the document is %d bytes; the limit is %d bytes; split it into smaller documents", size, limit), nil)
}

// CheckNesting scans JSON text and refuses objects and arrays nested deeper
// than maxDepth, before any decoder recurses into them. It allocates nothing
// and validates nothing else: the decoder reports malformed JSON.
func CheckNesting(data []byte, maxDepth int) error {
	depth := 0
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxDepth {
				return NewBadRequest(fmt.Sprintf("objects and arrays nest more than %d levels deep (at byte %d); no object needs that, flatten the document", maxDepth, i))
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}
