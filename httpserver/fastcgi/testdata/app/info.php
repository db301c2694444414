<?php
// The CGI variables an application relies on, as JSON.
header('Content-Type: application/json');
$keys = ['SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'DOCUMENT_ROOT', 'REQUEST_URI', 'QUERY_STRING',
    'REQUEST_METHOD', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'REMOTE_ADDR', 'HTTPS', 'HTTP_X_TEST',
    'HTTP_PROXY', 'APP_ENV', 'PHP_SELF'];
$out = [];
foreach ($keys as $k) {
    $out[$k] = $_SERVER[$k] ?? null;
}
$out['proxy_env'] = getenv('HTTP_PROXY');
echo json_encode($out);
