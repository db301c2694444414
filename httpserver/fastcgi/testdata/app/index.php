<?php
// Front page: method and a query parameter.
header('Content-Type: text/plain');
echo "index ", $_SERVER['REQUEST_METHOD'], " q=", $_GET['q'] ?? '', "\n";
