package fileserver

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Listing is the data a browse template renders (the field names follow Caddy v1 templates).
type Listing struct {
	Name           string     // the directory's name
	Path           string     // the request path
	CanGoUp        bool       // whether a parent is still inside the browse base path
	Items          []FileInfo // the entries, sorted and limited
	NumDirs        int
	NumFiles       int
	Sort           string        // name, namedirfirst, size or time
	Order          string        // asc or desc
	ItemsLimitedTo int           // the limit applied, 0 for none
	Archives       []ArchiveLink // downloads of the directory as an archive (servearchive), if enabled
}

// Crumb is one link of a breadcrumb trail.
type Crumb struct {
	Link string // relative path to the directory
	Text string // its name
}

// Breadcrumbs returns the path as links, from the root to the current directory.
func (l *Listing) Breadcrumbs() []Crumb {
	parts := strings.Split(strings.Trim(l.Path, "/"), "/")
	crumbs := []Crumb{{Link: strings.Repeat("../", countNonEmpty(parts)), Text: "/"}}
	if crumbs[0].Link == "" {
		crumbs[0].Link = "./"
	}
	for i, p := range parts {
		if p == "" {
			continue
		}
		up := len(parts) - 1 - i
		link := strings.Repeat("../", up)
		if link == "" {
			link = "./"
		}
		crumbs = append(crumbs, Crumb{Link: link, Text: p})
	}
	return crumbs
}

func countNonEmpty(parts []string) int {
	n := 0
	for _, p := range parts {
		if p != "" {
			n++
		}
	}
	return n
}

// SortLink returns the query string that sorts by field, flipping the order when already sorted by it.
func (l *Listing) SortLink(field string) string {
	order := "asc"
	if l.Sort == field && l.Order == "asc" {
		order = "desc"
	}
	q := "?sort=" + field + "&order=" + order
	if l.ItemsLimitedTo > 0 {
		q += "&limit=" + strconv.Itoa(l.ItemsLimitedTo)
	}
	return q
}

// FileInfo is one entry of a listing. Its JSON form is what `Accept: application/json` returns.
type FileInfo struct {
	Name      string
	Size      int64
	URL       string
	ModTime   time.Time
	Mode      os.FileMode
	IsDir     bool
	IsSymlink bool
}

// HumanSize returns the size in binary units ("1.5 KiB").
func (fi FileInfo) HumanSize() string {
	const unit = 1024
	if fi.Size < unit {
		return strconv.FormatInt(fi.Size, 10) + " B"
	}
	div, exp := int64(unit), 0
	for n := fi.Size / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(fi.Size)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}

// HumanModTime formats the modification time with a Go time layout.
func (fi FileInfo) HumanModTime(layout string) string {
	return fi.ModTime.Format(layout)
}

const defaultTemplate = `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Path}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.3em;font-weight:normal}
h1 a{text-decoration:none}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3em .8em;border-bottom:1px solid #eee}
td.size,th.size{text-align:right}
a{color:#0645ad}
.meta{color:#666;margin:.5em 0 1em}
.archives{margin:0 0 1em}
</style>
</head>
<body>
<h1>{{range .Breadcrumbs}}<a href="{{.Link}}">{{.Text}}</a>{{if ne .Text "/"}}/{{end}}{{end}}</h1>
<div class="meta">{{.NumDirs}} director{{if eq .NumDirs 1}}y{{else}}ies{{end}}, {{.NumFiles}} file{{if ne .NumFiles 1}}s{{end}}{{if .ItemsLimitedTo}} (showing {{.ItemsLimitedTo}}){{end}}</div>
{{if .Archives}}<div class="archives">Download as {{range $i, $a := .Archives}}{{if $i}} · {{end}}<a href="{{$a.URL}}" download>{{$a.Format}}</a>{{end}}</div>
{{end}}<table>
<thead><tr>
<th><a href="{{.SortLink "name"}}">Name</a></th>
<th class="size"><a href="{{.SortLink "size"}}">Size</a></th>
<th><a href="{{.SortLink "time"}}">Modified</a></th>
</tr></thead>
<tbody>
{{if .CanGoUp}}<tr><td><a href="../">../</a></td><td class="size">&mdash;</td><td></td></tr>{{end}}
{{range .Items}}<tr>
<td><a href="{{.URL}}">{{.Name}}{{if .IsDir}}/{{end}}</a>{{if .IsSymlink}} &rarr;{{end}}</td>
<td class="size">{{if .IsDir}}&mdash;{{else}}{{.HumanSize}}{{end}}</td>
<td><time datetime="{{.HumanModTime "2006-01-02T15:04:05Z07:00"}}">{{.HumanModTime "2006-01-02 15:04:05"}}</time></td>
</tr>
{{end}}</tbody>
</table>
</body>
</html>
`
