<?php
// Installs WordPress and fills it for Heph's tests: more than three pages (of 100) of users
// and of posts, unicode and apostrophes in names and titles, drafts, pending, private and
// scheduled posts, back-dated posts, several authors. Prints the facts the tests need as JSON.
// Run by start.sh from the site directory: php seed.php SITE_DIR
define('WP_INSTALLING', true);
$site = $argv[1];
$_SERVER['HTTP_HOST'] = getenv('HTTP_HOST');
$_SERVER['REQUEST_URI'] = '/';
require_once $site . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/user.php';

mt_srand(42);
$installed = wp_install('Heph Test Site — café ☕', 'admin', 'admin@example.org', true, '', 'admin-Password-1');
$admin_id = $installed['user_id'];
update_option('permalink_structure', '/%postname%/');
update_option('timezone_string', 'UTC');
wp_delete_post(1, true); // "Hello world!"
wp_delete_post(2, true); // "Sample Page"
wp_delete_post(3, true); // privacy policy draft

$first = ['Zoë', 'José', 'Ana-María', 'Łukasz', 'Søren', 'Chloé', '李', 'Ольга', 'Siobhán', "D'Arcy", 'Ægir', 'Nguyễn', 'Fatma', 'محمد', 'Ines'];
$last = ["O'Brien", 'Müller', 'Núñez', 'Dvořák', 'Ørsted', 'Šimić', '王', 'Иванова', "D'Angelo", 'Ångström', 'Trần', 'Yılmaz', 'Öztürk', 'Kowalska', 'Smith'];
$roles = ['subscriber', 'subscriber', 'subscriber', 'subscriber', 'author', 'contributor', 'editor'];
$authors = [$admin_id];
for ($i = 1; $i <= 330; $i++) {
    $fn = $first[$i % count($first)];
    $ln = $last[($i * 7) % count($last)];
    $role = $roles[$i % count($roles)];
    $id = wp_insert_user(wp_slash([
        'user_login' => sprintf('learner%03d', $i),
        'user_pass' => wp_generate_password(16),
        'user_email' => sprintf('learner%03d@example.org', $i),
        'first_name' => $fn,
        'last_name' => $ln,
        'display_name' => "$fn $ln",
        'nickname' => "$fn $i",
        'role' => $role,
        'description' => "Learner $i — likes “quotes” & <b>bold</b>",
    ]));
    if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message() . "\n"); exit(1); }
    if ($role === 'author' || $role === 'editor') { $authors[] = $id; }
}

$words = ['Café', 'naïve', "l'été", 'Straße', '東京', 'Αθήνα', 'emoji 🎓', "O'Reilly's", 'Ünïcödé', 'smörgåsbord', '“quoted”', 'a & b', '<i>html</i>'];
$statuses = ['publish', 'publish', 'publish', 'publish', 'draft', 'pending', 'private'];
$now = time();
$count = 0;
for ($i = 1; $i <= 345; $i++) {
    $status = $statuses[$i % count($statuses)];
    $post = [
        'post_title' => sprintf('Post %03d: %s %s', $i, $words[$i % count($words)], $words[($i * 5) % count($words)]),
        'post_content' => sprintf("<p>Body of post %d — %s.</p>\n<p>It's got apostrophes &amp; “curly quotes”.</p>", $i, $words[($i * 3) % count($words)]),
        'post_excerpt' => $i % 4 === 0 ? "Excerpt $i: l'été" : '',
        'post_status' => $status,
        'post_author' => $authors[$i % count($authors)],
    ];
    if ($i % 23 === 0) { // scheduled: date (and so modified) in the future
        $post['post_status'] = 'future';
        $post['post_date_gmt'] = gmdate('Y-m-d H:i:s', $now + 86400 * (1 + $i % 5));
        $post['post_date'] = $post['post_date_gmt'];
    } elseif ($i % 17 === 0) { // back-dated: inserted with an explicit past date
        $post['post_date_gmt'] = gmdate('Y-m-d H:i:s', $now - 86400 * (30 + $i));
        $post['post_date'] = $post['post_date_gmt'];
    }
    $id = wp_insert_post(wp_slash($post), true);
    if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message() . "\n"); exit(1); }
    $count++;
}

$created = WP_Application_Passwords::create_new_application_password($admin_id, ['name' => 'heph-tests']);
if (is_wp_error($created)) { fwrite(STDERR, $created->get_error_message() . "\n"); exit(1); }
echo json_encode([
    'username' => 'admin',
    'application_password' => $created[0],
    'users' => count(get_users(['fields' => 'ID'])),
    'posts' => $count,
], JSON_UNESCAPED_UNICODE), "\n";
