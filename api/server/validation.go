package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// Field validation: what a create, update or patch does with fields shoal
// does not know and with keys given twice, as the request's
// fieldValidation parameter asks (Kubernetes' server-side field
// validation; kubectl sends it from --validate).
const (
	fieldValidationIgnore = "Ignore" // drop them silently
	fieldValidationWarn   = "Warn"   // a Warning header each (the default)
	fieldValidationStrict = "Strict" // refuse the request naming them
)

// fieldValidationOf reads the request's fieldValidation parameter; the
// older strict=true means Strict.
func fieldValidationOf(r *http.Request) (string, error) {
	q := r.URL.Query()
	switch v := q.Get("fieldValidation"); v {
	case fieldValidationIgnore, fieldValidationWarn, fieldValidationStrict:
		return v, nil
	case "":
		if isTrue(q.Get("strict")) {
			return fieldValidationStrict, nil
		}
		return fieldValidationWarn, nil
	default:
		return "", api.NewBadRequest(fmt.Sprintf("fieldValidation: invalid value %q: give Ignore, Warn (the default) or Strict", v))
	}
}

// checkFields applies the request's field validation to an object of kind
// k decoded from body, whose unknown fields are given.
func checkFields(w http.ResponseWriter, r *http.Request, k *api.Kind, name string, body []byte, unknown []string) error {
	mode, err := fieldValidationOf(r)
	if err != nil || mode == fieldValidationIgnore {
		return err
	}
	var problems []string
	for _, f := range unknown {
		problems = append(problems, fmt.Sprintf("unknown field %q", f))
	}
	for _, f := range api.DuplicateFields(body) {
		problems = append(problems, fmt.Sprintf("duplicate field %q", f))
	}
	if len(problems) == 0 {
		return nil
	}
	if mode == fieldValidationStrict {
		them := "them"
		if len(problems) == 1 {
			them = "it"
		}
		return api.NewStatusError(http.StatusBadRequest, api.ReasonBadRequest,
			fmt.Sprintf("%s %q: strict decoding error: %s; remove %s, or send the object with fieldValidation=Warn "+
				"(kubectl --validate=warn) to have shoal drop %s with a warning",
				k.Kind, name, strings.Join(problems, ", "), them, them))
	}
	for _, p := range problems {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", p))
	}
	return nil
}
