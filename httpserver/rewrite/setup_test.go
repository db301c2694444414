package rewrite

import (
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// ruleView is the comparable part of a Rule.
type ruleView struct {
	Base, Pattern string
	Negate        bool
	Simple        bool
	Exts          string
	Conds         int
	To            string
}

func view(r Rule) ruleView {
	v := ruleView{Base: r.Base, Negate: r.Negate, Simple: r.Simple, Exts: strings.Join(r.Exts, " "),
		Conds: r.Conds.Len(), To: strings.Join(r.To, " ")}
	if r.Regexp != nil {
		v.Pattern = r.Regexp.String()
	}
	return v
}

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []ruleView
		wantErr string
	}{
		{name: "simple", src: "rewrite .* /index.php",
			want: []ruleView{{Base: "/", Pattern: ".*", Simple: true, To: "/index.php"}}},
		{name: "simple not, several destinations", src: "rewrite not ^/api /{path} /index.html",
			want: []ruleView{{Base: "/", Pattern: "^/api", Negate: true, Simple: true, To: "/{path} /index.html"}}},
		{name: "block without base", src: "rewrite {\n if {file} not favicon.ico\n to {path} {path}/ /maintenance.html /index.php\n}",
			want: []ruleView{{Base: "/", Conds: 1, To: "{path} {path}/ /maintenance.html /index.php"}}},
		{name: "block with everything", src: "rewrite /app {\n r ^/(\\w+)/?$\n ext / .html !.php\n if {>X} is y\n if_op or\n to /index?category={1}\n}",
			want: []ruleView{{Base: "/app", Pattern: `^/(\w+)/?$`, Exts: "/ .html !.php", Conds: 1, To: "/index?category={1}"}}},
		{name: "regexp long name", src: "rewrite {\n regexp (.*)\n to /x\n}",
			want: []ruleView{{Base: "/", Pattern: "(.*)", To: "/x"}}},
		{name: "longest base first", src: "rewrite /a {\n to /x\n}\nrewrite /a/b {\n to /y\n}\nrewrite /c /z",
			want: []ruleView{
				{Base: "/a/b", To: "/y"},
				{Base: "/a", To: "/x"},
				{Base: "/", Pattern: "/c", Simple: true, To: "/z"},
			}},
		{name: "no args", src: "rewrite", wantErr: "Casketfile:1: rewrite: missing destination"},
		{name: "one arg no block", src: "rewrite /a", wantErr: "Casketfile:1: rewrite: missing destination"},
		{name: "not without destination", src: "rewrite not /a", wantErr: "Casketfile:1: rewrite: expected `rewrite [not] pattern destinations...`"},
		{name: "bad simple regex", src: "rewrite ( /x", wantErr: `Casketfile:1: rewrite: invalid regular expression "("`},
		{name: "simple with block", src: "rewrite /a /b {\n to /c\n}", wantErr: "Casketfile:1: rewrite: a block follows a simple rewrite"},
		{name: "block no to", src: "rewrite {\n r .*\n}", wantErr: "Casketfile:3: rewrite: missing destination"},
		{name: "to no args", src: "rewrite {\n to\n}", wantErr: "Casketfile:2: rewrite: to needs at least one destination"},
		{name: "bad block regex", src: "rewrite {\n r [\n to /x\n}", wantErr: `Casketfile:2: rewrite: invalid regular expression "["`},
		{name: "r twice", src: "rewrite {\n r a\n r b\n to /x\n}", wantErr: "Casketfile:3: rewrite: only one r per rewrite block"},
		{name: "r no args", src: "rewrite {\n r\n to /x\n}", wantErr: "Casketfile:2: rewrite: r takes one regular expression"},
		{name: "bad ext", src: "rewrite {\n ext html\n to /x\n}", wantErr: `Casketfile:2: rewrite: invalid extension "html"`},
		{name: "bare bang ext", src: "rewrite {\n ext !\n to /x\n}", wantErr: `Casketfile:2: rewrite: invalid extension "!"`},
		{name: "ext no args", src: "rewrite {\n ext\n to /x\n}", wantErr: "Casketfile:2: rewrite: ext needs at least one extension"},
		{name: "unknown subdirective", src: "rewrite {\n status 404\n to /x\n}", wantErr: `Casketfile:2: rewrite: unknown subdirective "status"`},
		{name: "bad condition", src: "rewrite {\n if a b\n to /x\n}", wantErr: "Casketfile:2: rewrite: if needs 3 arguments"},
		{name: "relative base", src: "rewrite app {\n to /x\n}", wantErr: `Casketfile:1: rewrite: base path "app" must start with /`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := Setup(testutil.Dispenser(t, tt.src), &httpserver.Site{})
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rules := mw(nil).(*Rewrite).Rules
			if len(rules) != len(tt.want) {
				t.Fatalf("got %d rules, want %d", len(rules), len(tt.want))
			}
			for i := range rules {
				if got := view(rules[i]); got != tt.want[i] {
					t.Errorf("rule %d = %+v, want %+v", i, got, tt.want[i])
				}
			}
		})
	}
}
