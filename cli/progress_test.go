package cli

import (
	"context"
	"testing"
)

func TestLiveLinePlainWhenNotATerminal(t *testing.T) {
	var b syncBuffer
	l := newLiveLine(&b)
	stop := l.animate(context.Background())
	for _, m := range []string{"a", "a", "b", "a"} {
		l.update(m)
	}
	stop()
	l.finish("done")
	// A message repeats only after another one came between.
	if got := b.String(); got != "a\nb\na\ndone\n" {
		t.Fatalf("got %q", got)
	}
	l.finish("") // nothing more to say
	if got := b.String(); got != "a\nb\na\ndone\n" {
		t.Fatalf("finish without a message printed %q", got)
	}
}

func TestLiveLineFitsTheTerminal(t *testing.T) {
	l := &liveLine{width: 20}
	if got := l.fit("short", 2); got != "short" {
		t.Errorf("fit short = %q", got)
	}
	// 20 columns: the spinner and its space, 16 runes and "…", one spare
	// column so that the cursor never wraps.
	if got := l.fit("a message far too long for the line", 2); got != "a message far to…" {
		t.Errorf("fit long = %q", got)
	}
	l.width = 0 // unknown: left alone
	if got := l.fit("a message far too long for the line", 2); got != "a message far too long for the line" {
		t.Errorf("unknown width = %q", got)
	}
}
