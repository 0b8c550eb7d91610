#!/usr/bin/env bash
# Starts a real WordPress for the tests and prints its connection facts as JSON.
#
# Debian's `wordpress` package, copied into the state directory with its own wp-config.php
# (nothing is written to /etc), MariaDB on a private socket, and PHP's built-in server with
# several workers on 127.0.0.1: one port with pretty permalinks (/wp-json/), one that answers
# /wp-json/ with an HTML 404 as a server without rewrites does (clients must use ?rest_route=).
# Seeded once (seed.php); later calls reuse the running servers. Safe to call concurrently
# (the servers must not inherit the lock: they are started with fd 9 closed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${HEPH_WP_DIR:-$here/../../target/wordpress}
port=${HEPH_WP_PORT:-8181}
plain_port=$((port + 1))
mkdir -p "$state"
state=$(cd "$state" && pwd)
exec 9>"$state/lock"
flock 9

site="$state/site"
ours() { [ "$(curl -fsS --max-time 5 "http://127.0.0.1:$1/__heph_site" 2>/dev/null)" = "$site" ]; }
alive() { ours "$port" && ours "$plain_port" && curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$port/wp-json/" 2>/dev/null; }
if [ -f "$state/env.json" ] && alive; then
  cat "$state/env.json"
  exit 0
fi

for cmd in php mariadbd mariadb-install-db mariadb-admin mariadb curl; do
  command -v "$cmd" >/dev/null || { echo "start.sh: \`$cmd\` is missing; run scripts/install-test-deps (as root)" >&2; exit 3; }
done
[ -f /usr/share/wordpress/wp-settings.php ] || { echo "start.sh: Debian's wordpress package is missing; run scripts/install-test-deps" >&2; exit 3; }

sock="$state/db.sock"
if ! mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1; then
  if [ ! -d "$state/db/mysql" ]; then
    mariadb-install-db --datadir="$state/db" --auth-root-authentication-method=normal --skip-test-db --user="$(id -un)" >"$state/db-install.log" 2>&1
  fi
  setsid nohup mariadbd --datadir="$state/db" --socket="$sock" --skip-networking --user="$(id -un)" \
    --pid-file="$state/db.pid" --log-error="$state/db.log" >/dev/null 2>&1 < /dev/null 9>&- &
  for _ in $(seq 1 100); do mariadb-admin --socket="$sock" -uroot ping >/dev/null 2>&1 && break; sleep 0.2; done
  mariadb-admin --socket="$sock" -uroot ping >/dev/null || { echo "start.sh: MariaDB did not start; see $state/db.log" >&2; exit 4; }
fi

if [ ! -f "$site/wp-settings.php" ]; then
  rm -rf "$site"
  cp -rL /usr/share/wordpress "$site"
  rm -f "$site/.htaccess"
fi
salt() { head -c 48 /dev/urandom | base64 | tr -d '\n/+='; }
cat > "$site/wp-config.php" <<PHP
<?php
// Written by tests/wordpress/start.sh for Heph's tests.
define('DB_NAME', 'heph_wp');
define('DB_USER', 'heph');
define('DB_PASSWORD', 'heph-test-db');
define('DB_HOST', 'localhost:$sock');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('AUTH_KEY', '$(salt)'); define('SECURE_AUTH_KEY', '$(salt)'); define('LOGGED_IN_KEY', '$(salt)');
define('NONCE_KEY', '$(salt)'); define('AUTH_SALT', '$(salt)'); define('SECURE_AUTH_SALT', '$(salt)');
define('LOGGED_IN_SALT', '$(salt)'); define('NONCE_SALT', '$(salt)');
\$table_prefix = 'wp_';
// Application Passwords over plain HTTP need a local environment.
define('WP_ENVIRONMENT_TYPE', 'local');
define('WP_HOME', 'http://127.0.0.1:$port');
define('WP_SITEURL', 'http://127.0.0.1:$port');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_DEBUG', false);
define('WP_CONTENT_DIR', __DIR__ . '/wp-content');
if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');
require_once ABSPATH . 'wp-settings.php';
PHP
cp "$here/router.php" "$site/router.php"

if [ ! -f "$state/seeded.json" ]; then
  mariadb --socket="$sock" -uroot <<SQL
DROP DATABASE IF EXISTS heph_wp;
CREATE DATABASE heph_wp CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'heph'@'localhost' IDENTIFIED BY 'heph-test-db';
GRANT ALL ON heph_wp.* TO 'heph'@'localhost';
SQL
  (cd "$site" && HTTP_HOST="127.0.0.1:$port" php -d sendmail_path=/bin/true "$here/seed.php" "$site") > "$state/seeded.json.tmp"
  mv "$state/seeded.json.tmp" "$state/seeded.json"
fi

start_php() { # port, plain(0|1)
  if ! ours "$1"; then
    if curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$1/" 2>/dev/null; then
      echo "start.sh: port $1 is taken by another server; choose other ports with HEPH_WP_PORT" >&2
      exit 6
    fi
    HEPH_WP_PLAIN=$2 PHP_CLI_SERVER_WORKERS=4 setsid nohup php -d variables_order=EGPCS -d memory_limit=256M \
      -S "127.0.0.1:$1" -t "$site" "$site/router.php" >"$state/php-$1.log" 2>&1 < /dev/null 9>&- &
    for _ in $(seq 1 100); do ours "$1" && break; sleep 0.1; done
  fi
}
start_php "$port" 0
start_php "$plain_port" 1
alive || { echo "start.sh: WordPress does not answer on port $port; see $state/php-$port.log" >&2; exit 5; }

python3 - "$state/seeded.json" "$port" "$plain_port" > "$state/env.json" <<'PY'
import json, sys
seed = json.load(open(sys.argv[1]))
seed["site_url"] = f"http://127.0.0.1:{sys.argv[2]}"
seed["plain_site_url"] = f"http://127.0.0.1:{sys.argv[3]}"
print(json.dumps(seed))
PY
cat "$state/env.json"
