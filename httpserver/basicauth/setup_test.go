package basicauth

import (
	"reflect"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    Rule // compared without the matcher; challenge is checked separately
		wantErr string
	}{
		{name: "path form", src: "basicauth /admin bob secret",
			want: Rule{Username: "bob", Password: "secret", Resources: []string{"/admin"}, Realm: "Restricted"}},
		{name: "realm with two words", src: "basicauth bob secret {\n realm Staff only\n}",
			wantErr: "realm: expected exactly one name"},
		{name: "block form", src: "basicauth bob secret {\n realm \"Staff only\"\n /a\n /b /c\n exclude /a/public\n}",
			want: Rule{Username: "bob", Password: "secret", Resources: []string{"/a", "/b", "/c"},
				Exclude: []string{"/a/public"}, Realm: "Staff only"}},
		{name: "block without paths", src: "basicauth bob secret {\n realm x\n}",
			want: Rule{Username: "bob", Password: "secret", Resources: []string{"/"}, Realm: "x"}},
		{name: "two args", src: "basicauth bob secret",
			want: Rule{Username: "bob", Password: "secret", Resources: []string{"/"}, Realm: "Restricted"}},
		{name: "path form with block", src: "basicauth /x bob secret {\n /y\n}",
			want: Rule{Username: "bob", Password: "secret", Resources: []string{"/x", "/y"}, Realm: "Restricted"}},
		{name: "htpasswd", src: "basicauth /x bob htpasswd=users.htpasswd",
			want: Rule{Username: "bob", Password: "htpasswd=users.htpasswd", HtpasswdFile: "users.htpasswd",
				Resources: []string{"/x"}, Realm: "Restricted"}},
		{name: "empty htpasswd", src: "basicauth /x bob htpasswd=", wantErr: "Casketfile:1: basicauth: htpasswd= needs a file name"},
		{name: "no args", src: "basicauth", wantErr: "Casketfile:1: basicauth: expected `basicauth path user password`"},
		{name: "one arg", src: "basicauth bob", wantErr: "Casketfile:1: basicauth: expected"},
		{name: "four args", src: "basicauth /a b c d", wantErr: "Casketfile:1: basicauth: expected"},
		{name: "bad path", src: "basicauth admin bob pw", wantErr: `Casketfile:1: basicauth: path "admin" must start with /`},
		{name: "colon user", src: "basicauth /a b:c pw", wantErr: "must not contain ':'"},
		{name: "double realm", src: "basicauth b p {\n realm x\n realm y\n}", wantErr: "Casketfile:3: basicauth: realm may be given only once"},
		{name: "unknown sub", src: "basicauth b p {\n relm x\n}", wantErr: `Casketfile:2: basicauth: unknown subdirective or path "relm"`},
		{name: "exclude empty", src: "basicauth b p {\n exclude\n}", wantErr: "Casketfile:2: basicauth: exclude: expected one or more paths"},
		{name: "exclude relative", src: "basicauth b p {\n exclude x\n}", wantErr: "must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := Setup(testutil.Dispenser(t, tt.src), &httpserver.Site{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h := mw(nil).(*Handler)
			if len(h.Rules) != 1 {
				t.Fatalf("got %d rules", len(h.Rules))
			}
			got := *h.Rules[0]
			if (got.match != nil) != (got.HtpasswdFile == "") {
				t.Errorf("plain passwords get a matcher at setup, htpasswd ones at Provision")
			}
			if want := `Basic realm="` + tt.want.Realm + `"`; got.challenge != want {
				t.Errorf("challenge = %q, want %q", got.challenge, want)
			}
			got.match, got.challenge = nil, ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rule = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSetupRealmQuoting(t *testing.T) {
	mw, err := Setup(testutil.Dispenser(t, `basicauth b p {`+"\n"+` realm "say \"hi\""`+"\n}"), &httpserver.Site{})
	if err != nil {
		t.Fatal(err)
	}
	if got := mw(nil).(*Handler).Rules[0].challenge; got != `Basic realm="say \"hi\""` {
		t.Errorf("challenge = %s", got)
	}
}

func TestSegmentsMerge(t *testing.T) {
	mwA, _ := Setup(testutil.Dispenser(t, "basicauth /a alice pw1"), &httpserver.Site{})
	mwB, _ := Setup(testutil.Dispenser(t, "basicauth /a bob pw2"), &httpserver.Site{})
	end := httpserver.HandlerFunc(func(httpserverResponseWriter, *httpserverRequest) error { return nil })
	h := mwA(mwB(end)).(*Handler)
	if len(h.Rules) != 2 || h.Rules[0].Username != "alice" || h.Rules[1].Username != "bob" {
		t.Fatalf("rules not merged in order: %+v", h.Rules)
	}
	if _, ok := h.Next.(*Handler); ok {
		t.Error("merged handler still wraps the inner basicauth handler")
	}
}
