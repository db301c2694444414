<?php
// A non-200 status, custom headers, two cookies and a redirect.
if (isset($_GET['go'])) {
    header('Location: /index.php?q=redirected');
    exit;
}
http_response_code(201);
header('X-App: casket-test');
setcookie('a', '1');
setcookie('b', '2');
echo "created\n";
