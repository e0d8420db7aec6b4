#!/usr/bin/env bash
# Start a throw-away WordPress (Debian's package) on 127.0.0.1 with its own MariaDB on a unix
# socket, a fresh admin user and an Application Password, for tests/integration/test_wordpress_live.py.
#
#   WP_STATE=/tmp/syndicator-wp  WP_PORT=8081  WP_SKIP_APT=1   (defaults; RUNNER_TEMP moves WP_STATE)
#   bash .ci/services/wordpress-up.sh    -> writes $WP_STATE/env: SYNDICATOR_WP_URL,
#        SYNDICATOR_WP_USER + SYNDICATOR_WP_APP_PASSWORD (an administrator), and
#        SYNDICATOR_WP_AUTHOR_USER + SYNDICATOR_WP_AUTHOR_APP_PASSWORD (an author)
#   bash .ci/services/wordpress-down.sh  -> stops what this started, by PID
#
# Everything lives under $WP_STATE, wiped on each start. Needs root (apt-get; mariadbd runs as
# mysql). The image's policy-rc.d keeps apt from starting Debian's own services, and ours use
# their own port and socket, so nothing clashes with a system MariaDB or Apache.
set -euo pipefail

WP_STATE=${WP_STATE:-${RUNNER_TEMP:-/tmp}/syndicator-wp}
WP_PORT=${WP_PORT:-8081}
WP_USER=${WP_USER:-syndicator}
WP_PASS=${WP_PASS:-login-$RANDOM$RANDOM$RANDOM}
WP_URL="http://127.0.0.1:${WP_PORT}"
HERE=$(cd "$(dirname "$0")" && pwd)
START=$(date +%s%N)
lap() { printf '[wordpress-up] %-24s %6.1fs\n' "$1" "$(( ($(date +%s%N) - START) / 1000000 ))e-3"; }

