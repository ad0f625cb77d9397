#!/usr/bin/env bash
# Create Gatepost's PostgreSQL role and database, then print the line for
# /etc/gatepost/central.env. Run on the database server as root (uses the
# postgres superuser through sudo) or as postgres itself.
#   usage: deploy/postgresql/setup.sh [ROLE] [DB] [HOST]
set -euo pipefail
role=${1:-gatepost}
db=${2:-gatepost}
host=${3:-127.0.0.1}
here=$(cd "$(dirname "$0")" && pwd)
password=$(openssl rand -base64 24 | tr -d '/+=' | cut -c1-32)
if [ "$(id -un)" = postgres ]; then psql=(psql); else psql=(sudo -u postgres psql); fi
"${psql[@]}" -q -v role="$role" -v db="$db" -v password="$password" -f "$here/setup.sql"
umask 077
echo "# for /etc/gatepost/central.env (mode 0600):"
echo "GATEPOST_DB_URL=postgresql+psycopg://$role:$password@$host:5432/$db"
