package httpserver_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// parseConditions reads every `if`/`if_op` line of a "test { ... }" block.
func parseConditions(t *testing.T, src string) (httpserver.Conditions, error) {
	t.Helper()
	d := testutil.Dispenser(t, src)
	var c httpserver.Conditions
	d.Next()
	for d.NextBlock(0) {
		ok, err := c.ParseLine(d)
		if err != nil {
			return c, err
		}
		if !ok {
			t.Fatalf("ParseLine did not take line %q", d.Val())
		}
	}
	return c, nil
}

func TestConditionsParseErrors(t *testing.T) {
	tests := []struct {
		name, src, wantErr string
	}{
		{"two args", "test {\n if a is\n}", "Casketfile:2: test: if needs 3 arguments"},
		{"four args", "test {\n if a is b c\n}", "Casketfile:2: test: if needs 3 arguments"},
		{"unknown op", "test {\n if a equals b\n}", `Casketfile:2: test: unknown condition "equals"`},
		{"unknown negated op", "test {\n if a not_equals b\n}", `unknown condition "not_equals"`},
		{"bad regex", "test {\n if a match (\n}", `Casketfile:2: test: invalid regular expression "("`},
		{"bad if_op", "test {\n if_op xor\n}", `Casketfile:2: test: if_op must be 'and' or 'or', got "xor"`},
		{"if_op no arg", "test {\n if_op\n}", "Casketfile:2: test: wrong argument count"},
		{"if_op two args", "test {\n if_op and or\n}", "Casketfile:2: test: wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConditions(t, tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestConditionsParseLineIgnoresOtherLines(t *testing.T) {
	d := testutil.Dispenser(t, "test {\n to /x\n}")
	d.Next()
	d.NextBlock(0)
	var c httpserver.Conditions
	ok, err := c.ParseLine(d)
	if ok || err != nil {
		t.Fatalf("ParseLine(to) = %v, %v; want false, nil", ok, err)
	}
	if d.Val() != "to" {
		t.Fatalf("cursor moved to %q", d.Val())
	}
}

func TestConditionsTrue(t *testing.T) {
	tests := []struct {
		name  string
		lines string
		url   string
		ua    string
		want  bool
	}{
		{"none", "", "/", "", true},
		{"is", "if {path} is /a", "/a", "", true},
		{"is false", "if {path} is /a", "/b", "", false},
		{"not", "if {path} not /a", "/b", "", true},
		{"not false", "if {path} not /a", "/a", "", false},
		{"not_not", "if {path} not_not /a", "/a", "", true},
		{"not_is", "if {path} not_is /a", "/a", "", false},
		{"has", "if {>User-Agent} has Mobile", "/", "X Mobile Y", true},
		{"not_has", "if {>User-Agent} not_has Mobile", "/", "X Mobile Y", false},
		{"starts_with", "if {path} starts_with /api/", "/api/v1", "", true},
		{"not_starts_with", "if {path} not_starts_with /api/", "/api/v1", "", false},
		{"ends_with", "if {file} ends_with .php", "/x/index.php", "", true},
		{"not_ends_with", "if {file} not_ends_with .php", "/x/index.php", "", false},
		{"match", `if {path} match ^/user/\d+$`, "/user/42", "", true},
		{"match false", `if {path} match ^/user/\d+$`, "/user/ab", "", false},
		{"not_match", `if {path} not_match ^/user/\d+$`, "/user/ab", "", true},
		{"placeholder on the right", "if /a is {path}", "/a", "", true},
		{"query placeholder", "if {?lang} is de", "/?lang=de", "", true},
		{"and default", "if {path} is /a\nif {?x} is 1", "/a?x=2", "", false},
		{"and both", "if {path} is /a\nif {?x} is 1", "/a?x=1", "", true},
		{"or one", "if {path} is /a\nif {?x} is 1\nif_op or", "/b?x=1", "", true},
		{"or none", "if_op or\nif {path} is /a\nif {?x} is 1", "/b?x=2", "", false},
		{"literal only", "if a is a", "/", "", true},
		{"escaped brace", `if \{path\} is {path}`, "/{path}", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConditions(t, "test {\n"+tt.lines+"\n}")
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", tt.url, nil)
			if tt.ua != "" {
				r.Header.Set("User-Agent", tt.ua)
			}
			if got := c.True(r); got != tt.want {
				t.Fatalf("True(%s) = %v, want %v", tt.url, got, tt.want)
			}
		})
	}
}

func TestConditionsEvalSeesReplacerValues(t *testing.T) {
	c, err := parseConditions(t, "test {\n if {1} is abc\n}")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	rp := httpserver.NewReplacer(r, "")
	rp.Set("1", "abc")
	if !c.Eval(rp) {
		t.Fatal("Eval did not see the capture {1}")
	}
	if c.Len() != 1 || c.Or() {
		t.Fatalf("Len, Or = %d, %v", c.Len(), c.Or())
	}
}

func TestConditionsNoAllocWithoutPlaceholders(t *testing.T) {
	c, err := parseConditions(t, "test {\n if a is a\n if b match ^b$\n}")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	if n := testing.AllocsPerRun(100, func() { c.True(r) }); n != 0 {
		t.Fatalf("True allocates %v times without placeholders", n)
	}
}

func TestIsKeyword(t *testing.T) {
	for word, want := range map[string]bool{"if": true, "if_op": true, "to": false, "iff": false} {
		if got := httpserver.IsKeyword(word); got != want {
			t.Errorf("IsKeyword(%q) = %v", word, got)
		}
	}
}
