package api

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Quantity is a resource amount such as "500m", "2", "128Mi" or "1G", kept as the
// text the user wrote and parsed to thousandths of a unit.
type Quantity struct {
	text  string
	milli int64
}

var quantitySuffixes = map[string]*big.Rat{
	"":   big.NewRat(1, 1),
	"m":  big.NewRat(1, 1000),
	"k":  big.NewRat(1000, 1),
	"M":  big.NewRat(1000_000, 1),
	"G":  big.NewRat(1000_000_000, 1),
	"T":  big.NewRat(1000_000_000_000, 1),
	"P":  big.NewRat(1000_000_000_000_000, 1),
	"Ki": big.NewRat(1<<10, 1),
	"Mi": big.NewRat(1<<20, 1),
	"Gi": big.NewRat(1<<30, 1),
	"Ti": big.NewRat(1<<40, 1),
	"Pi": big.NewRat(1<<50, 1),
}

// ParseQuantity parses the Kubernetes quantity notation.
func ParseQuantity(s string) (Quantity, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Quantity{}, fmt.Errorf("quantity is empty")
	}
	i := len(s)
	for i > 0 && (s[i-1] < '0' || s[i-1] > '9') && s[i-1] != '.' {
		i--
	}
	num, suffix := s[:i], s[i:]
	mult, ok := quantitySuffixes[suffix]
	if !ok {
		// A decimal exponent such as 1e3 or 12E6.
		if e := strings.IndexAny(s, "eE"); e > 0 {
			exp, err := strconv.Atoi(s[e+1:])
			if err != nil || exp > 18 || exp < -3 {
				return Quantity{}, fmt.Errorf("quantity %q: bad exponent", s)
			}
			num = s[:e]
			mult = new(big.Rat).SetFrac(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(exp, 0))), nil),
				new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(-exp, 0))), nil))
		} else {
			return Quantity{}, fmt.Errorf("quantity %q: unknown suffix %q (use m, k, M, G, T, Ki, Mi, Gi, Ti)", s, suffix)
		}
	}
	if num == "" || strings.Count(num, ".") > 1 || strings.HasPrefix(num, "-") {
		return Quantity{}, fmt.Errorf("quantity %q is not a non-negative number with an optional suffix", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return Quantity{}, fmt.Errorf("quantity %q is not a number", s)
	}
	r.Mul(r, mult)
	r.Mul(r, big.NewRat(1000, 1))
	// Round up to whole thousandths, as Kubernetes does.
	q, rem := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if rem.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() > math.MaxInt64/2 {
		return Quantity{}, fmt.Errorf("quantity %q is too large", s)
	}
	return Quantity{text: s, milli: q.Int64()}, nil
}

// MustParseQuantity parses s and panics on error; for constants in code and tests.
func MustParseQuantity(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic(err)
	}
	return q
}

// NewMilliQuantity makes a quantity of v thousandths, written as "<v>m".
func NewMilliQuantity(v int64) Quantity {
	if v%1000 == 0 {
		return Quantity{text: strconv.FormatInt(v/1000, 10), milli: v}
	}
	return Quantity{text: strconv.FormatInt(v, 10) + "m", milli: v}
}

// NewBytesQuantity makes a quantity of v bytes (or units), written in Ki/Mi/Gi
// when exact.
func NewBytesQuantity(v int64) Quantity {
	text := strconv.FormatInt(v, 10)
	for _, s := range []struct {
		suffix string
		n      int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if v != 0 && v%s.n == 0 {
			text = strconv.FormatInt(v/s.n, 10) + s.suffix
			break
		}
	}
	return Quantity{text: text, milli: v * 1000}
}

// MilliValue returns the quantity in thousandths (millicores for CPU).
func (q Quantity) MilliValue() int64 { return q.milli }

// Value returns the quantity rounded up to whole units (bytes for memory).
func (q Quantity) Value() int64 { return (q.milli + 999) / 1000 }

// IsZero reports whether the quantity is unset or zero.
func (q Quantity) IsZero() bool { return q.milli == 0 }

// String returns the text form.
func (q Quantity) String() string {
	if q.text == "" {
		return "0"
	}
	return q.text
}

// MarshalJSON writes the text form as a string.
func (q Quantity) MarshalJSON() ([]byte, error) { return json.Marshal(q.String()) }

// UnmarshalJSON accepts a string or a number, as Kubernetes does.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] != '"' {
		s = string(b)
	} else if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := ParseQuantity(s)
	if err != nil {
		return err
	}
	*q = p
	return nil
}
