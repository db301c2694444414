<?php
// A POSTed form: echo the fields back.
header('Content-Type: text/plain');
if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    http_response_code(405);
    echo "POST only\n";
    exit;
}
echo "name=", $_POST['name'] ?? '', " colors=", implode(',', $_POST['colors'] ?? []), "\n";