# -- 1. packages (skipped when present: a warm machine starts in seconds)
PACKAGES=(wordpress wordpress-theme-twentytwentythree mariadb-server php-cli php-mysql php-gd php-curl php-xml php-mbstring php-zip curl)
if [ "${WP_SKIP_APT:-0}" != 1 ]; then
  need=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log=${WP_STATE%/*}/syndicator-wp-apt.log
    apt-get update -q >"$log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >>"$log" 2>&1 \
      || { tail -20 "$log"; exit 1; }
  fi
  lap "apt packages"
fi

# -- 2. fresh state
bash "$HERE/wordpress-down.sh" >/dev/null 2>&1 || true
rm -rf "$WP_STATE"
mkdir -p "$WP_STATE/run"
chown mysql:mysql "$WP_STATE/run"   # mariadbd (user mysql) writes its socket, pid and log here
chmod 755 "$WP_STATE/run"

# -- 3. MariaDB on a unix socket only
SOCK=$WP_STATE/run/mysql.sock
mariadb-install-db --no-defaults --datadir="$WP_STATE/mysql" --user=mysql \
  --auth-root-authentication-method=socket --skip-test-db >"$WP_STATE/mysql-install.log" 2>&1
setsid /usr/sbin/mariadbd --no-defaults --datadir="$WP_STATE/mysql" --socket="$SOCK" \
  --pid-file="$WP_STATE/run/mariadbd.pid" --skip-networking --user=mysql \
  --log-error="$WP_STATE/run/mariadbd.err" --innodb-buffer-pool-size=64M \
  --innodb-log-file-size=16M --performance-schema=OFF </dev/null >/dev/null 2>&1 &
for _ in $(seq 1 150); do mariadb-admin --socket="$SOCK" -uroot ping >/dev/null 2>&1 && break; sleep 0.1; done
mariadb --socket="$SOCK" -uroot -e "CREATE DATABASE wordpress CHARACTER SET utf8mb4;
  CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp'; GRANT ALL ON wordpress.* TO 'wp'@'localhost';"
lap "mariadb ready"

# -- 4. a private copy of WordPress with its own wp-config.php
# Debian's wp-config.php reads /etc/wordpress/config-<host>.php; a copy (-L: the package has
# symlinks into /usr/share) keeps everything under $WP_STATE and /etc untouched.
cp -rL /usr/share/wordpress "$WP_STATE/wordpress"
rm -f "$WP_STATE/wordpress/.htaccess"
SALTS=$(php -r 'foreach(["AUTH_KEY","SECURE_AUTH_KEY","LOGGED_IN_KEY","NONCE_KEY","AUTH_SALT","SECURE_AUTH_SALT","LOGGED_IN_SALT","NONCE_SALT"] as $k) printf("define(%s, %s);\n", var_export($k, true), var_export(bin2hex(random_bytes(32)), true));')
cat >"$WP_STATE/wordpress/wp-config.php" <<PHP
<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'wp');
define('DB_PASSWORD', 'wp');
define('DB_HOST', 'localhost:$SOCK');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
$SALTS
\$table_prefix = 'wp_';
define('WP_HOME', '$WP_URL');
define('WP_SITEURL', '$WP_URL');
// Application Passwords work over plain http only on a 'local' site.
define('WP_ENVIRONMENT_TYPE', 'local');
define('DISABLE_WP_CRON', true);            // no loopback cron requests
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);     // no update checks or oEmbed calls to the outside
define('FS_METHOD', 'direct');
define('WP_DEBUG', true);
define('WP_DEBUG_DISPLAY', false);          // a PHP notice printed into REST JSON would corrupt it
define('WP_DEBUG_LOG', '$WP_STATE/run/wp-debug.log');
if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');
require_once ABSPATH . 'wp-settings.php';
PHP
# No wp-cli in Debian: a few lines of PHP install the site and make the Application Password.
cat >"$WP_STATE/install.php" <<'PHP'
<?php
[$_, $url, $user, $pass] = $argv;
$p = parse_url($url);
$_SERVER['HTTP_HOST'] = $p['host'] . (isset($p['port']) ? ':' . $p['port'] : '');
$_SERVER['SERVER_NAME'] = $p['host'];
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
define('WP_INSTALLING', true);
require __DIR__ . '/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
add_filter('pre_wp_mail', '__return_false');   // no mail server: skip the welcome e-mail
$r = wp_install('Syndicator CI', $user, 'ci@example.com', true, '', wp_slash($pass));
if (is_wp_error($r)) { fwrite(STDERR, $r->get_error_message() . "\n"); exit(1); }
global $wp_rewrite;
$wp_rewrite->set_permalink_structure('/%postname%/');
flush_rewrite_rules(false);
$u = get_user_by('login', $user);
$made = WP_Application_Passwords::create_new_application_password($u->ID, ['name' => 'syndicator-ci']);
if (is_wp_error($made)) { fwrite(STDERR, $made->get_error_message() . "\n"); exit(1); }
// An Author as well: it may publish and upload, but not create categories or tags, and its
// HTML goes through kses; the tests check what the channel does with those limits.
$aid = wp_insert_user(['user_login' => 'penulis', 'user_pass' => wp_generate_password(24),
                       'user_email' => 'penulis@example.com', 'role' => 'author']);
if (is_wp_error($aid)) { fwrite(STDERR, $aid->get_error_message() . "\n"); exit(1); }
$author = WP_Application_Passwords::create_new_application_password($aid, ['name' => 'syndicator-ci']);
if (is_wp_error($author)) { fwrite(STDERR, $author->get_error_message() . "\n"); exit(1); }
echo $author[0], " ", $made[0], "\n";
PHP
read -r AUTHOR_PASSWORD APP_PASSWORD < <(cd "$WP_STATE" && php install.php "$WP_URL" "$WP_USER" "$WP_PASS" 2>>"$WP_STATE/run/install.err" | tail -1) || true
[ "${#APP_PASSWORD}" -eq 24 ] && [ "${#AUTHOR_PASSWORD}" -eq 24 ] \
  || { echo "[wordpress-up] install failed"; cat "$WP_STATE/run/install.err"; exit 1; }
lap "wordpress installed"

# -- 5. PHP's built-in server: unknown paths fall through to index.php, so /wp-json/ works as is
PHP_CLI_SERVER_WORKERS=${WP_PHP_WORKERS:-4} setsid php -S "127.0.0.1:$WP_PORT" -t "$WP_STATE/wordpress" \
  </dev/null >"$WP_STATE/run/php-server.log" 2>&1 &
echo $! >"$WP_STATE/run/php-server.pid"
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$WP_URL/wp-json/" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$WP_URL/wp-json/" || { echo "[wordpress-up] web server did not come up"; exit 1; }
lap "web server ready"

umask 077
cat >"$WP_STATE/env" <<ENV
SYNDICATOR_WP_URL=$WP_URL
SYNDICATOR_WP_USER=$WP_USER
SYNDICATOR_WP_APP_PASSWORD=$APP_PASSWORD
SYNDICATOR_WP_AUTHOR_USER=penulis
SYNDICATOR_WP_AUTHOR_APP_PASSWORD=$AUTHOR_PASSWORD
ENV
echo "[wordpress-up] $WP_URL user $WP_USER; env in $WP_STATE/env"
