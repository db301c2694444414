<?php
// A multipart file upload: report what PHP received.
header('Content-Type: text/plain');
$f = $_FILES['file'] ?? null;
if ($f === null || $f['error'] !== UPLOAD_ERR_OK) {
    http_response_code(400);
    echo "no file (error ", $f['error'] ?? 'none', ")\n";
    exit;
}
echo "name=", $f['name'], " size=", $f['size'], " md5=", md5_file($f['tmp_name']), " note=", $_POST['note'] ?? '', "\n";
