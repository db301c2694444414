package fileserver

import (
	"reflect"
	"strings"
	"testing"

	"github.com/casketserver/casket/httpserver"
	"github.com/casketserver/casket/internal/testutil"
)

func TestSetupRootIndex(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		setup     httpserver.SetupFunc
		wantRoot  string
		wantIndex []string
		wantErr   string
	}{
		{name: "root", src: "root /var/www", setup: SetupRoot, wantRoot: "/var/www"},
		{name: "relative root", src: "root public", setup: SetupRoot, wantRoot: "public"},
		{name: "quoted root", src: `root "/srv/my site"`, setup: SetupRoot, wantRoot: "/srv/my site"},
		{name: "root no arg", src: "root", setup: SetupRoot, wantErr: "Casketfile:1: root: expected exactly one path, got 0"},
		{name: "root two args", src: "root a b", setup: SetupRoot, wantErr: "Casketfile:1: root: expected exactly one path, got 2"},
		{name: "root block", src: "root a {\n x\n}", setup: SetupRoot, wantErr: "root takes no block"},
		{name: "index", src: "index home.html index.htm", setup: SetupIndex, wantIndex: []string{"home.html", "index.htm"}},
		{name: "index subdir name", src: "index pages/start.html", setup: SetupIndex, wantIndex: []string{"pages/start.html"}},
		{name: "index none", src: "index", setup: SetupIndex, wantErr: "Casketfile:1: index: expected one or more index file names"},
		{name: "index absolute", src: "index /etc/passwd", setup: SetupIndex, wantErr: "must be a plain relative name"},
		{name: "index dotdot", src: "index ../x.html", setup: SetupIndex, wantErr: "must be a plain relative name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &httpserver.Site{}
			mw, err := tt.setup(testutil.Dispenser(t, tt.src), s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mw != nil {
				t.Error("root/index returned a middleware")
			}
			if s.Root != tt.wantRoot || !reflect.DeepEqual(s.IndexFiles, tt.wantIndex) {
				t.Errorf("Root %q IndexFiles %q; want %q %q", s.Root, s.IndexFiles, tt.wantRoot, tt.wantIndex)
			}
		})
	}
}

