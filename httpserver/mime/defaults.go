package mime

// DefaultType returns the built-in media type for a lower-case extension (with its dot), the table
// `ext_defaults` turns on. Text types carry charset=utf-8.
func DefaultType(ext string) (string, bool) {
	var t string
	switch ext {
	// text and web
	case ".html", ".htm", ".shtml":
		t = "text/html; charset=utf-8"
	case ".css":
		t = "text/css; charset=utf-8"
	case ".js", ".mjs":
		t = "text/javascript; charset=utf-8"
	case ".json", ".map":
		t = "application/json"
	case ".jsonld":
		t = "application/ld+json"
	case ".webmanifest":
		t = "application/manifest+json"
	case ".xml":
		t = "text/xml; charset=utf-8"
	case ".xhtml":
		t = "application/xhtml+xml"
	case ".atom":
		t = "application/atom+xml"
	case ".rss":
		t = "application/rss+xml"
	case ".txt", ".text", ".log":
		t = "text/plain; charset=utf-8"
	case ".md", ".markdown":
		t = "text/markdown; charset=utf-8"
	case ".csv":
		t = "text/csv; charset=utf-8"
	case ".ics":
		t = "text/calendar; charset=utf-8"
	case ".vcf":
		t = "text/vcard; charset=utf-8"
	case ".yaml", ".yml":
		t = "application/yaml"
	case ".toml":
		t = "application/toml"
	case ".wasm":
		t = "application/wasm"
	// images
	case ".png":
		t = "image/png"
	case ".jpg", ".jpeg", ".jpe":
		t = "image/jpeg"
	case ".gif":
		t = "image/gif"
	case ".webp":
		t = "image/webp"
	case ".avif":
		t = "image/avif"
	case ".svg", ".svgz":
		t = "image/svg+xml"
	case ".ico":
		t = "image/x-icon"
	case ".bmp":
		t = "image/bmp"
	case ".tif", ".tiff":
		t = "image/tiff"
	case ".heic":
		t = "image/heic"
	case ".jxl":
		t = "image/jxl"
	// fonts
	case ".woff":
		t = "font/woff"
	case ".woff2":
		t = "font/woff2"
	case ".ttf":
		t = "font/ttf"
	case ".otf":
		t = "font/otf"
	case ".eot":
		t = "application/vnd.ms-fontobject"
	// audio and video
	case ".mp3":
		t = "audio/mpeg"
	case ".ogg", ".oga":
		t = "audio/ogg"
	case ".opus":
		t = "audio/opus"
	case ".wav":
		t = "audio/wav"
	case ".flac":
		t = "audio/flac"
	case ".m4a":
		t = "audio/mp4"
	case ".aac":
		t = "audio/aac"
	case ".mid", ".midi":
		t = "audio/midi"
	case ".mp4", ".m4v":
		t = "video/mp4"
	case ".webm":
		t = "video/webm"
	case ".ogv":
		t = "video/ogg"
	case ".mov":
		t = "video/quicktime"
	case ".avi":
		t = "video/x-msvideo"
	case ".mkv":
		t = "video/x-matroska"
	case ".mpeg", ".mpg":
		t = "video/mpeg"
	case ".ts":
		t = "video/mp2t"
	case ".3gp":
		t = "video/3gpp"
	case ".flv":
		t = "video/x-flv"
	case ".wmv":
		t = "video/x-ms-wmv"
	case ".m3u8":
		t = "application/vnd.apple.mpegurl"
	case ".mpd":
		t = "application/dash+xml"
	case ".vtt":
		t = "text/vtt; charset=utf-8"
	case ".srt":
		t = "application/x-subrip"
	// documents
	case ".pdf":
		t = "application/pdf"
	case ".rtf":
		t = "application/rtf"
	case ".doc":
		t = "application/msword"
	case ".docx":
		t = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	case ".xls":
		t = "application/vnd.ms-excel"
	case ".xlsx":
		t = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case ".ppt":
		t = "application/vnd.ms-powerpoint"
	case ".pptx":
		t = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	case ".odt":
		t = "application/vnd.oasis.opendocument.text"
	case ".ods":
		t = "application/vnd.oasis.opendocument.spreadsheet"
	case ".odp":
		t = "application/vnd.oasis.opendocument.presentation"
	case ".epub":
		t = "application/epub+zip"
	case ".ps", ".eps", ".ai":
		t = "application/postscript"
	// archives and binaries
	case ".zip":
		t = "application/zip"
	case ".gz", ".tgz":
		t = "application/gzip"
	case ".bz2":
		t = "application/x-bzip2"
	case ".xz":
		t = "application/x-xz"
	case ".zst":
		t = "application/zstd"
	case ".br":
		t = "application/x-brotli"
	case ".tar":
		t = "application/x-tar"
	case ".7z":
		t = "application/x-7z-compressed"
	case ".rar":
		t = "application/vnd.rar"
	case ".jar", ".war", ".ear":
		t = "application/java-archive"
	case ".apk":
		t = "application/vnd.android.package-archive"
	case ".deb":
		t = "application/vnd.debian.binary-package"
	case ".rpm":
		t = "application/x-rpm"
	case ".bin", ".exe", ".dll", ".iso", ".img", ".dmg", ".msi":
		t = "application/octet-stream"
	// certificates and keys
	case ".crt", ".der", ".cer":
		t = "application/pkix-cert"
	case ".pem":
		t = "application/x-pem-file"
	case ".swf":
		t = "application/x-shockwave-flash"
	default:
		return "", false
	}
	return t, true
}
