<?php
// Router for PHP's built-in server: files are served as they are, everything else goes to
// WordPress's index.php, as Apache's rewrite rules would. With HEPH_WP_PLAIN=1 the server
// behaves like one without rewrites: /wp-json/ answers an HTML 404.
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?: '/';
if ($path === '/__heph_site') { // lets start.sh tell its own servers from another one on the port
    header('Content-Type: text/plain');
    echo __DIR__;
    return true;
}
if (getenv('HEPH_WP_PLAIN') === '1' && strncmp($path, '/wp-json', 8) === 0) {
    http_response_code(404);
    header('Content-Type: text/html; charset=UTF-8');
    echo "<!doctype html><title>Not Found</title><h1>Not Found</h1>";
    return true;
}
if ($path !== '/' && is_file(__DIR__ . $path)) {
    return false;
}
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = __DIR__ . '/index.php';
require __DIR__ . '/index.php';
