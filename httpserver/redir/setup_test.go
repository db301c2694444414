package redir

import (
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

// ruleView is the comparable part of a Rule.
type ruleView struct {
	From, To string
	Code     int
	Meta     bool
	Conds    int
}

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []ruleView
		wantErr string
	}{
		{name: "to only", src: "redir https://example.com{uri}",
			want: []ruleView{{From: "/", To: "https://example.com{uri}", Code: 301}}},
		{name: "to and code", src: "redir https://example.com 307",
			want: []ruleView{{From: "/", To: "https://example.com", Code: 307}}},
		{name: "to and meta", src: "redir /new meta",
			want: []ruleView{{From: "/", To: "/new", Meta: true}}},
		{name: "from to", src: "redir /old /new",
			want: []ruleView{{From: "/old", To: "/new", Code: 301}}},
		{name: "from to code", src: "redir /a.jpg /b.jpg 308",
			want: []ruleView{{From: "/a.jpg", To: "/b.jpg", Code: 308}}},
		{name: "table", src: "redir 307 {\n /foo /info/foo\n /todo /notes\n /api-dev /api meta\n /x /y 302\n}",
			want: []ruleView{
				{From: "/foo", To: "/info/foo", Code: 307},
				{From: "/todo", To: "/notes", Code: 307},
				{From: "/api-dev", To: "/api", Meta: true},
				{From: "/x", To: "/y", Code: 302},
			}},
		{name: "meta table default", src: "redir meta {\n /a /b\n /c /d 301\n}",
			want: []ruleView{{From: "/a", To: "/b", Meta: true}, {From: "/c", To: "/d", Code: 301}}},
		{name: "conditions apply to the whole table", src: "redir {\n / https://{host}{uri}\n if {>X-Forwarded-Proto} is http\n}",
			want: []ruleView{{From: "/", To: "https://{host}{uri}", Code: 301, Conds: 1}}},
		{name: "conditional duplicates allowed", src: "redir {\n if {?x} is 1\n /a /c\n}\nredir /a /b",
			want: []ruleView{{From: "/a", To: "/c", Code: 301, Conds: 1}, {From: "/a", To: "/b", Code: 301}}},
		{name: "shadowed by unconditional", src: "redir /a /b\nredir {\n if {?x} is 1\n /a /c\n}",
			wantErr: `Casketfile:4: redir: duplicate redirect from "/a"`},
		{name: "no args", src: "redir", wantErr: "Casketfile:1: redir: expected `[from] to [code]`, got 0 arguments"},
		{name: "too many", src: "redir /a /b 301 x", wantErr: "Casketfile:1: redir: expected `[from] to [code]`, got 4"},
		{name: "306", src: "redir /a /b 306", wantErr: `Casketfile:1: redir: invalid redirect code "306": use 300-308 (except 306) or meta`},
		{name: "200", src: "redir /b 200", wantErr: `Casketfile:1: redir: invalid redirect code "200"`},
		{name: "word code", src: "redir /a /b moved", wantErr: `Casketfile:1: redir: invalid redirect code "moved"`},
		{name: "bad table code", src: "redir 404 {\n /a /b\n}", wantErr: `Casketfile:1: redir: invalid redirect code "404"`},
		{name: "bad line code", src: "redir {\n /a /b 309\n}", wantErr: `Casketfile:2: redir: invalid redirect code "309"`},
		{name: "table args", src: "redir /a 301 {\n /a /b\n}", wantErr: "Casketfile:1: redir: a redir table takes at most a status code"},
		{name: "empty table", src: "redir {\n if a is a\n}", wantErr: "Casketfile:3: redir: the redir block has no redirects"},
		{name: "from without slash", src: "redir old /new", wantErr: `Casketfile:1: redir: from path "old" must start with /`},
		{name: "loop", src: "redir /a /a", wantErr: `Casketfile:1: redir: from and to are both "/a"`},
		{name: "duplicate", src: "redir {\n /a /b\n /a /c\n}", wantErr: `Casketfile:3: redir: duplicate redirect from "/a" (already to "/b")`},
		{name: "bad condition", src: "redir {\n if a bogus b\n /a /b\n}", wantErr: `Casketfile:2: redir: unknown condition "bogus"`},
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
			rules := mw(nil).(*Redirect).Rules
			var got []ruleView
			for _, r := range rules {
				got = append(got, ruleView{From: r.From, To: r.To, Code: r.Code, Meta: r.Meta, Conds: r.Conds.Len()})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("rules = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("rule %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}