func TestSetupBrowse(t *testing.T) {
	const def = DefaultArchiveBufferSize
	all := ArchiveFormatNames()
	tests := []struct {
		name    string
		src     string
		want    BrowseConfig
		wantErr string
	}{
		{name: "default", src: "browse", want: BrowseConfig{Path: "/", BufferSize: def}},
		{name: "path", src: "browse /files", want: BrowseConfig{Path: "/files", BufferSize: def}},
		{name: "path and template", src: "browse /photos ../album.tpl", want: BrowseConfig{Path: "/photos", TemplateFile: "../album.tpl", BufferSize: def}},
		{name: "block", src: "browse {\n path /docs\n tplfile t.html\n}", want: BrowseConfig{Path: "/docs", TemplateFile: "t.html", BufferSize: def}},
		{name: "too many", src: "browse / a b", wantErr: "Casketfile:1: browse: expected `browse [path [tplfile]]`, got 3 arguments"},
		{name: "relative path", src: "browse files", wantErr: `path "files" must start with /`},
		{name: "unknown sub", src: "browse {\n serve zip\n}", wantErr: `Casketfile:2: browse: unknown subdirective "serve" (expected path, tplfile, servearchive or buffer)`},
		{name: "path arity", src: "browse {\n path\n}", wantErr: "path: expected exactly one base path"},
		{name: "tplfile arity", src: "browse {\n tplfile a b\n}", wantErr: "tplfile: expected exactly one template file"},

		{name: "servearchive default set", src: "browse {\n servearchive\n}", want: BrowseConfig{Path: "/", Archives: all, BufferSize: def}},
		{name: "default set is every format", src: "browse {\n servearchive\n}",
			want: BrowseConfig{Path: "/", BufferSize: def, Archives: []string{"zip", "tar", "tar.gz", "tar.xz", "tar.br", "tar.bz2", "tar.lz4", "tar.sz", "tar.zst"}}},
		{name: "servearchive some", src: "browse /files {\n servearchive zip tar.gz\n}", want: BrowseConfig{Path: "/files", Archives: []string{"zip", "tar.gz"}, BufferSize: def}},
		{name: "servearchive order kept", src: "browse {\n servearchive tar.zst zip\n}", want: BrowseConfig{Path: "/", Archives: []string{"tar.zst", "zip"}, BufferSize: def}},
		{name: "servearchive unknown", src: "browse {\n path /x\n servearchive zip rar\n}",
			wantErr: `Casketfile:3: browse: servearchive: unknown archive format "rar" (available in this build: zip tar tar.gz`},
		{name: "servearchive case", src: "browse {\n servearchive ZIP\n}", wantErr: `Casketfile:2: browse: servearchive: unknown archive format "ZIP"`},
		{name: "servearchive twice", src: "browse {\n servearchive zip zip\n}", wantErr: `Casketfile:2: browse: servearchive: format "zip" is listed twice`},

		{name: "buffer MB", src: "browse {\n servearchive tar\n buffer 10MB\n}", want: BrowseConfig{Path: "/", Archives: []string{"tar"}, BufferSize: 10 << 20}},
		{name: "buffer KB", src: "browse {\n buffer 512KB\n}", want: BrowseConfig{Path: "/", BufferSize: 512 << 10}},
		{name: "buffer with space", src: "browse {\n buffer 2 mb\n}", want: BrowseConfig{Path: "/", BufferSize: 2 << 20}},
		{name: "buffer bytes", src: "browse {\n buffer 65536\n}", want: BrowseConfig{Path: "/", BufferSize: 65536}},
		{name: "buffer missing", src: "browse {\n buffer\n}", wantErr: "Casketfile:2: browse: buffer: expected a size such as 10MB"},
		{name: "buffer junk", src: "browse {\n buffer lots\n}", wantErr: `Casketfile:2: browse: buffer: invalid size "lots"`},
		{name: "buffer too small", src: "browse {\n buffer 1KB\n}", wantErr: "Casketfile:2: browse: buffer: size 1KB is out of range: use 4KB to 1GB"},
		{name: "buffer too large", src: "browse {\n buffer 2GB\n}", wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := SetupBrowse(testutil.Dispenser(t, tt.src), &httpserver.Site{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b := mw(nil).(*Browse)
			if !reflect.DeepEqual(b.Config, tt.want) {
				t.Errorf("config %+v, want %+v", b.Config, tt.want)
			}
			if len(b.archives) != len(tt.want.Archives) {
				t.Errorf("%d formats enabled, want %d", len(b.archives), len(tt.want.Archives))
			}
		})
	}
}

func TestSetupExt(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []string
		wantErr string
	}{
		{name: "one", src: "ext .html", want: []string{".html"}},
		{name: "several in order", src: "ext .html .htm .php", want: []string{".html", ".htm", ".php"}},
		{name: "none", src: "ext", wantErr: "Casketfile:1: ext: expected one or more extensions"},
		{name: "no dot", src: "ext html", wantErr: `extension "html" must start with a dot`},
		{name: "just a dot", src: "ext .", wantErr: `extension "." must start with a dot`},
		{name: "slash", src: "ext ./x", wantErr: "must start with a dot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mw, err := SetupExt(testutil.Dispenser(t, tt.src), &httpserver.Site{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mw(nil).(*Ext).Extensions; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("extensions %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSetupTryFiles(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		sitePath  string
		index     []string
		want      TryFilesConfig
		wantPaths []string
		wantErr   string
	}{
		{name: "default", src: "tryfiles",
			want:      TryFilesConfig{Except: []string{"/.well-known"}},
			wantPaths: append([]string{"{path}"}, httpserver.DefaultIndexFiles...)},
		{name: "default uses index directive", src: "tryfiles", index: []string{"app.html"},
			want:      TryFilesConfig{Except: []string{"/.well-known"}},
			wantPaths: []string{"{path}", "app.html"}},
		{name: "default on subpath", src: "tryfiles", sitePath: "/app",
			want:      TryFilesConfig{Except: []string{"/.well-known", "/app/.well-known"}, Without: "/app"},
			wantPaths: append([]string{"{path}"}, httpserver.DefaultIndexFiles...)},
		{name: "paths", src: "tryfiles {path} /index.php?{query}&p={path}",
			want:      TryFilesConfig{Paths: []string{"{path}", "/index.php?{query}&p={path}"}, Except: []string{"/.well-known"}},
			wantPaths: []string{"{path}", "/index.php?{query}&p={path}"}},
		{name: "block", src: "tryfiles {path} /app.html {\n except /api /static\n without /prefix\n}",
			want:      TryFilesConfig{Paths: []string{"{path}", "/app.html"}, Except: []string{"/api", "/static"}, Without: "/prefix"},
			wantPaths: []string{"{path}", "/app.html"}},
		{name: "block without paths", src: "tryfiles {\n except /api\n}",
			want:      TryFilesConfig{Except: []string{"/api"}},
			wantPaths: append([]string{"{path}"}, httpserver.DefaultIndexFiles...)},
		{name: "cfg placeholder", src: "tryfiles {\n except {cfg.addr.path}/api\n}", sitePath: "/sub",
			want:      TryFilesConfig{Except: []string{"/sub/api"}, Without: "/sub"},
			wantPaths: append([]string{"{path}"}, httpserver.DefaultIndexFiles...)},
		{name: "except empty", src: "tryfiles {\n except\n}", wantErr: "Casketfile:2: tryfiles: except: expected one or more paths"},
		{name: "without arity", src: "tryfiles {\n without a b\n}", wantErr: "without: expected exactly one path prefix"},
		{name: "unknown", src: "tryfiles {\n fallback x\n}", wantErr: `unknown subdirective "fallback"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &httpserver.Site{IndexFiles: tt.index}
			s.Addr.Path = tt.sitePath
			mw, err := SetupTryFiles(testutil.Dispenser(t, tt.src), s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tf := mw(nil).(*TryFiles)
			if !reflect.DeepEqual(tf.Config, tt.want) {
				t.Errorf("config %+v, want %+v", tf.Config, tt.want)
			}
			if !reflect.DeepEqual(tf.paths, tt.wantPaths) {
				t.Errorf("paths %q, want %q", tf.paths, tt.wantPaths)
			}
		})
	}
}
